"""The OpenAPI document names the identity area's response models and the errors its routes answer,
and says each API key role's tenant rule as the service checks it."""

import pytest
from jsonschema import Draft202012Validator

import app  # noqa: F401 - registers every route
from chalicelib.identity import responses
from chalicelib.onboarding.responses import Binding

APP_AUTHORIZED = "/v1/auth/alipay/app-authorized"
ROUTES = [  # method, path, success status, response model (None: no body), error statuses beyond the inferred ones
    ("post", "/v1/api-keys", "201", responses.ApiKeyCreated, {404, 409}),
    ("get", "/v1/api-keys", "200", responses.ApiKeyPage, set()),
    ("delete", "/v1/api-keys/{key_id}", "204", None, set()),
    ("post", "/v1/auth/token", "200", responses.Token, set()),
    ("post", "/v1/auth/refresh", "200", responses.Token, set()),
    ("post", "/v1/auth/alipay", "200", responses.CustomerToken, {401, 503}),
    ("post", "/v1/auth/wechat", "200", responses.CustomerToken, {401, 503}),
    ("get", "/v1/merchants/{merchant_id}/bindings/alipay/authorize-url", "200", responses.AuthorizeUrl, set()),
    ("post", "/v1/merchants/{merchant_id}/bindings/alipay/authorize", "200", Binding, {401, 409}),
]





def test_the_app_authorized_page_is_html_and_its_errors_json(doc: dict) -> None:
    answers = doc["paths"][APP_AUTHORIZED]["get"]["responses"]
    assert set(answers["200"]["content"]) == {"text/html"}
    for status in ("400", "401", "404", "409", "422", "429", "503"):
        assert set(answers[status]["content"]) == {"application/json"}


@pytest.mark.parametrize(("body", "valid"), [
    ({"name": "k", "role": "admin"}, True),
    ({"name": "k", "role": "admin", "partner_id": None, "merchant_id": None}, True),
    ({"name": "k", "role": "admin", "partner_id": "ptn_1"}, False),
    ({"name": "k", "role": "admin", "merchant_id": "mch_1"}, False),
    ({"name": "k", "role": "partner", "partner_id": "ptn_1"}, True),
    ({"name": "k", "role": "partner"}, False),
    ({"name": "k", "role": "partner", "partner_id": None}, False),
    ({"name": "k", "role": "partner", "partner_id": "ptn_1", "merchant_id": "mch_1"}, False),
    ({"name": "k", "role": "merchant", "merchant_id": "mch_1"}, True),
    ({"name": "k", "role": "merchant", "merchant_id": "mch_1", "partner_id": "ptn_1"}, True),
    ({"name": "k", "role": "merchant"}, False),
    ({"name": "k", "role": "merchant", "merchant_id": None}, False),
])
def test_create_api_key_says_each_roles_tenant(doc: dict, body: dict, valid: bool) -> None:
    schema = {**doc["components"]["schemas"]["CreateApiKey"], "components": doc["components"]}
    assert Draft202012Validator(schema).is_valid(body) is valid
