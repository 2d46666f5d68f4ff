"""Onboarding use cases on the in-memory fake with a fixed clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from chalicelib.auth import NONCE_TTL_SECONDS, Principal, SignedRequest, terminal_signature
from chalicelib.clock import FixedClock
from chalicelib.errors import Conflict, Forbidden, NotFound, Unauthorized
from chalicelib.onboarding.schemas import CreateMerchant, CreateTerminal
from chalicelib.onboarding.service import OnboardingService, TerminalAuthenticator
from tests.fakes.onboarding import InMemoryOnboardingRepository
from tests.helpers import raw

NOW = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)
ADMIN = Principal("admin-1", "admin")


@pytest.fixture
def repo() -> InMemoryOnboardingRepository:
    return InMemoryOnboardingRepository()


@pytest.fixture
def svc(repo: InMemoryOnboardingRepository) -> OnboardingService:
    return OnboardingService(repo, FixedClock(NOW), plans=lambda mid: [{"plan_id": f"pln-of-{mid}"}])


def body(stores: int = 1, seller: str | None = None) -> bytes:
    return raw(CreateMerchant.model_validate({
        "name": "Noodles", "category": "restaurant", "alipay_seller_id": seller,
        "stores": [{"name": f"S{i}"} for i in range(stores)]}))


def terminal_body(store_id: str, kind: str) -> bytes:
    return raw(CreateTerminal(store_id=store_id, kind=kind))  # type: ignore[arg-type]


def partner_of(svc: OnboardingService) -> tuple[str, Principal]:
    pid = svc.create_partner(ADMIN, raw(name="P"))["partner_id"]
    return pid, Principal("p", "partner", partner_id=pid)


def test_admin_creates_a_partner_at_the_business_clock(svc: OnboardingService) -> None:
    out = svc.create_partner(ADMIN, raw(name="Hangzhou PSP"))
    assert out["name"] == "Hangzhou PSP"
    assert out["created_at"] == "2026-05-01T04:00:00+00:00"
    assert out["partner_id"].startswith("ptn_")


@pytest.mark.parametrize("who", [Principal("p", "partner", partner_id="ptn_x"),
                                 Principal("m", "merchant", merchant_id="mch_x"), Principal("c", "customer")])
def test_only_admins_create_partners(svc: OnboardingService, who: Principal) -> None:
    with pytest.raises(Forbidden) as e:
        svc.create_partner(who, raw(name="P"))
    assert e.value.code == "forbidden_role"


def test_a_partner_onboards_its_own_merchants_only(svc: OnboardingService) -> None:
    pid, me = partner_of(svc)
    other, _ = partner_of(svc)
    out = svc.create_merchant(me, pid, body(stores=3))
    assert out["partner_id"] == pid and len(out["stores"]) == 3
    with pytest.raises(Forbidden) as e:
        svc.create_merchant(me, other, body())
    assert e.value.code == "forbidden_tenant"
    assert svc.repo.list_merchants(other) == []


def test_merchant_for_an_unknown_partner_is_404(svc: OnboardingService) -> None:
    with pytest.raises(NotFound) as e:
        svc.create_merchant(ADMIN, "ptn_missing", body())
    assert e.value.code == "partner_not_found"


def test_a_seller_id_belongs_to_one_merchant(svc: OnboardingService) -> None:
    pid, _ = partner_of(svc)
    svc.create_merchant(ADMIN, pid, body(seller="2088000000000099"))
    with pytest.raises(Conflict) as e:
        svc.create_merchant(ADMIN, pid, body(seller="2088000000000099"))
    assert e.value.code == "seller_id_taken"
    assert len(svc.repo.list_merchants(pid)) == 1


def test_terminals_belong_to_a_store_of_the_merchant(svc: OnboardingService) -> None:
    pid, me = partner_of(svc)
    m1 = svc.create_merchant(me, pid, body())
    m2 = svc.create_merchant(me, pid, body())
    with pytest.raises(NotFound) as e:
        svc.create_terminal(me, m1["merchant_id"], terminal_body(m2["stores"][0]["store_id"], "qr"))
    assert e.value.code == "store_not_found"
    t = svc.create_terminal(me, m1["merchant_id"], terminal_body(m1["stores"][0]["store_id"], "pos"))
    assert t["store_id"] == m1["stores"][0]["store_id"] and t["kind"] == "pos"
    assert len(t["secret"]) >= 43  # 32 random bytes, URL-safe base64
    t2 = svc.create_terminal(me, m1["merchant_id"], terminal_body(m1["stores"][0]["store_id"], "qr"))
    assert t2["secret"] != t["secret"]


def test_a_merchant_manages_its_own_terminals_only(svc: OnboardingService) -> None:
    pid, _ = partner_of(svc)
    m1 = svc.create_merchant(ADMIN, pid, body())
    m2 = svc.create_merchant(ADMIN, pid, body())
    me = Principal("m", "merchant", merchant_id=m1["merchant_id"])
    t2 = svc.create_terminal(ADMIN, m2["merchant_id"], terminal_body(m2["stores"][0]["store_id"], "qr"))
    with pytest.raises(Forbidden):
        svc.create_terminal(me, m2["merchant_id"], terminal_body(m2["stores"][0]["store_id"], "qr"))
    with pytest.raises(Forbidden):
        svc.revoke_terminal(me, t2["terminal_id"])
    stored = svc.repo.get_terminal(t2["terminal_id"])
    assert stored is not None and not stored.revoked
    svc.revoke_terminal(Principal("m2", "merchant", merchant_id=m2["merchant_id"]), t2["terminal_id"])
    stored = svc.repo.get_terminal(t2["terminal_id"])
    assert stored is not None and stored.revoked_at == NOW


def test_revoking_an_unknown_terminal_is_404(svc: OnboardingService) -> None:
    with pytest.raises(NotFound) as e:
        svc.revoke_terminal(ADMIN, "tml_missing")
    assert e.value.code == "terminal_not_found"


def test_the_public_store_page(svc: OnboardingService) -> None:
    pid, _ = partner_of(svc)
    m = svc.create_merchant(ADMIN, pid, body(stores=2))
    page = svc.store_page(m["stores"][1]["store_id"])
    assert page["name"] == "S1"
    assert page["merchant"] == {"merchant_id": m["merchant_id"], "name": "Noodles", "category": "restaurant"}
    assert page["plans"] == [{"plan_id": f"pln-of-{m['merchant_id']}"}]
    with pytest.raises(NotFound):
        svc.store_page("sto_missing")


# ------------------------------------------------------------------ terminal authentication


def signed(t: dict[str, str], body: bytes = b"{}", *, nonce: str = "n" * 20, secret: str | None = None,
           path: str = "/v1/terminal/ping") -> SignedRequest:
    ts = str(int(time.time()))
    sig = terminal_signature(secret or t["secret"], "POST", path, ts, nonce, body)
    return SignedRequest(t["terminal_id"], ts, nonce, sig)


@pytest.fixture
def terminal(svc: OnboardingService) -> dict[str, str]:
    pid, _ = partner_of(svc)
    m = svc.create_merchant(ADMIN, pid, body())
    return svc.create_terminal(ADMIN, m["merchant_id"], terminal_body(m["stores"][0]["store_id"], "qr"))


def test_an_authentic_request_names_its_terminal(repo: InMemoryOnboardingRepository, terminal: dict[str, str]) -> None:
    who = TerminalAuthenticator(repo).authenticate(signed(terminal), "POST", "/v1/terminal/ping", b"{}")
    assert who.terminal_id == terminal["terminal_id"] and who.store_id == terminal["store_id"]


@pytest.mark.parametrize("tamper", ["secret", "body", "path", "method"])
def test_a_forged_request_is_a_bad_signature(repo: InMemoryOnboardingRepository, terminal: dict[str, str],
                                             tamper: str) -> None:
    req = signed(terminal, secret="x" * 43 if tamper == "secret" else None)
    with pytest.raises(Unauthorized) as e:
        TerminalAuthenticator(repo).authenticate(
            req, "GET" if tamper == "method" else "POST",
            "/v1/terminal/payments" if tamper == "path" else "/v1/terminal/ping",
            b'{"a":1}' if tamper == "body" else b"{}")
    assert e.value.code == "bad_signature"


def test_a_forged_request_does_not_burn_the_nonce(repo: InMemoryOnboardingRepository,
                                                  terminal: dict[str, str]) -> None:
    auth = TerminalAuthenticator(repo)
    with pytest.raises(Unauthorized):
        auth.authenticate(signed(terminal, secret="x" * 43), "POST", "/v1/terminal/ping", b"{}")
    assert auth.authenticate(signed(terminal), "POST", "/v1/terminal/ping", b"{}").nonce == "n" * 20


def test_replay_unknown_and_revoked(repo: InMemoryOnboardingRepository, svc: OnboardingService,
                                    terminal: dict[str, str]) -> None:
    auth = TerminalAuthenticator(repo)
    auth.authenticate(signed(terminal), "POST", "/v1/terminal/ping", b"{}")
    with pytest.raises(Unauthorized) as e:
        auth.authenticate(signed(terminal), "POST", "/v1/terminal/ping", b"{}")
    assert e.value.code == "replayed_nonce"
    with pytest.raises(Unauthorized) as e:
        auth.authenticate(signed({**terminal, "terminal_id": "tml_missing"}), "POST", "/v1/terminal/ping", b"{}")
    assert e.value.code == "unknown_terminal"
    svc.revoke_terminal(ADMIN, terminal["terminal_id"])
    with pytest.raises(Unauthorized) as e:
        auth.authenticate(signed(terminal, nonce="m" * 20), "POST", "/v1/terminal/ping", b"{}")
    assert e.value.code == "terminal_revoked"


def test_nonces_are_remembered_for_ten_minutes() -> None:
    assert NONCE_TTL_SECONDS == 600
