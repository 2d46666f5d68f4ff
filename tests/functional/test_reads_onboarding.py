"""Reads for people over HTTP, onboarding and memberships: partners, a partner's merchants, one
merchant (stores and bindings), its terminals, plans and memberships — shapes, viewers, cursors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, Reply

PARTNER_KEYS = {"partner_id", "name", "created_at"}
MERCHANT_KEYS = {"merchant_id", "partner_id", "name", "category", "city", "created_at", "stores", "bindings"}
STORE_KEYS = {"store_id", "name", "address"}
BINDING_KEYS = {"platform", "id", "verified", "verified_at"}
TERMINAL_KEYS = {"terminal_id", "store_id", "kind", "revoked", "created_at"}
PLAN_BODY = {"name": "Monthly", "fee_fen": 3000, "discount_percent": 10, "period_days": 30}


def ok(r: Reply, status: int = 200) -> Any:
    assert r.status == status, r.body
    return r.body


def refused(r: Reply, status: int, code: str) -> None:
    assert (r.status, r.code) == (status, code), r.body


def pages(api: Api, path: str, token: str, key: str, limit: int, *, most: int = 100,
          query: str = "") -> list[list[dict[str, Any]]]:
    """Every page of a list, following next_cursor (at most `most` pages)."""
    got: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while len(got) < most:
        sep = "&" if query else ""
        url = f"{path}?limit={limit}{sep}{query}" + (f"&cursor={cursor}" if cursor else "")
        body = ok(api.get(url, token=token))
        assert set(body) == {key, "next_cursor"}
        got.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    return got


# ---------------------------------------------------------------- partners


def test_partner_shape_and_viewers(api: Api) -> None:
    pid, other = api.new_partner("Alpha PSP"), api.new_partner()
    p = ok(api.get(f"/v1/partners/{pid}", token=api.admin()))
    assert set(p) == PARTNER_KEYS and p["partner_id"] == pid and p["name"] == "Alpha PSP"
    assert ok(api.get(f"/v1/partners/{pid}", token=api.partner_token(pid))) == p
    refused(api.get(f"/v1/partners/{other}", token=api.partner_token(pid)), 403, "forbidden_tenant")
    mid = api.new_merchant(pid)["merchant_id"]
    refused(api.get(f"/v1/partners/{pid}", token=api.merchant_token(mid)), 403, "forbidden_role")
    refused(api.get(f"/v1/partners/{pid}", token=api.customer_token("u1")), 403, "forbidden_role")
    refused(api.get("/v1/partners/ptn_unknown", token=api.admin()), 404, "partner_not_found")


def test_partners_list_admin_only_newest_first_page_by_page(api: Api) -> None:
    # the run's tables are shared: on the business clock, these partners are the newest of all
    ok(api.post("/v1/admin/clock", {"now": "2300-01-01T00:00:00Z"}, token=api.admin()))
    mine = [api.new_partner(f"P{i}") for i in range(5)]
    got = pages(api, "/v1/partners", api.admin(), "partners", 2, most=3)
    assert [len(p) for p in got] == [2, 2, 2]
    flat = [p["partner_id"] for page in got for p in page]
    assert len(set(flat)) == len(flat)  # none twice
    assert flat[:5] == mine[::-1]  # the newest first, none skipped
    assert all(set(p) == PARTNER_KEYS for page in got for p in page)
    pid = mine[0]
    refused(api.get("/v1/partners", token=api.partner_token(pid)), 403, "forbidden_role")
    refused(api.get("/v1/partners", token=api.customer_token("u1")), 403, "forbidden_role")


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", "²"])
def test_limit_out_of_bounds(api: Api, limit: str) -> None:
    pid = api.new_partner()
    mid = api.new_merchant(pid)["merchant_id"]
    for path in ("/v1/partners", f"/v1/partners/{pid}/merchants", f"/v1/merchants/{mid}/memberships"):
        refused(api.get(f"{path}?limit={limit}", token=api.admin()), 422, "invalid_value")


def test_limit_bounds_accepted(api: Api) -> None:
    assert len(ok(api.get("/v1/partners?limit=1", token=api.admin()))["partners"]) == 1
    assert ok(api.get("/v1/partners?limit=200", token=api.admin()))["partners"]


# ---------------------------------------------------------------- merchants


def test_merchant_shape_with_stores_and_bindings(api: Api) -> None:
    pid = api.new_partner()
    m = api.new_merchant(pid, stores=2, seller_id="2088000000001234")
    mid = m["merchant_id"]
    doc = ok(api.get(f"/v1/merchants/{mid}", token=api.admin()))
    assert set(doc) == MERCHANT_KEYS
    assert (doc["merchant_id"], doc["partner_id"], doc["category"], doc["city"]) == (mid, pid, "restaurant", None)
    assert doc["created_at"] == m["created_at"]
    assert sorted(doc["stores"], key=lambda s: s["store_id"]) == sorted(m["stores"], key=lambda s: s["store_id"])
    assert all(set(s) == STORE_KEYS for s in doc["stores"])
    assert doc["bindings"] == [{"platform": "alipay", "id": "2088000000001234", "verified": False,
                                "verified_at": None}]

    r = api.call("PUT", f"/v1/admin/merchants/{mid}/bindings/alipay", {"id": "2088000000005678"}, token=api.admin())
    assert r.status == 200, r.body
    doc = ok(api.get(f"/v1/merchants/{mid}", token=api.merchant_token(mid)))
    [binding] = doc["bindings"]
    assert set(binding) == BINDING_KEYS
    assert (binding["platform"], binding["id"], binding["verified"]) == ("alipay", "2088000000005678", True)
    assert binding["verified_at"] is not None
    assert binding == {k: r.body[k] for k in BINDING_KEYS}  # as the verification answered it


def test_merchant_viewers(api: Api) -> None:
    pid, other_pid = api.new_partner(), api.new_partner()
    mid, other = api.new_merchant(pid)["merchant_id"], api.new_merchant(other_pid)["merchant_id"]
    for token in (api.admin(), api.partner_token(pid), api.merchant_token(mid)):
        assert ok(api.get(f"/v1/merchants/{mid}", token=token))["merchant_id"] == mid
    for token in (api.partner_token(other_pid), api.merchant_token(other)):
        for path in ("", "/terminals", "/plans", "/memberships"):
            refused(api.get(f"/v1/merchants/{mid}{path}", token=token), 403, "forbidden_tenant")
    for path in ("", "/terminals", "/plans", "/memberships"):
        refused(api.get(f"/v1/merchants/{mid}{path}", token=api.customer_token("u1")), 403, "forbidden_role")
        refused(api.get(f"/v1/merchants/mch_unknown{path}", token=api.admin()), 404, "merchant_not_found")


def test_partner_merchants_page_by_page(api: Api) -> None:
    pid, other = api.new_partner(), api.new_partner()
    mine = [api.new_merchant(pid)["merchant_id"] for _ in range(5)]
    api.new_merchant(other)
    for token in (api.admin(), api.partner_token(pid)):
        got = pages(api, f"/v1/partners/{pid}/merchants", token, "merchants", 2)
        assert [len(p) for p in got] == [2, 2, 1]
        assert [m["merchant_id"] for page in got for m in page] == mine[::-1]
        assert all(set(m) == MERCHANT_KEYS for page in got for m in page)
    refused(api.get(f"/v1/partners/{pid}/merchants", token=api.partner_token(other)), 403, "forbidden_tenant")
    refused(api.get(f"/v1/partners/{pid}/merchants", token=api.merchant_token(mine[0])), 403, "forbidden_role")
    refused(api.get("/v1/partners/ptn_unknown/merchants", token=api.admin()), 404, "partner_not_found")


def test_cursors_bound_to_list_query_and_caller(api: Api) -> None:
    pid, other = api.new_partner(), api.new_partner()
    for p in (pid, other):
        for _ in range(3):
            api.new_merchant(p)
    admin = api.admin()
    cursor = ok(api.get(f"/v1/partners/{pid}/merchants?limit=1", token=admin))["next_cursor"]
    assert cursor
    # the same cursor, same caller and query: accepted (any limit)
    assert ok(api.get(f"/v1/partners/{pid}/merchants?limit=5&cursor={cursor}", token=admin))["merchants"]
    altered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    refused(api.get(f"/v1/partners/{pid}/merchants?cursor={altered}", token=admin), 400, "invalid_cursor")
    refused(api.get(f"/v1/partners/{pid}/merchants?cursor=garbage", token=admin), 400, "invalid_cursor")
    refused(api.get(f"/v1/partners/{other}/merchants?cursor={cursor}", token=admin), 400, "invalid_cursor")
    refused(api.get(f"/v1/partners/{pid}/merchants?cursor={cursor}", token=api.partner_token(pid)), 400,
            "invalid_cursor")
    refused(api.get(f"/v1/partners?cursor={cursor}", token=admin), 400, "invalid_cursor")
    partners_cursor = ok(api.get("/v1/partners?limit=1", token=admin))["next_cursor"]
    refused(api.get(f"/v1/partners?cursor={partners_cursor}", token=api.token("admin", "admin-2")), 400,
            "invalid_cursor")


# ---------------------------------------------------------------- terminals


def test_terminals_list_never_shows_secrets(api: Api) -> None:
    pid = api.new_partner()
    m = api.new_merchant(pid)
    mid = m["merchant_id"]
    first, second = api.new_terminal(m), api.new_terminal(m, kind="pos")
    assert api.delete(f"/v1/terminals/{first.terminal_id}", token=api.admin()).status == 204
    r = api.get(f"/v1/merchants/{mid}/terminals", token=api.merchant_token(mid))
    body = ok(r)
    assert set(body) == {"terminals"}
    assert [t["terminal_id"] for t in body["terminals"]] == [second.terminal_id, first.terminal_id]
    assert all(set(t) == TERMINAL_KEYS for t in body["terminals"])
    assert [(t["kind"], t["revoked"], t["store_id"]) for t in body["terminals"]] == [
        ("pos", False, second.store_id), ("qr", True, first.store_id)]
    for secret in (first.secret, second.secret):
        assert secret.encode() not in r.raw
    assert ok(api.get(f"/v1/merchants/{mid}/terminals", token=api.partner_token(pid)))["terminals"]
    other = api.new_merchant(pid)["merchant_id"]
    assert ok(api.get(f"/v1/merchants/{other}/terminals", token=api.admin())) == {"terminals": []}


# ---------------------------------------------------------------- plans and memberships


def test_plans_as_created(api: Api) -> None:
    pid = api.new_partner()
    mid = api.new_merchant(pid)["merchant_id"]
    assert ok(api.get(f"/v1/merchants/{mid}/plans", token=api.admin())) == {"plans": []}
    created = [ok(api.post(f"/v1/merchants/{mid}/plans", {**PLAN_BODY, "name": f"Plan {i}"}, token=api.admin()),
                  201) for i in range(2)]
    body = ok(api.get(f"/v1/merchants/{mid}/plans", token=api.merchant_token(mid)))
    assert body == {"plans": created}


def lock_in(api: Api, plan_id: str, customer: str) -> dict[str, Any]:
    return dict(ok(api.post("/v1/memberships", {"plan_id": plan_id}, token=api.customer_token(customer)), 201))


def newest_first(memberships: list[dict[str, Any]]) -> list[str]:
    """Newest first: by creation (whole seconds, = `starts_at`), then id."""
    return [m["membership_id"] for m in sorted(memberships, key=lambda m: (m["starts_at"], m["membership_id"]),
                                               reverse=True)]


def test_memberships_page_by_page_and_status_filter(api: Api) -> None:
    pid = api.new_partner()
    mid = api.new_merchant(pid)["merchant_id"]
    plan = ok(api.post(f"/v1/merchants/{mid}/plans", PLAN_BODY, token=api.admin()), 201)
    made = []
    for i in range(5):
        made.append(lock_in(api, plan["plan_id"], f"cust-{i}"))
        if i in (1, 3):  # two seconds apart: both orders (time, then id) at work
            ok(api.post("/v1/admin/clock", {"advance_seconds": 1}, token=api.admin()))
    path = f"/v1/merchants/{mid}/memberships"
    for token in (api.admin(), api.partner_token(pid), api.merchant_token(mid)):
        got = pages(api, path, token, "memberships", 2)
        assert [len(p) for p in got] == [2, 2, 1]
        flat = [m for page in got for m in page]
        assert [m["membership_id"] for m in flat] == newest_first(made)
        for m in flat:  # as GET /v1/memberships/{id} answers it
            assert m == ok(api.get(f"/v1/memberships/{m['membership_id']}", token=api.admin()))

    got = pages(api, path, api.admin(), "memberships", 2, query="status=active")
    assert len([m for page in got for m in page]) == 5
    assert ok(api.get(f"{path}?status=expired", token=api.admin())) == {"memberships": [], "next_cursor": None}
    refused(api.get(f"{path}?status=gone", token=api.admin()), 422, "invalid_enum")

    # a cursor is bound to the status filter
    cursor = ok(api.get(f"{path}?status=active&limit=2", token=api.admin()))["next_cursor"]
    refused(api.get(f"{path}?cursor={cursor}", token=api.admin()), 400, "invalid_cursor")
    refused(api.get(f"{path}?status=expired&cursor={cursor}", token=api.admin()), 400, "invalid_cursor")

    # the status shown on the business clock, before the lifecycle job caught up
    ok(api.post("/v1/admin/clock", {"advance_seconds": 31 * 86400}, token=api.admin()))
    got = pages(api, path, api.admin(), "memberships", 2, query="status=expired")
    assert [m["membership_id"] for page in got for m in page] == newest_first(made)
    assert all(m["status"] == "expired" for page in got for m in page)
    assert ok(api.get(f"{path}?status=active", token=api.admin()))["memberships"] == []


# ---------------------------------------------------------------- items written before the lists


def test_the_backfill_job_brings_items_written_before_the_lists_into_them(api: Api) -> None:
    """Partners, merchants, terminals and memberships stored before `list_order` existed are
    missing from the sparse list indexes until the `backfill_list_order` job; running it again
    writes nothing."""
    from chalicelib.memberships.models import MembershipModel
    from chalicelib.onboarding.models import MerchantModel, PartnerModel, TerminalModel

    pid = api.new_partner()
    merchant = api.new_merchant(pid)
    mid = merchant["merchant_id"]
    terminal = api.new_terminal(merchant)
    plan = ok(api.post(f"/v1/merchants/{mid}/plans", PLAN_BODY, token=api.admin()), 201)
    membership = lock_in(api, plan["plan_id"], "u-backfill-1")
    old = [(PartnerModel, pid), (MerchantModel, mid), (TerminalModel, terminal.terminal_id),
           (MembershipModel, membership["membership_id"])]
    for model, key in old:  # as stored before: no list_order (partners: no kind either)
        actions = [model.list_order.remove()] + ([PartnerModel.kind.remove()] if model is PartnerModel else [])
        model(key).update(actions=actions)
    partner_ids = [p["partner_id"] for p in ok(api.get("/v1/partners?limit=200", token=api.admin()))["partners"]]
    assert pid not in partner_ids
    assert ok(api.get(f"/v1/partners/{pid}/merchants", token=api.admin()))["merchants"] == []
    assert ok(api.get(f"/v1/merchants/{mid}/terminals", token=api.admin()))["terminals"] == []
    assert ok(api.get(f"/v1/merchants/{mid}/memberships", token=api.admin()))["memberships"] == []

    job = ok(api.post("/v1/admin/jobs/backfill_list_order", token=api.admin()))
    written = job["result"]["written"]
    assert all(written[table] >= 1 for table in ("partners", "merchants", "terminals", "memberships")), written
    assert [m["merchant_id"] for m in ok(api.get(f"/v1/partners/{pid}/merchants", token=api.admin()))["merchants"]] \
        == [mid]
    assert [t["terminal_id"] for t in ok(api.get(f"/v1/merchants/{mid}/terminals", token=api.admin()))["terminals"]] \
        == [terminal.terminal_id]
    assert [m["membership_id"] for m in ok(api.get(f"/v1/merchants/{mid}/memberships",
                                                   token=api.admin()))["memberships"]] == [membership["membership_id"]]
    assert PartnerModel.get(pid).list_order is not None
    again = ok(api.post("/v1/admin/jobs/backfill_list_order", token=api.admin()))["result"]["written"]
    assert again == {"partners": 0, "merchants": 0, "terminals": 0, "memberships": 0}
