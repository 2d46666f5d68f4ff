"""Opaque, sortable-enough identifiers: a short type prefix and 96 random bits."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret() -> str:
    """A secret shown once (terminals, API keys): 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)
