"""One contract for the onboarding repository, run against the in-memory fake (what the unit
tests use) and the PynamoDB adapter on DynamoDB Local, so the two cannot drift."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import Conflict
from chalicelib.ids import new_id
from chalicelib.onboarding.domain import (
    ListPosition,
    Merchant,
    Page,
    Partner,
    Store,
    Terminal,
    TerminalInfo,
    list_order,
)
from chalicelib.onboarding.ports import OnboardingRepository
from tests.fakes.onboarding import InMemoryOnboardingRepository

T0 = datetime(2026, 3, 1, 8, 30, 15, tzinfo=UTC)


@pytest.fixture(params=["fake", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> OnboardingRepository:
    if request.param == "fake":
        return InMemoryOnboardingRepository()
    return request.getfixturevalue("services").onboarding_repo


def partner(repo: OnboardingRepository) -> Partner:
    p = Partner(new_id("ptn"), "P", T0)
    repo.add_partner(p)
    return p


def merchant(repo: OnboardingRepository, partner_id: str, *, stores: int = 2,
             seller: str | None = None) -> tuple[Merchant, list[Store]]:
    m = Merchant(new_id("mch"), partner_id, "M", "retail", T0, "Hangzhou", seller)
    ss = [Store(new_id("sto"), m.merchant_id, f"S{i}", None if i else "1 Road") for i in range(stores)]
    repo.add_merchant(m, ss, T0)
    return m, ss


def terminal(repo: OnboardingRepository, m: Merchant, store: Store) -> Terminal:
    t = Terminal(new_id("tml"), m.merchant_id, m.partner_id, store.store_id, "qr", "s" * 43, T0)
    repo.add_terminal(t)
    return t


def test_partner_round_trip_and_uniqueness(repo: OnboardingRepository) -> None:
    p = partner(repo)
    assert repo.get_partner(p.partner_id) == p
    assert repo.get_partner("ptn_missing") is None
    assert p in repo.list_partners()
    with pytest.raises(Conflict) as e:
        repo.add_partner(Partner(p.partner_id, "again", T0))
    assert e.value.code == "partner_exists"
    assert repo.get_partner(p.partner_id) == p


def test_merchant_with_stores_round_trip(repo: OnboardingRepository) -> None:
    p = partner(repo)
    m, stores = merchant(repo, p.partner_id, stores=3)
    assert repo.get_merchant(m.merchant_id) == m
    assert repo.get_merchant("mch_missing") is None
    assert repo.list_stores(m.merchant_id) == sorted(stores, key=lambda s: s.store_id)
    assert repo.get_store(stores[0].store_id) == stores[0]
    assert repo.get_store("sto_missing") is None


def test_merchants_are_listed_per_partner_in_id_order(repo: OnboardingRepository) -> None:
    p1, p2 = partner(repo), partner(repo)
    mine = [merchant(repo, p1.partner_id)[0] for _ in range(3)]
    merchant(repo, p2.partner_id)
    assert repo.list_merchants(p1.partner_id) == sorted(mine, key=lambda m: m.merchant_id)
    assert repo.list_merchants("ptn_nobody") == []


def test_seller_id_is_unique_and_a_refused_merchant_leaves_nothing(repo: OnboardingRepository) -> None:
    p = partner(repo)
    seller = "2088" + new_id("x")[-12:]
    first, _ = merchant(repo, p.partner_id, seller=seller)
    assert repo.merchant_by_seller(seller) == first
    m2 = Merchant(new_id("mch"), p.partner_id, "M2", "retail", T0, None, seller)
    s2 = Store(new_id("sto"), m2.merchant_id, "S", None)
    with pytest.raises(Conflict) as e:
        repo.add_merchant(m2, [s2], T0)
    assert e.value.code == "seller_id_taken"
    assert repo.get_merchant(m2.merchant_id) is None
    assert repo.get_store(s2.store_id) is None
    assert repo.merchant_by_seller(seller) == first
    assert repo.merchant_by_seller("2088nobody") is None


def test_terminal_round_trip_and_revocation(repo: OnboardingRepository) -> None:
    p = partner(repo)
    m, stores = merchant(repo, p.partner_id)
    t = terminal(repo, m, stores[1])
    assert repo.get_terminal(t.terminal_id) == t
    assert repo.get_terminal("tml_missing") is None
    with pytest.raises(Conflict):
        repo.add_terminal(t)
    at = T0 + timedelta(hours=1)
    repo.revoke_terminal(t.terminal_id, at)
    revoked = repo.get_terminal(t.terminal_id)
    assert revoked is not None and revoked.revoked and revoked.revoked_at == at
    repo.revoke_terminal(t.terminal_id, at + timedelta(hours=1))  # idempotent: the first time stays
    again = repo.get_terminal(t.terminal_id)
    assert again is not None and again.revoked_at == at
    repo.revoke_terminal("tml_missing", at)  # revoking nothing creates nothing
    assert repo.get_terminal("tml_missing") is None


def test_nonce_is_claimed_once_per_terminal_until_it_expires(repo: OnboardingRepository) -> None:
    tid, nonce = new_id("tml"), new_id("n")
    assert repo.claim_nonce(tid, nonce, T0, 600) is True
    assert repo.claim_nonce(tid, nonce, T0 + timedelta(seconds=1), 600) is False
    assert repo.claim_nonce(tid, nonce, T0 + timedelta(seconds=600), 600) is False
    assert repo.claim_nonce(new_id("tml"), nonce, T0, 600) is True  # per terminal
    # expired (TTL deletion is lazy, so an expired guard may still be stored): claimable again
    assert repo.claim_nonce(tid, nonce, T0 + timedelta(seconds=601), 600) is True
    assert repo.claim_nonce(tid, nonce, T0 + timedelta(seconds=602), 600) is False


def test_concurrent_claims_of_one_nonce_let_exactly_one_through(repo: OnboardingRepository) -> None:
    tid, nonce = new_id("tml"), new_id("n")
    barrier = threading.Barrier(16)
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        ok = repo.claim_nonce(tid, nonce, T0, 600)
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [False] * 15 + [True]


def test_the_partner_directory_names_partners_and_their_merchants(repo: OnboardingRepository) -> None:
    p, q = partner(repo), partner(repo)
    m1, _ = merchant(repo, p.partner_id)
    m2, _ = merchant(repo, p.partner_id)
    m3, _ = merchant(repo, q.partner_id)
    assert repo.partner_names([p.partner_id, q.partner_id, p.partner_id]) == {p.partner_id: "P", q.partner_id: "P"}
    assert repo.partner_names([]) == {}
    assert repo.partner_names(["ptn_missing"]) == {}
    assert {p.partner_id, q.partner_id} <= set(repo.all_partner_ids())
    assert sorted(repo.merchants_of([p.partner_id])) == sorted([m1.merchant_id, m2.merchant_id])
    assert sorted(repo.merchants_of([p.partner_id, q.partner_id])) == sorted(
        [m1.merchant_id, m2.merchant_id, m3.merchant_id])


# ---------------------------------------------------------------- platform bindings


def claimed(repo: OnboardingRepository, partner_id: str, *, seller: str | None = None,
            wechat: str | None = None) -> Merchant:
    m = Merchant(new_id("mch"), partner_id, "M", "retail", T0, None, seller, wechat)
    repo.add_merchant(m, [Store(new_id("sto"), m.merchant_id, "S")], T0)
    return m


def test_ids_in_a_merchant_are_claims_and_one_merchant_holds_an_id(repo: OnboardingRepository) -> None:
    p = partner(repo)
    sid, wid = new_id("2088")[:20], "1234567890"
    m = claimed(repo, p.partner_id, seller=sid, wechat=wid + new_id("")[-6:].replace("_", "1"))
    got = repo.get_binding("alipay", sid)
    assert got is not None and (got.merchant_id, got.verified) == (m.merchant_id, False)
    with pytest.raises(Conflict) as e:
        claimed(repo, p.partner_id, seller=sid)
    assert e.value.code == "seller_id_taken"
    assert repo.get_binding("wechatpay", "99999999") is None


def test_concurrent_claims_of_one_id_let_exactly_one_merchant_hold_it(repo: OnboardingRepository) -> None:
    p = partner(repo)
    sid = new_id("2088")[:24]
    won: list[str] = []
    lost: list[str] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        try:
            won.append(claimed(repo, p.partner_id, seller=sid).merchant_id)
        except Conflict:
            lost.append("x")

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 5
    binding = repo.get_binding("alipay", sid)
    assert binding is not None and binding.merchant_id == won[0]


def test_verifying_moves_a_claim_replaces_the_merchants_id_and_delete_releases(repo: OnboardingRepository) -> None:
    p = partner(repo)
    sid, other = new_id("2088")[:24], new_id("2088")[:24]
    claimant = claimed(repo, p.partner_id, seller=sid)
    owner = claimed(repo, p.partner_id)
    change = repo.verify_binding(owner, "alipay", sid, T0 + timedelta(hours=1))
    assert (change.moved_from, change.released) == (claimant.merchant_id, None)
    assert change.binding.verified_at == T0 + timedelta(hours=1) and change.binding.merchant_id == owner.merchant_id
    assert repo.get_merchant(claimant.merchant_id).alipay_seller_id is None  # type: ignore[union-attr]
    assert repo.merchant_by_seller(sid).merchant_id == owner.merchant_id  # type: ignore[union-attr]
    again = repo.verify_binding(owner, "alipay", sid, T0 + timedelta(hours=2))
    assert again.binding.verified_at == T0 + timedelta(hours=1)  # the first verification stays
    with pytest.raises(Conflict) as e:
        repo.verify_binding(claimant, "alipay", sid, T0)
    assert e.value.code == "platform_id_taken"
    replaced = repo.verify_binding(owner, "alipay", other, T0)
    assert replaced.released == sid and repo.get_binding("alipay", sid) is None
    released = repo.delete_binding(owner, "alipay")
    assert released is not None and released.platform_id == other
    assert repo.get_binding("alipay", other) is None and repo.delete_binding(owner, "alipay") is None
    assert repo.get_merchant(owner.merchant_id).alipay_seller_id is None  # type: ignore[union-attr]


# ---------------------------------------------------------------- lists for people

LATER = datetime(2199, 1, 1, tzinfo=UTC)


def test_partners_page_newest_first_resuming_after_a_position(repo: OnboardingRepository) -> None:
    mine = [Partner(new_id("ptn"), f"P{i}", LATER + timedelta(seconds=i)) for i in range(3)]
    tied = Partner(new_id("ptn"), "tied", mine[1].created_at)  # the same time: ordered by id
    for p in [*mine, tied]:
        repo.add_partner(p)
    expected = sorted([*mine, tied], key=lambda p: (p.created_at, p.partner_id), reverse=True)
    # the run's tables are shared: start just above these partners (a position need not be an item's)
    above = ListPosition(list_order(LATER + timedelta(hours=1), "ptn_above"), "ptn_above")
    assert repo.partners_page(1, None).items  # and from the top, some
    first = repo.partners_page(3, above)
    assert list(first.items) == expected[:3] and first.more
    last = first.items[-1]
    rest = repo.partners_page(1, ListPosition(list_order(last.created_at, last.partner_id), last.partner_id))
    assert list(rest.items) == expected[3:]


def test_merchants_page_per_partner_newest_first(repo: OnboardingRepository) -> None:
    p, other = partner(repo), partner(repo)
    made = []
    for i in range(3):
        m = Merchant(new_id("mch"), p.partner_id, "M", "retail", T0 + timedelta(minutes=i))
        repo.add_merchant(m, [], m.created_at)
        made.append(m)
    merchant(repo, other.partner_id)
    page = repo.merchants_page(p.partner_id, 2, None)
    assert list(page.items) == made[::-1][:2] and page.more
    last = page.items[-1]
    rest = repo.merchants_page(p.partner_id, 2, ListPosition(list_order(last.created_at, last.merchant_id),
                                                             last.merchant_id))
    assert (list(rest.items), rest.more) == ([made[0]], False)
    assert repo.merchants_page(new_id("ptn"), 2, None) == Page((), more=False)


def test_terminals_of_a_merchant_newest_first_without_secrets(repo: OnboardingRepository) -> None:
    p = partner(repo)
    m, stores = merchant(repo, p.partner_id)
    old = terminal(repo, m, stores[0])
    new = Terminal(new_id("tml"), m.merchant_id, m.partner_id, stores[1].store_id, "pos", "t" * 43,
                   T0 + timedelta(seconds=1))
    repo.add_terminal(new)
    repo.revoke_terminal(old.terminal_id, T0 + timedelta(minutes=1))
    listed = repo.terminals_of(m.merchant_id)
    assert listed == [
        TerminalInfo(new.terminal_id, m.merchant_id, new.store_id, "pos", new.created_at),
        TerminalInfo(old.terminal_id, m.merchant_id, old.store_id, "qr", old.created_at, T0 + timedelta(minutes=1)),
    ]
    assert [t.revoked for t in listed] == [False, True]
    assert not any(hasattr(t, "secret") for t in listed)
    assert repo.terminals_of(new_id("mch")) == []


def test_stores_and_bindings_of_many_merchants(repo: OnboardingRepository) -> None:
    p = partner(repo)
    seller = "2088" + new_id("x")[-12:].translate(str.maketrans("abcdef", "123456"))
    m1, s1 = merchant(repo, p.partner_id, stores=2, seller=seller)
    m2, _ = merchant(repo, p.partner_id, stores=1)
    assert repo.stores_of([m1.merchant_id, m2.merchant_id, m1.merchant_id]) == {
        m1.merchant_id: repo.list_stores(m1.merchant_id), m2.merchant_id: repo.list_stores(m2.merchant_id)}
    assert sorted(s.store_id for s in repo.stores_of([m1.merchant_id])[m1.merchant_id]) == sorted(
        s.store_id for s in s1)
    assert repo.stores_of([]) == {}
    [b] = repo.bindings_of([("alipay", seller), ("alipay", seller), ("wechatpay", "12345678")])
    assert b == repo.get_binding("alipay", seller) and b.merchant_id == m1.merchant_id and not b.verified
    assert repo.bindings_of([]) == []
