"""The payment-provider port for membership fees: freeze at lock-in, capture at settlement,
unfreeze (return the shortfall, capture the rest) on a refund.

Every call is keyed by the membership id, so repeating a call after a crash or a retry is
harmless: a real provider maps it to its own request number (e.g. Alipay's fund authorisation:
`alipay.fund.auth.order.app.freeze` with out_order_no = membership id, capture with
`alipay.trade.pay` on the auth_no, `alipay.fund.auth.order.unfreeze` for the remainder).
A real adapter goes in `build_fee_provider`; the service only sees `FeeProvider`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.errors import AppError


class FeeProviderError(AppError):
    """The provider refused or failed; nothing was decided on our side (5xx, retry later)."""

    status = 502
    code = "fee_provider_unavailable"


class FeeProvider(Protocol):
    name: str

    def freeze(self, membership_id: str, customer_id: str, merchant_id: str, fee_fen: int) -> str:
        """Freeze the fee on the customer's funds; returns the provider's reference.
        Confirmed when it returns; raises `FeeProviderError` otherwise."""
        ...

    def capture(self, membership_id: str, amount_fen: int) -> None:
        """Capture the frozen fee for the merchant (settlement)."""
        ...

    def unfreeze(self, membership_id: str, refund_fen: int, capture_fen: int) -> None:
        """Return `refund_fen` to the customer and capture `capture_fen` (a refund)."""
        ...

    def release(self, membership_id: str) -> None:
        """Undo a freeze whose lock-in did not happen (compensation)."""
        ...


@dataclass
class SandboxFeeProvider:
    """Confirms every call at once and remembers what it was asked (local stage and tests).
    Calls are idempotent by membership id, as a real provider's are by request number."""

    name: str = "sandbox"
    frozen: dict[str, int] = field(default_factory=dict)
    captured: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    fail_next: list[str] = field(default_factory=list)  # tests: names of calls to fail once
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _maybe_fail(self, call: str) -> None:
        with self._lock:
            if call in self.fail_next:
                self.fail_next.remove(call)
                raise FeeProviderError(f"sandbox provider: {call} failed (injected)")

    def freeze(self, membership_id: str, customer_id: str, merchant_id: str, fee_fen: int) -> str:
        self._maybe_fail("freeze")
        with self._lock:
            self.frozen.setdefault(membership_id, fee_fen)
        return f"sandbox-{membership_id}"

    def capture(self, membership_id: str, amount_fen: int) -> None:
        self._maybe_fail("capture")
        with self._lock:
            self.captured.setdefault(membership_id, amount_fen)

    def unfreeze(self, membership_id: str, refund_fen: int, capture_fen: int) -> None:
        self._maybe_fail("unfreeze")
        with self._lock:
            self.refunded.setdefault(membership_id, refund_fen)
            if capture_fen:
                self.captured.setdefault(membership_id, capture_fen)

    def release(self, membership_id: str) -> None:
        with self._lock:
            self.released.add(membership_id)


def build_fee_provider(name: str) -> FeeProvider:
    """The provider `Config.fee_provider` names (`YUNDIAN_FEE_PROVIDER`, default `sandbox`). A real
    provider's adapter (Alipay fund authorisation) is added here."""
    if name == "sandbox":
        return SandboxFeeProvider()
    raise RuntimeError(f"unknown fee provider {name!r}")
