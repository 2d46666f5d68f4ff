"""Bounds of the payments area's figures (plain constants, shared by the domain, the request
bodies and the platform adapters)."""

from __future__ import annotations

MAX_AMOUNT_FEN = 10**9  # ten million yuan: more is a typo or an attack, never a small shop's payment
