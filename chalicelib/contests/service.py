"""Use cases of the partner contest: create contests, rank open rounds into snapshots, serve
leaderboards and standings, settle rounds from recorded data, fold stream records into the
counters, and audit the counters against their recomputation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

from chalicelib.admin_trail.ports import AdminTrail
from chalicelib.auth import Principal
from chalicelib.clock import Clock, iso
from chalicelib.contests import domain
from chalicelib.contests.aggregator import ContestAggregator
from chalicelib.contests.documents import contest_doc, contest_from_doc, public_contest
from chalicelib.contests.domain import Contest, Metrics, Prize, Rules, Weights
from chalicelib.contests.facts import image, membership_fact, payment_fact, payments_for
from chalicelib.contests.ports import Board, Commit, ContestRepository, Put, StateStore
from chalicelib.contests.schemas import CreateContest
from chalicelib.errors import Conflict, Invalid, NotFound
from chalicelib.ids import new_id
from chalicelib.memberships.ports import MembershipHistory
from chalicelib.observability import logger, metrics
from chalicelib.onboarding.ports import PartnerDirectory
from chalicelib.parsing import parse_int
from chalicelib.payments.ports import PaymentHistory
from chalicelib.schemas import parse_body

R = TypeVar("R")  # a record another area decodes from its stream

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class ContestCatalog:
    """The contest list, cached for the stream path (contests are few and change rarely)."""

    def __init__(self, repo: ContestRepository, ttl_seconds: float = 30.0) -> None:
        self.repo = repo
        self.ttl = ttl_seconds
        self._cached: list[Contest] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def all(self, fresh: bool = False) -> list[Contest]:
        with self._lock:
            if fresh or self._cached is None or time.monotonic() - self._at > self.ttl:
                self._cached = [contest_from_doc(d) for d in self.repo.list_contests()]
                self._at = time.monotonic()
            return list(self._cached)

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


# ---------------------------------------------------------------- the service


class ContestService:
    """The contest use cases. Reads payments, memberships and partners through their areas'
    ports; writes its own tables and the admin trail."""

    def __init__(self, *, repo: ContestRepository, state: StateStore, payments: PaymentHistory,
                 memberships: MembershipHistory, partners: PartnerDirectory, trail: AdminTrail, clock: Clock,
                 tz: tzinfo, shards: int = 32, before_audit: Callable[[], Any] | None = None) -> None:
        self.repo = repo
        self.state = state
        self.payments = payments
        self.memberships = memberships
        self.partners = partners
        self.trail = trail
        self.clock = clock
        self.tz = tz
        self.shards = shards
        self.before_audit = before_audit  # e.g. drain the local stream poller
        self.catalog = ContestCatalog(repo)
        self.aggregator = ContestAggregator(state, tz, shards, seed_first=self._earliest_qualifying,
                                            register=repo.register_shard)

    def _earliest_qualifying(self, merchant_id: str, min_fen: int) -> domain.PaymentFact | None:
        record = self.payments.earliest_qualifying(merchant_id, min_fen)
        return payment_fact(record) if record else None

    # -- contests
    def create(self, who: Principal, raw: bytes) -> dict[str, Any]:
        body = parse_body(CreateContest, raw)
        who.require_role("admin")
        rules = body.rules
        now = self.clock.now()
        contest = Contest(
            contest_id=new_id("cst"), name=body.name, starts_at=body.starts_at, round_days=body.round_days,
            rounds=body.rounds,
            weights=Weights(**{k: Decimal(str(v)) for k, v in body.weights.model_dump().items()}),
            rules=Rules(**rules.model_dump()) if rules else Rules(),
            prizes=tuple(Prize(p.rank_from, p.rank_to, p.prize) for p in body.prizes or []),
            created_at=now, created_by=who.sub,
        )
        self.repo.add_contest(contest.contest_id, contest_doc(contest))
        self.catalog.invalidate()
        if domain.bucket_span(contest, self.tz)[0] < now:
            self.backfill(contest)
        self._audit(who, "contest.create", contest.contest_id, {"name": contest.name})
        return public_contest(contest)

    def contest(self, contest_id: str) -> Contest:
        doc = self.repo.get_contest(contest_id)
        if doc is None:
            raise NotFound(f"no contest {contest_id}", code="contest_not_found")
        return contest_from_doc(doc)

    def get(self, who: Principal, contest_id: str) -> dict[str, Any]:
        """A contest with its rounds, each saying whether it is settled."""
        who.require_role("admin", "partner")
        contest = self.contest(contest_id)
        return public_contest(contest, self.repo.settled_rounds(contest_id))

    def all_contests(self, who: Principal) -> dict[str, Any]:
        """`{"contests": [...]}`, newest first, each as `get` shows it."""
        who.require_role("admin", "partner")
        contests = sorted((contest_from_doc(d) for d in self.repo.list_contests()),
                          key=lambda c: (c.created_at.timestamp() if c.created_at else 0.0, c.contest_id), reverse=True)
        return {"contests": [public_contest(c, self.repo.settled_rounds(c.contest_id)) for c in contests]}

    # -- leaderboard and standing (served from stored boards, never recomputed per read)
    def leaderboard(self, who: Principal, contest_id: str, round_param: str | None,
                    limit_param: str | None) -> dict[str, Any]:
        who.require_role("admin", "partner")
        limit = _int_param("limit", limit_param, DEFAULT_LIMIT, 1, MAX_LIMIT)
        contest = self.contest(contest_id)
        round_no = self._round_param(contest, round_param)
        board = self._board(contest_id, round_no)
        entries = self.repo.board_entries(contest_id, round_no, board, limit) if board else []
        return self._board_body(contest_id, round_no, board, entries)

    def standing(self, who: Principal, partner_id: str, contest_id: str | None,
                 round_param: str | None) -> dict[str, Any]:
        who.require_role("admin", "partner")
        who.require_partner(partner_id)
        if not contest_id:
            raise Invalid("contest_id is required", code="missing_field")
        contest = self.contest(contest_id)
        round_no = self._round_param(contest, round_param)
        board = self._board(contest_id, round_no)
        entries = self.repo.board_entries(contest_id, round_no, board) if board else []
        mine = next((i for i, e in enumerate(entries) if e["partner_id"] == partner_id), None)
        body: dict[str, Any] = {
            "contest_id": contest_id, "round": round_no, "partner_id": partner_id,
            "as_of": board.meta.get("as_of") if board else None, "final": bool(board and board.kind == "final"),
            "participants": len(entries),
        }
        if mine is None:
            last = entries[-1]["score"] if entries else None
            body.update(rank=None, score=0, metrics=Metrics().as_dict(), next_rank=len(entries) or None,
                        gap_to_next_rank=last)
            return body
        e = entries[mine]
        above = entries[mine - 1] if mine > 0 else None
        gap = domain.number(Decimal(str(above["score"])) - Decimal(str(e["score"]))) if above else None
        body.update(rank=e["rank"], score=e["score"], metrics=e["metrics"],
                    next_rank=above["rank"] if above else None, gap_to_next_rank=gap)
        return body

    def _board(self, contest_id: str, round_no: int) -> Board | None:
        return (self.repo.get_board(contest_id, round_no, "final")
                or self.repo.get_board(contest_id, round_no, "snapshot"))

    @staticmethod
    def _board_body(contest_id: str, round_no: int, board: Board | None,
                    entries: list[dict[str, Any]]) -> dict[str, Any]:
        final = bool(board and board.kind == "final")
        body: dict[str, Any] = {"contest_id": contest_id, "round": round_no,
                                "as_of": board.meta.get("as_of") if board else None,
                                "final": final, "entries": entries}
        if final and board:
            body["settled_at"] = board.meta.get("settled_at")
            body["winners"] = board.meta.get("winners", [])
        return body

    @staticmethod
    def _round_param(contest: Contest, raw: str | None) -> int:
        if raw is None or raw == "":
            raise Invalid("round is required", code="missing_field")
        n = _int_param("round", raw, 1, 0, None)  # 0 and beyond the last round: no such round
        if not 1 <= n <= contest.rounds:
            raise NotFound(f"round {n} is not in 1..{contest.rounds}", code="round_not_found")
        return n

    # -- ranking job
    def rank_all(self) -> dict[str, Any]:
        """Rank every started, unsettled round of every contest into a new snapshot."""
        now = self.clock.now()
        ranked = []
        for contest in self.catalog.all(fresh=True):
            self._second_backfill(contest, now)
            for w in contest.windows():
                if w.starts_at > now:
                    break
                if self.repo.get_board(contest.contest_id, w.round, "final") is not None:
                    continue
                ranked.append(self.rank_round(contest, w.round, now))
        metrics.add_metric(name="ContestRoundsRanked", unit="Count", value=len(ranked))
        return {"as_of": iso(now), "ranked": ranked}

    def rank_round(self, contest: Contest, round_no: int, now: datetime) -> dict[str, Any]:
        shards = self.repo.registered_shards(contest.contest_id, round_no)
        counters = self.state.counters(contest.contest_id, round_no, shards)
        names = self.partners.partner_names(counters) if counters else {}
        entries = [e.as_dict() for e in domain.rank(contest, counters, names)]
        version = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{new_id('v')}"
        pages = self.repo.write_pages(contest.contest_id, round_no, version, entries)
        self.repo.put_snapshot_head(contest.contest_id, round_no, version, pages,
                                    {"as_of": iso(now), "entries": len(entries)})
        return {"contest_id": contest.contest_id, "round": round_no, "entries": len(entries)}

    # -- settlement (from recorded data; frozen once)
    def settle(self, who: Principal, contest_id: str, round_param: str) -> dict[str, Any]:
        who.require_role("admin")
        contest = self.contest(contest_id)
        round_no = self._round_param(contest, round_param)
        stored = self.repo.get_board(contest_id, round_no, "final")
        if stored is None:
            now = self.clock.now()
            w = contest.window(round_no)
            if now < w.ends_at:
                raise Conflict(f"round {round_no} ends at {iso(w.ends_at)}", code="round_not_ended")
            entries = self.compute_round(contest, round_no)
            body = [e.as_dict() for e in entries]
            meta = {"as_of": iso(now), "settled_at": iso(now), "settled_by": who.sub,
                    "winners": domain.winners(entries, contest.prizes), "entries": len(body)}
            version = f"final-{new_id('v')}"
            pages = self.repo.write_pages(contest_id, round_no, version, body)
            won = self.repo.put_final_head(contest_id, round_no, version, pages, meta)
            if won:
                metrics.add_metric(name="ContestRoundSettled", unit="Count", value=1)
            stored = self.repo.get_board(contest_id, round_no, "final")
            assert stored is not None
            outcome = "settled" if won else "already_settled"
        else:
            outcome = "already_settled"
        self._audit(who, "contest.settle", contest_id, {"round": round_no, "outcome": outcome})
        entries_out = self.repo.board_entries(contest_id, round_no, stored)
        return {"contest_id": contest_id, "round": round_no, "final": True,
                "settled_at": stored.meta["settled_at"], "as_of": stored.meta.get("as_of"),
                "entries": entries_out, "winners": stored.meta.get("winners", [])}

    def compute_round(self, contest: Contest, round_no: int) -> list[domain.Entry]:
        """The reference ranking of a round from the recorded payments, refunds and memberships."""
        w = contest.window(round_no)
        since = domain.day_start(domain.business_day(w.starts_at, self.tz), self.tz)
        until = domain.day_start(domain.business_day(w.ends_at, self.tz) + timedelta(days=1), self.tz)
        partner_ids = self.partners.all_partner_ids()
        merchants = self.partners.merchants_of(partner_ids)
        payments = payments_for(self.payments, merchants, since, until, contest.rules)
        members = [membership_fact(r) for r in self.memberships.for_partners(partner_ids, w.starts_at, w.ends_at)]
        per_partner = domain.round_metrics(contest, round_no, payments, members, self.tz)
        names = self.partners.partner_names(per_partner) if per_partner else {}
        return domain.rank(contest, per_partner, names)

    # -- stream path
    def handle_payment_stream(self, event: dict[str, Any]) -> dict[str, int]:
        """Fold a batch of the payments table's stream records into the counters. Raises on a
        storage failure so Lambda retries the batch (idempotent)."""
        return self._fold_stream(event, self.payments.from_stream_image,
                                 lambda r, contests: self.aggregator.apply_payment(payment_fact(r), contests))

    def handle_membership_stream(self, event: dict[str, Any]) -> dict[str, int]:
        """Fold a batch of the memberships table's stream records into the counters (as above)."""
        return self._fold_stream(event, self.memberships.from_stream_image,
                                 lambda r, contests: self.aggregator.apply_membership(membership_fact(r), contests))

    def _fold_stream(self, event: dict[str, Any], decode: Callable[[dict[str, Any]], R | None],
                     apply: Callable[[R, list[Contest]], None]) -> dict[str, int]:
        """Each new or changed item the owning area `decode`s into a record is applied to the
        open contests; other items (refunds, removals, other kinds) are skipped."""
        records = event.get("Records", [])
        applied = 0
        for record in records:
            if record.get("eventName") not in ("INSERT", "MODIFY"):
                continue
            img = image(record)
            if img is None:
                continue
            contests = self.catalog.all()
            if not contests:
                continue
            decoded = decode(img)
            if decoded is not None:
                apply(decoded, contests)
                applied += 1
        return {"records": len(records), "applied": applied}

    def _second_backfill(self, contest: Contest, now: datetime) -> None:
        """Once the stream path's contest cache has surely seen a contest, fold once more what
        was recorded while it had not (payments between creation and cache refresh)."""
        if contest.created_at is None or now < contest.created_at + timedelta(seconds=3 * self.catalog.ttl):
            return
        key = f"BF#{contest.contest_id}"
        if self.state.read([key]):
            return
        if domain.bucket_span(contest, self.tz)[0] < now:
            self.backfill(contest)
        self.state.commit(Commit(puts=[Put(key, None, {"at": iso(now)})]))

    def backfill(self, contest: Contest) -> dict[str, int]:
        """Fold what was recorded before the stream path knew this contest (a contest may start
        in the past). Idempotent like the stream path, so overlapping with it is harmless."""
        lo, hi = domain.bucket_span(contest, self.tz)
        if contest.rules.require_platform_confirmation:
            # counted at the platform's time, whatever `paid_at` says: a scan either way (a filtered
            # scan reads the whole table too); first payments are seeded from the history as needed
            facts = [f for f in map(payment_fact, self.payments.all_payments())
                     if (seen := domain.as_counted(f, contest.rules)) is not None and lo <= seen.paid_at < hi]
        else:
            facts = [payment_fact(p) for p in self.payments.payments_between(lo, hi)]
        for f in facts:
            self.aggregator.apply_payment(f, [contest])
        members = self.memberships.between(contest.starts_at, contest.ends_at)
        for m in members:
            self.aggregator.apply_membership(membership_fact(m), [contest])
        return {"payments": len(facts), "memberships": len(members)}

    # -- audit
    def audit_check(self) -> dict[str, Any]:
        """Stored (stream-derived) contest counters equal their recomputation from recorded data."""
        if self.before_audit is not None:
            self.before_audit()
        contests = self.catalog.all(fresh=True)
        stored = self.state.all_counters()
        if not contests:
            return {"name": "contest_metrics", "ok": True, "detail": "no contests"}
        payments = [payment_fact(r) for r in self.payments.all_payments()]
        members = [membership_fact(r) for r in self.memberships.all()]
        mismatches: list[dict[str, Any]] = []
        compared = 0
        known = {c.contest_id for c in contests}
        for c in contests:
            for n in range(1, c.rounds + 1):
                expected = domain.round_metrics(c, n, payments, members, self.tz)
                got = {pid: m for (cid, r, pid), m in stored.items() if cid == c.contest_id and r == n}
                for pid in set(expected) | set(got):
                    e, g = expected.get(pid, Metrics()), got.get(pid, Metrics())
                    compared += 1
                    if e.key() != g.key():
                        mismatches.append({"contest_id": c.contest_id, "round": n, "partner_id": pid,
                                           "expected": e.as_dict(), "stored": g.as_dict()})
        orphans = [k for k in stored if k[0] not in known]
        ok = not mismatches and not orphans
        if not ok:
            logger.warning("contest metrics mismatch", extra={"mismatches": mismatches[:20]})
        return {"name": "contest_metrics", "ok": ok,
                "detail": {"compared": compared, "mismatches": mismatches[:20], "orphan_counters": len(orphans)}}

    def _audit(self, who: Principal, action: str, contest_id: str, what: dict[str, Any]) -> None:
        self.trail.append(self.clock.now(), who.sub, who.role, action, contest_id, what)


def _int_param(name: str, raw: str | None, default: int, lo: int | None, hi: int | None) -> int:
    """A query or path integer (ASCII digits only, `chalicelib.parsing`), `default` when absent."""
    return default if raw is None else parse_int(raw, name, lo=lo, hi=hi)

