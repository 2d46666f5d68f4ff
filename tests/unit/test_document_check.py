"""tests/document_check.py, which every functional and black-box reply goes through, can fail."""

from __future__ import annotations

import json

import pytest

from tests.document_check import DocumentMismatch, check, operation_for

JSON = {"Content-Type": "application/json"}
META = json.dumps({"time_zone": "Asia/Shanghai", "stage": "local"}).encode()


def test_a_reply_the_document_describes_passes() -> None:
    check("GET", "/v1/meta", 200, JSON, META)
    check("GET", "/v1/merchants/mch_1/dashboard?date=2026-12-01", 404, JSON,
          b'{"code":"merchant_not_found","message":"no merchant mch_1"}')


def test_a_literal_path_wins_over_a_template() -> None:
    template, _ = operation_for("GET", "/v1/admin/clock") or ("", {})
    assert template == "/v1/admin/clock"


@pytest.mark.parametrize(("status", "headers", "raw", "says"), [
    (418, JSON, META, "does not declare"),
    (200, {"Content-Type": "text/html"}, META, "as 'text/html'"),
    (200, JSON, b'{"time_zone": 8}', "breaks the declared schema"),
    (200, JSON, b"not json", "not JSON"),
    (404, JSON, b'{"message": "no code"}', "breaks the declared schema"),
])
def test_a_reply_the_document_does_not_describe_fails(status: int, headers: dict[str, str], raw: bytes,
                                                      says: str) -> None:
    with pytest.raises(DocumentMismatch, match=says):
        check("GET", "/v1/meta" if status != 404 else "/v1/merchants/mch_1", status, headers, raw)


def test_a_body_where_none_is_declared_fails() -> None:
    with pytest.raises(DocumentMismatch, match="body the document does not declare"):
        check("DELETE", "/v1/terminals/tml_1", 204, {}, b"{}")


def test_an_undeclared_route_or_method_is_left_to_the_edge_tests() -> None:
    check("GET", "/v1/nothing", 404, JSON, b'{"code":"not_found","message":"no such route"}')
    check("PATCH", "/v1/meta", 405, JSON, b'{"code":"method_not_allowed","message":"x"}')
