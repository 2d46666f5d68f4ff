"""The OpenAPI document names the onboarding area's response models and the errors its routes answer."""

import re
from typing import get_args

import app  # noqa: F401 - registers every route
from chalicelib.onboarding import platforms, responses

BINDING = "/v1/admin/merchants/{merchant_id}/bindings/{platform}"
ROUTES = [  # method, path, success status, response model (None: no body), error statuses beyond the inferred ones
    ("post", "/v1/partners", "201", responses.Partner, {409}),
    ("get", "/v1/partners", "200", responses.PartnerPage, set()),
    ("get", "/v1/partners/{partner_id}", "200", responses.Partner, set()),
    ("get", "/v1/partners/{partner_id}/merchants", "200", responses.MerchantPage, set()),
    ("post", "/v1/partners/{partner_id}/merchants", "201", responses.MerchantCreated, {409}),
    ("get", "/v1/merchants/{merchant_id}", "200", responses.Merchant, set()),
    ("get", "/v1/merchants/{merchant_id}/terminals", "200", responses.TerminalList, set()),
    ("post", "/v1/merchants/{merchant_id}/terminals", "201", responses.TerminalRegistered, {409}),
    ("delete", "/v1/terminals/{terminal_id}", "204", None, set()),
    ("get", "/v1/stores/{store_id}", "200", responses.StorePage, {503}),
    ("post", "/v1/terminal/ping", "200", responses.TerminalIdentity, {413}),
    ("put", BINDING, "200", responses.Binding, {409}),
    ("delete", BINDING, "204", None, set()),
]





def test_a_binding_id_admits_each_platforms_format_and_no_other(doc: dict) -> None:
    body = doc["components"]["schemas"]["PutBinding"]["properties"]["id"]
    assert all(name in body["description"] for name in platforms.PLATFORMS)
    either = re.compile(body["pattern"])
    for ok in ("2088102116773037", "abcXYZ09", "12345678", "1" * 32):
        assert either.search(ok)
    for bad in ("", "1" * 33, "2088-1", "商户"):
        assert not either.search(bad)


def test_the_documented_platforms_are_the_domains() -> None:
    assert get_args(responses.Platform) == platforms.PLATFORMS
