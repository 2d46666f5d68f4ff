"""The OpenAPI document names the contest area's response models, the errors its routes answer,
and the query parameters the service requires."""

import pytest
from jsonschema import Draft202012Validator

import app  # noqa: F401 - registers every route
from chalicelib.contests import responses

SETTLE = "/v1/contests/{contest_id}/rounds/{n}/settle"
ROUTES = [  # method, path, success status, response model, error statuses beyond the inferred ones
    ("post", "/v1/contests", "201", responses.Contest, {409}),
    ("get", "/v1/contests", "200", responses.ContestList, set()),
    ("get", "/v1/contests/{contest_id}", "200", responses.Contest, {404}),
    ("get", "/v1/contests/{contest_id}/leaderboard", "200", responses.Leaderboard, {404, 422}),
    ("post", SETTLE, "200", responses.SettledRound, {404, 409, 422}),
    ("get", "/v1/partners/{partner_id}/standing", "200", responses.Standing, {404, 422}),
]





def test_parts_of_a_contest_do_not_take_the_names_of_the_request_bodys_parts(doc: dict) -> None:
    schemas = doc["components"]["schemas"]
    assert "merchants_onboarded" in schemas["ScoreWeights"]["required"]
    assert "ContestRules" in schemas and "CountingRules" in schemas
    assert schemas["ContestRules"].get("required") is None  # the request's rules have defaults


@pytest.mark.parametrize("path", ["/v1/contests/{contest_id}/leaderboard", "/v1/partners/{partner_id}/standing"])
def test_round_is_required_and_bounded(doc: dict, path: str) -> None:
    (round_param,) = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "round"]
    assert round_param["required"] is True
    assert round_param["schema"] == {"type": "integer", "minimum": 1, "maximum": 52}


def _valid(doc: dict, model: type, body: dict) -> bool:
    root = {"$ref": f"#/components/schemas/{model.__name__}", "components": doc["components"]}
    return Draft202012Validator(root).is_valid(body)


def test_a_board_has_settled_at_and_winners_exactly_when_final(doc: dict) -> None:
    board = {"contest_id": "cst_1", "round": 1, "as_of": None, "final": False, "entries": []}
    assert _valid(doc, responses.Leaderboard, board)
    assert not _valid(doc, responses.Leaderboard, {**board, "final": True})
    settled = {**board, "final": True, "settled_at": "2026-01-08T00:00:00+08:00", "winners": []}
    assert _valid(doc, responses.Leaderboard, settled)
    assert not _valid(doc, responses.Leaderboard, {**settled, "final": False})
