"""Each route's success answer names its response model, and the error statuses its area's table
lists (beyond those the document infers) are declared; never a 500. The tables are the areas'
(`ROUTES` in tests/unit/test_openapi_responses_<area>.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit import (
    test_openapi_responses_contests,
    test_openapi_responses_identity,
    test_openapi_responses_memberships,
    test_openapi_responses_onboarding,
    test_openapi_responses_operations,
    test_openapi_responses_payments,
)

ROUTES = [route for area in (test_openapi_responses_contests, test_openapi_responses_identity,
                             test_openapi_responses_memberships, test_openapi_responses_onboarding,
                             test_openapi_responses_operations, test_openapi_responses_payments)
          for route in area.ROUTES]


@pytest.mark.parametrize(("method", "path", "status", "model", "errors"), ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_success_names_its_model_and_the_errors_are_declared(doc: dict[str, Any], method: str, path: str,
                                                             status: str, model: type | None,
                                                             errors: set[int]) -> None:
    answers = doc["paths"][path][method]["responses"]
    if model is None:  # no body (204), or not JSON (the console's pages)
        assert "application/json" not in answers[status].get("content", {})
    else:
        schema = next(iter(answers[status]["content"].values()))["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model.__name__}"}
        assert doc["components"]["schemas"][model.__name__]["title"] == model.__name__
    assert {str(s) for s in errors} <= set(answers)
    assert "500" not in answers


def test_every_operation_is_in_a_table(doc: dict[str, Any]) -> None:
    listed = {(m, p) for m, p, *_ in ROUTES}
    own_tests = {("get", "/console"), ("get", "/console/{asset}"), ("get", "/v1/auth/alipay/app-authorized"),
               ("post", "/v1/notify/alipay"), ("post", "/v1/notify/wechatpay")}  # their own tests
    missing = {(m, p) for p, item in doc["paths"].items() for m in item} - listed - own_tests
    assert not missing, sorted(missing)
