"""Membership rules: plain arithmetic in integer fen, no AWS."""

from __future__ import annotations

ACTIVE, EXPIRED, REFUNDED, SETTLED = "active", "expired", "refunded", "settled"
# Savings still move while the membership is active or expired-but-unsettled; frozen after.
SAVINGS_OPEN_STATUSES = (ACTIVE, EXPIRED)


def allowed_discount(list_price_fen: int, discount_percent: int, max_per_order_fen: int | None) -> int:
    """floor(list × percent / 100), capped by the plan's per-order maximum."""
    allowed = (list_price_fen * discount_percent) // 100
    if max_per_order_fen is not None:
        allowed = min(allowed, max_per_order_fen)
    return max(allowed, 0)


def shortfall(fee_fen: int, savings_fen: int) -> int:
    """What the customer may ask back after the period: fee − savings when positive."""
    return max(fee_fen - savings_fen, 0)
