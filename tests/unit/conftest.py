"""Fixtures of the unit tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    """The OpenAPI document, every route registered."""
    import app  # noqa: F401 - registers every route
    from chalicelib.openapi import build_document

    return build_document()
