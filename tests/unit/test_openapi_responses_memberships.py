"""The OpenAPI document names the memberships area's response models and the errors its routes answer."""

import pytest

import app  # noqa: F401 - registers every route
from chalicelib.memberships import responses

MEMBERSHIP = "/v1/memberships/{membership_id}"
ROUTES = [  # method, path, success status, response model, error statuses beyond the inferred ones
    ("post", "/v1/merchants/{merchant_id}/plans", "201", responses.Plan, {409}),
    ("get", "/v1/merchants/{merchant_id}/plans", "200", responses.PlanList, set()),
    ("get", "/v1/merchants/{merchant_id}/memberships", "200", responses.MembershipPage, set()),
    ("post", "/v1/memberships", "201", responses.Membership, {404, 409, 502}),
    ("get", MEMBERSHIP, "200", responses.Membership, set()),
    ("get", "/v1/me/memberships", "200", responses.MyMemberships, set()),
    ("post", MEMBERSHIP + "/refund", "200", responses.MembershipRefund, {409}),
    ("post", "/v1/terminal/offers", "200", responses.Offer, set()),
    ("get", MEMBERSHIP + "/savings", "200", responses.SavingsStatement, set()),
]





@pytest.mark.parametrize("path", ["/v1/memberships", MEMBERSHIP + "/refund"])
def test_idempotent_routes_declare_the_key_and_its_refusals(doc: dict, path: str) -> None:
    op = doc["paths"][path]["post"]
    assert [p["name"] for p in op["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    # 400 a malformed key, 409 the same key still in progress, 422 the key reused with another request
    assert {"400", "409", "422"} <= set(op["responses"])


def test_an_offer_is_a_members_price_or_a_non_members(doc: dict) -> None:
    branches = doc["components"]["schemas"]["Offer"]["anyOf"]
    assert {b["$ref"].rsplit("/", 1)[1] for b in branches} == {"MemberPrice", "NonMemberPrice"}
    assert doc["components"]["schemas"]["MemberPrice"]["properties"]["member"]["const"] is True
    assert doc["components"]["schemas"]["NonMemberPrice"]["properties"]["member"]["const"] is False
