"""Operations: the OpenAPI document, jobs, audit, the local test clock (404 elsewhere) and
what the logs say (JSON, a correlation id, never a token, secret or signature)."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.bootstrap import bootstrap
from chalicelib.config import Config
from tests.helpers import Api


def ts(r_now: str) -> datetime:
    return datetime.fromisoformat(r_now)


def test_openapi_document_lists_every_route(api: Api) -> None:
    r = api.get("/v1/openapi.json")
    assert r.status == 200
    doc = r.body
    assert doc["openapi"].startswith("3.")
    for path, method in [("/v1/partners", "post"), ("/v1/partners/{partner_id}/merchants", "post"),
                         ("/v1/merchants/{merchant_id}/terminals", "post"), ("/v1/terminals/{terminal_id}", "delete"),
                         ("/v1/stores/{store_id}", "get"), ("/v1/admin/clock", "post"), ("/v1/admin/audit", "get")]:
        assert method in doc["paths"][path], (path, method)
    merchant = doc["components"]["schemas"]["CreateMerchant"]
    assert set(merchant["required"]) >= {"name", "category", "stores"}
    assert doc["paths"]["/v1/stores/{store_id}"]["get"]["security"] == []


def test_unknown_job_is_404(api: Api) -> None:
    r = api.post("/v1/admin/jobs/make_coffee", token=api.admin())
    assert (r.status, r.code) == (404, "unknown_job")


def test_audit_answers_its_checks(api: Api) -> None:
    r = api.get("/v1/admin/audit", token=api.admin())
    assert r.status == 200
    assert isinstance(r.body["ok"], bool)
    for check in r.body["checks"]:
        assert set(check) >= {"name", "ok", "detail"}


# ------------------------------------------------------------------ the test clock


def close(a: datetime, b: datetime, seconds: float = 5) -> bool:
    return abs((a - b).total_seconds()) < seconds


def test_clock_reads_the_wall_clock_at_first(api: Api) -> None:
    r = api.get("/v1/admin/clock", token=api.admin())
    assert r.status == 200
    now = ts(r.body["now"])
    assert now.utcoffset() is not None and close(now, datetime.now(UTC))


def test_advance_adds_to_an_offset_that_keeps_running(api: Api) -> None:
    admin = api.admin()
    r = api.post("/v1/admin/clock", {"advance_seconds": 86400}, token=admin)
    assert r.status == 200
    assert close(ts(r.body["now"]), datetime.now(UTC) + timedelta(days=1))
    r = api.post("/v1/admin/clock", {"advance_seconds": 0.5}, token=admin)
    first = ts(r.body["now"])
    time.sleep(0.05)
    later = ts(api.get("/v1/admin/clock", token=admin).body["now"])
    assert later > first  # still running
    assert close(later, datetime.now(UTC) + timedelta(days=1, seconds=0.5))


def test_set_now_also_to_an_earlier_time_and_the_business_clock_follows(api: Api) -> None:
    admin = api.admin()
    r = api.post("/v1/admin/clock", {"now": "2030-01-01T08:00:00+08:00"}, token=admin)
    assert r.status == 200
    assert close(ts(r.body["now"]), datetime(2030, 1, 1, tzinfo=UTC))
    created = api.post("/v1/partners", {"name": "Future"}, token=admin).body["created_at"]
    assert close(ts(created), datetime(2030, 1, 1, tzinfo=UTC))
    r = api.post("/v1/admin/clock", {"now": "2020-06-01T00:00:00Z"}, token=admin)
    assert close(ts(r.body["now"]), datetime(2020, 6, 1, tzinfo=UTC))
    assert close(ts(api.get("/v1/admin/clock", token=admin).body["now"]), datetime(2020, 6, 1, tzinfo=UTC))
    # signatures keep using the real wall clock
    t = api.new_terminal(api.new_merchant(api.new_partner()))
    assert api.signed(t, "/v1/terminal/ping", {}).status == 200


@pytest.mark.parametrize(("body", "code"), [
    ({}, "invalid_value"),
    ({"advance_seconds": 5, "now": "2030-01-01T00:00:00Z"}, "invalid_value"),
    ({"now": "2030-01-01T00:00:00"}, "missing_timezone"),
    ({"now": "next tuesday"}, "invalid_datetime"),
    ({"advance_seconds": "5"}, "invalid_type"),
])
def test_bad_clock_changes(api: Api, body: dict[str, object], code: str) -> None:
    r = api.post("/v1/admin/clock", body, token=api.admin())
    assert (r.status, r.code) == (422, code), r.body


@pytest.fixture
def dev_api(test_config: Config) -> Iterator[Api]:
    from chalice.test import Client

    import app as app_module

    c = bootstrap(dataclasses.replace(test_config, stage="dev"))
    app_module.runtime.install(c)
    try:
        yield Api(Client(app_module.app), c)
    finally:
        app_module.runtime.install(None)


def test_the_test_clock_does_not_exist_on_other_stages(dev_api: Api) -> None:
    admin = dev_api.admin()
    assert dev_api.get("/v1/admin/clock", token=admin).status == 404
    r = dev_api.post("/v1/admin/clock", {"advance_seconds": 60}, token=admin)
    assert (r.status, r.code) == (404, "not_found")
    r = dev_api.post("/v1/admin/clock", {"now": "2030-01-01T00:00:00Z"}, token=admin)
    assert r.status == 404
    created = dev_api.post("/v1/partners", {"name": "Dev"}, token=admin).body["created_at"]
    assert close(ts(created), datetime.now(UTC))


# ------------------------------------------------------------------ logs


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    from chalicelib.observability import logger

    handler = logger.registered_handler
    assert hasattr(handler, "setStream")
    buf = io.StringIO()
    old_stream, old_level = handler.setStream(buf), logger.log_level  # type: ignore[attr-defined]
    logger.setLevel("INFO")
    try:
        yield buf
    finally:
        handler.setStream(old_stream)  # type: ignore[attr-defined]
        logger.setLevel(old_level)


def test_logs_are_json_with_a_correlation_id_and_no_secrets(api: Api, logs: io.StringIO) -> None:
    admin = api.admin()
    pid = api.new_partner()
    m = api.new_merchant(pid)
    r = api.post(f"/v1/merchants/{m['merchant_id']}/terminals", {"store_id": m["stores"][0]["store_id"],
                                                                  "kind": "qr"}, token=admin)
    from tests.helpers import TerminalCreds

    t = TerminalCreds(r.body["terminal_id"], r.body["secret"], m["stores"][0]["store_id"], m["merchant_id"])
    from chalicelib.auth import terminal_signature

    stamp, nonce = str(int(time.time())), "nonce-for-the-log-test-1"
    sig = terminal_signature(t.secret, "POST", "/v1/terminal/ping", stamp, nonce, b"{}")
    ok = api.call("POST", "/v1/terminal/ping", raw=b"{}", headers={
        "X-Yundian-Terminal": t.terminal_id, "X-Yundian-Timestamp": stamp, "X-Yundian-Nonce": nonce,
        "X-Yundian-Signature": sig})
    bad = api.signed(t, "/v1/terminal/ping", {}, secret="wrong-secret-" + "x" * 30)
    expired_token = api.token("admin", ttl=-10)
    expired = api.get("/v1/admin/clock", token=expired_token)
    assert (ok.status, bad.status, expired.status) == (200, 401, 401)

    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.strip()]
    requests = [entry for entry in lines if entry.get("message") == "request"]
    assert len(requests) >= 6
    ids = [entry["correlation_id"] for entry in requests]
    assert all(ids) and len(set(ids)) == len(ids)  # one per request
    assert {entry["status"] for entry in requests} >= {200, 201, 401}
    assert any(entry.get("terminal_id") == t.terminal_id for entry in requests)

    text = logs.getvalue()
    for secret in (admin, expired_token, t.secret, api.secret, sig, nonce):
        assert secret not in text
    assert "x-yundian-signature" not in text.lower()
    assert "authorization" not in text.lower()


def test_no_empty_metrics_warning(api: Api) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert api.get("/v1/openapi.json").status == 200


def test_correlation_id_is_api_gateways_request_id_when_there_is_one() -> None:
    from types import SimpleNamespace

    from chalicelib.observability import correlation_id

    assert correlation_id(SimpleNamespace(context={"requestId": "abc-123"})) == "abc-123"
    assert correlation_id(SimpleNamespace(context={})).startswith("local-")


@pytest.mark.parametrize("name", ["rank_contests", "memberships_lifecycle"])
def test_scheduled_functions_run_through_the_middleware(api: Api, name: str) -> None:
    client = api.client
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[f"arn:aws:events:us-east-1:123456789012:rule/{name}"])
    if name not in api.services.jobs:
        pytest.skip(f"{name} is not wired on this branch yet")
    result = client.lambda_.invoke(name, event)
    assert isinstance(result.payload, dict)
