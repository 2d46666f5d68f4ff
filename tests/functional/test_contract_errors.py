"""Errors produced by the framework itself still answer the contract's shape."""

from tests.helpers import Api


def test_unsupported_method_answers_contract_error(api: Api) -> None:
    r = api.call("PUT", "/v1/partners", token=api.admin())
    assert r.status == 405
    assert r.body == {"code": "method_not_allowed", "message": "Unsupported method: PUT"}


def test_any_content_type_reaches_validation(api: Api) -> None:
    r = api.call("POST", "/v1/partners", token=api.admin(), raw=b"name=x",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status, r.code) == (400, "invalid_json")
