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


def _op(doc: dict, method: str, path: str) -> dict:
    return doc["paths"][path][method]


def _params(doc: dict, method: str, path: str, where: str) -> dict[str, dict]:
    return {p["name"]: p for p in _op(doc, method, path).get("parameters", []) if p["in"] == where}


def test_query_parameters_are_declared_with_their_types_and_bounds() -> None:
    doc = build_document()
    lb = _params(doc, "get", "/v1/contests/{contest_id}/leaderboard", "query")
    assert lb["round"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 52}
    assert lb["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    standing = _params(doc, "get", "/v1/partners/{partner_id}/standing", "query")
    assert standing["contest_id"]["required"] is True and set(standing) == {"contest_id", "round"}
    assert _params(doc, "get", "/v1/merchants/{merchant_id}/dashboard", "query")["date"]["schema"]["format"] == "date"
    series = _params(doc, "get", "/v1/merchants/{merchant_id}/dashboard/series", "query")
    assert series["from"]["required"] and series["to"]["required"]
    for path in ("/v1/partners", "/v1/partners/{partner_id}/merchants", "/v1/api-keys", "/v1/admin/callbacks",
                 "/v1/merchants/{merchant_id}/callbacks", "/v1/merchants/{merchant_id}/payments",
                 "/v1/merchants/{merchant_id}/memberships"):
        q = _params(doc, "get", path, "query")
        assert q["limit"]["schema"]["maximum"] == 200 and q["cursor"]["schema"]["type"] == "string", path
    assert _params(doc, "get", "/v1/merchants/{merchant_id}/memberships", "query")["status"]["schema"]["enum"] == [
        "active", "expired", "refunded", "settled"]


def test_path_parameters_are_typed_and_headers_declared() -> None:
    doc = build_document()
    assert _params(doc, "post", "/v1/contests/{contest_id}/rounds/{n}/settle", "path")["n"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 52}
    assert _params(doc, "put", "/v1/admin/merchants/{merchant_id}/bindings/{platform}", "path")["platform"][
        "schema"]["enum"] == ["alipay", "wechatpay"]
    assert _params(doc, "get", "/v1/merchants/{merchant_id}", "path")["merchant_id"]["schema"]["maxLength"] == 128
    for path in ("/v1/memberships", "/v1/memberships/{membership_id}/refund"):
        assert "Idempotency-Key" in _params(doc, "post", path, "header")


def test_security_schemes_name_every_way_in() -> None:
    doc = build_document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["basic"]["scheme"] == "basic"
    terminal = _op(doc, "post", "/v1/terminal/payments")["security"]
    assert len(terminal) == 1 and {schemes[n]["name"] for n in terminal[0]} == {
        "X-Yundian-Terminal", "X-Yundian-Timestamp", "X-Yundian-Nonce", "X-Yundian-Signature"}
    assert _op(doc, "post", "/v1/auth/token")["security"] == [{"basic": []}]
    for method, path in (("get", "/v1/stores/{store_id}"), ("post", "/v1/notify/alipay"),
                         ("post", "/v1/notify/wechatpay"), ("get", "/console")):
        assert _op(doc, method, path)["security"] == []


def test_the_platform_notifications_and_pages_declare_what_they_take_and_answer() -> None:
    doc = build_document()
    alipay = _op(doc, "post", "/v1/notify/alipay")
    assert "application/x-www-form-urlencoded" in alipay["requestBody"]["content"]
    for answer in alipay["responses"].values():
        assert set(answer["content"]) == {"text/plain"}  # `success` / `fail`, never JSON
    assert "resource" in _op(doc, "post", "/v1/notify/wechatpay")["requestBody"]["content"]["application/json"][
        "schema"]["required"]
    assert set(_op(doc, "get", "/console")["responses"]["200"]["content"]) == {"text/html"}
    assert set(_op(doc, "get", "/console/{asset}")["responses"]["200"]["content"]) == {
        "text/javascript", "text/css", "image/svg+xml"}


def test_the_clock_says_exactly_one_of_its_fields_with_standard_bounds() -> None:
    schema = build_document()["components"]["schemas"]["ClockChange"]
    assert not {"ge", "le"} & set(schema["properties"]["advance_seconds"])
    assert schema["properties"]["advance_seconds"]["minimum"] < 0 < schema["properties"]["advance_seconds"]["maximum"]
    assert len(schema["oneOf"]) == 2
