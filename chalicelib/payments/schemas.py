"""Request bodies of the terminal payment endpoints (strict: 1.0 or "1" is not an amount)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from chalicelib.payments.limits import MAX_AMOUNT_FEN
from chalicelib.schemas import Body, ExternalNo, Timestamp

AmountFen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]
BuyerId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]
TradeNo = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]


class TerminalPayment(Body):
    out_trade_no: ExternalNo
    trade_no: TradeNo | None = None
    amount_fen: AmountFen
    discount_fen: Annotated[int, Field(ge=0, le=MAX_AMOUNT_FEN)] = 0
    buyer_id: BuyerId
    paid_at: Timestamp


class TerminalRefund(Body):
    out_trade_no: ExternalNo
    out_request_no: ExternalNo
    amount_fen: AmountFen
