"""The OpenAPI document names the operations' response models, the errors their routes (and the
console's) answer, the job names, and the clock body the server accepts."""

from typing import get_args

import pytest
from jsonschema import Draft202012Validator

import app  # noqa: F401 - registers every route
from chalicelib import operations_responses as responses
from chalicelib.bootstrap import JOB_NAMES

ROUTES = [  # method, path, success status, response model (None: not JSON), error statuses beyond the inferred ones
    ("get", "/v1/openapi.json", "200", responses.OpenApiDocument, set()),
    ("get", "/v1/meta", "200", responses.Meta, set()),
    ("post", "/v1/admin/jobs/{name}", "200", responses.JobRun, {404}),
    ("get", "/v1/admin/audit", "200", responses.Audit, set()),
    ("get", "/v1/admin/clock", "200", responses.ClockReading, {404}),
    ("post", "/v1/admin/clock", "200", responses.ClockReading, {404, 422}),
    ("get", "/console", "200", None, {503}),
    ("get", "/console/{asset}", "200", None, {404, 503}),
]





def test_the_document_validates_against_its_own_schema(doc: dict) -> None:
    root = {"$ref": "#/components/schemas/OpenApiDocument", "components": doc["components"]}
    assert Draft202012Validator(root).is_valid(doc)


def test_a_job_run_names_one_of_the_scheduled_jobs() -> None:
    assert set(get_args(responses.JobName)) == set(JOB_NAMES)


@pytest.mark.parametrize(("body", "ok"), [
    ({"advance_seconds": 60}, True),
    ({"now": "2030-01-01T00:00:00+08:00"}, True),
    ({"advance_seconds": None, "now": "2030-01-01T00:00:00Z"}, True),  # null counts as not given
    ({"advance_seconds": 60, "now": None}, True),
    ({}, False),
    ({"advance_seconds": None, "now": None}, False),
    ({"advance_seconds": 60, "now": "2030-01-01T00:00:00Z"}, False),
    ({"now": "9000-01-01T00:00:00Z"}, False),  # the year 1970..8999, as the server checks it
    ({"now": "1969-12-31T23:59:59Z"}, False),
])
def test_the_clock_body_is_exactly_one_of_its_fields(doc: dict, body: dict, ok: bool) -> None:
    root = {"$ref": "#/components/schemas/ClockChange", "components": doc["components"]}
    assert Draft202012Validator(root).is_valid(body) is ok
