"""The OpenAPI document is a valid OpenAPI 3.1 document covering every contract path."""

from openapi_spec_validator import validate

import app  # noqa: F401 - registers every route
from chalicelib.openapi import build_document

CONTRACT_PATHS = {
    ("post", "/v1/partners"), ("post", "/v1/partners/{partner_id}/merchants"),
    ("post", "/v1/merchants/{merchant_id}/terminals"), ("delete", "/v1/terminals/{terminal_id}"),
    ("get", "/v1/merchants/{merchant_id}/dashboard"), ("get", "/v1/stores/{store_id}"),
    ("post", "/v1/terminal/offers"), ("post", "/v1/terminal/payments"), ("post", "/v1/terminal/refunds"),
    ("post", "/v1/notify/alipay"), ("post", "/v1/merchants/{merchant_id}/plans"), ("post", "/v1/memberships"),
    ("get", "/v1/memberships/{membership_id}"), ("get", "/v1/me/memberships"),
    ("post", "/v1/memberships/{membership_id}/refund"), ("post", "/v1/contests"),
    ("get", "/v1/contests/{contest_id}/leaderboard"), ("post", "/v1/contests/{contest_id}/rounds/{n}/settle"),
    ("get", "/v1/openapi.json"), ("post", "/v1/admin/jobs/{name}"), ("get", "/v1/admin/audit"),
    ("post", "/v1/admin/clock"), ("get", "/v1/admin/clock"),
    ("get", "/v1/merchants/{merchant_id}/payments"), ("get", "/v1/merchants/{merchant_id}/payments/{out_trade_no}"),
    ("get", "/v1/memberships/{membership_id}/savings"),
    ("post", "/v1/api-keys"), ("get", "/v1/api-keys"), ("delete", "/v1/api-keys/{key_id}"),
    ("post", "/v1/auth/token"), ("post", "/v1/auth/refresh"),
}


def test_document_is_valid_openapi() -> None:
    validate(build_document())


def test_every_contract_operation_is_documented() -> None:
    doc = build_document()
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented >= CONTRACT_PATHS, CONTRACT_PATHS - documented
