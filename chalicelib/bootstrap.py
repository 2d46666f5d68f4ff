"""The composition root: `bootstrap(config, **overrides)` builds every repository and service
once, from the frozen `Config`, with explicit arguments (cosmicpython, chapter 13). Building it
binds the tables (once per process) and nothing else: no thread, socket or client is started
until a request needs one. Tests and `localdev/` pass overrides (a clock, fakes, a hook).

`chalicelib.runtime.Runtime` holds the one `Services` the views and event handlers of `app.py`
use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import storage
from chalicelib.admin_trail.dynamo import DynamoAdminTrail
from chalicelib.admin_trail.ports import AdminTrail
from chalicelib.clock import Clock, OffsetClock, SystemClock, wall_clock
from chalicelib.config import Config
from chalicelib.contests.dynamo import DynamoContestRepository, DynamoStateStore
from chalicelib.contests.ports import ContestRepository, StateStore
from chalicelib.contests.service import ContestService
from chalicelib.cursors import CursorSigner
from chalicelib.identity.alipay_openapi import AlipayOpenApiClient
from chalicelib.identity.authorization import PlatformLogins
from chalicelib.identity.dynamo import DynamoApiKeyRepository, DynamoAuthCodes
from chalicelib.identity.platform_ports import AlipayOAuth, WechatLogin
from chalicelib.identity.ports import ApiKeyRepository, AuthCodes
from chalicelib.identity.rate_limit import AUTH_RATE, LOCAL_AUTH_RATE, RateLimit
from chalicelib.identity.service import IdentityService
from chalicelib.identity.wechat_api import WechatApiClient
from chalicelib.memberships.dynamo import DynamoMembershipRepository
from chalicelib.memberships.dynamo_idempotency import DynamoIdempotencyStore
from chalicelib.memberships.dynamo_shared import DynamoMemberSavings, DynamoMembershipHistory
from chalicelib.memberships.idempotency import Idempotency, IdempotencyStore
from chalicelib.memberships.ports import MembershipRepository
from chalicelib.memberships.provider import FeeProvider, build_fee_provider
from chalicelib.memberships.reading import MembershipReads
from chalicelib.memberships.service import MembershipService
from chalicelib.onboarding.dynamo import DynamoOnboardingRepository, DynamoTerminalGuards
from chalicelib.onboarding.ports import OnboardingRepository
from chalicelib.onboarding.reading import OnboardingReads
from chalicelib.onboarding.service import OnboardingService, TerminalAuthenticator
from chalicelib.payments import audit as payments_audit
from chalicelib.payments.confirmation import ConfirmationService
from chalicelib.payments.dynamo import DynamoPaymentsRepository
from chalicelib.payments.dynamo_history import DynamoPaymentHistory
from chalicelib.payments.dynamo_reads import DynamoPaymentReads
from chalicelib.payments.figures import PaymentFigures
from chalicelib.payments.ports import MemberSavings, PaymentHistory, PaymentsRepository
from chalicelib.payments.reading import PaymentReads
from chalicelib.payments.service import PaymentsService
from chalicelib.payments.terminal import TerminalVerifier
from chalicelib.tables import ALL_MODELS

Job = Callable[[], dict[str, Any]]
Check = Callable[[], dict[str, Any]]
COUNTER_SHARDS = 32  # write shards of each contest counter (docs/contests.md)
# The scheduled jobs `POST /v1/admin/jobs/{name}` runs (the OpenAPI document's enum of `name`).
JOB_NAMES = ("memberships_lifecycle", "rank_contests", "confirm_bindings", "backfill_list_order")


@dataclass
class Services:
    """Everything a request, a schedule or a stream record may need, built once."""

    config: Config
    clock: Clock
    onboarding: OnboardingService
    terminal_auth: TerminalAuthenticator
    payments: PaymentsService
    memberships: MembershipService
    contests: ContestService
    onboarding_repo: OnboardingRepository
    payments_repo: PaymentsRepository
    membership_repo: MembershipRepository
    payment_reads: PaymentReads
    payment_figures: PaymentFigures
    confirmations: ConfirmationService
    identity: IdentityService
    platform_logins: PlatformLogins
    onboarding_reads: OnboardingReads
    membership_reads: MembershipReads
    jobs: dict[str, Job] = field(default_factory=dict)
    audit_checks: list[Check] = field(default_factory=list)
    # table base name -> the handler of that table's DynamoDB Stream batches
    stream_handlers: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)


def bootstrap(
    config: Config,
    *,
    clock: Clock | None = None,
    onboarding_repo: OnboardingRepository | None = None,
    fee_provider: FeeProvider | None = None,
    idempotency_store: IdempotencyStore | None = None,
    contest_repo: ContestRepository | None = None,
    contest_state: StateStore | None = None,
    admin_trail: AdminTrail | None = None,
    api_key_repo: ApiKeyRepository | None = None,
    auth_codes: AuthCodes | None = None,
    wall: Callable[[], float] | None = None,
    auth_rate: RateLimit | None = None,
    alipay_oauth: AlipayOAuth | None = None,
    wechat_login: WechatLogin | None = None,
    before_audit: Callable[[], Any] | None = None,
    rebind_tables: bool = False,
) -> Services:
    """Build the application for `config`. Overrides replace one part each; everything else
    is the DynamoDB adapter on the tables `config` names. `wall` is the wall clock of token
    lifetimes, the API key cache and the rate limit (tests move it); `auth_rate` the per-client
    limit of `/v1/auth/*` (default: generous on the local stage, where every client is 127.0.0.1)."""
    conn = storage.bind(config, ALL_MODELS, rebind=rebind_tables)
    clock = clock or (OffsetClock() if config.is_local else SystemClock())

    onboarding_repo = onboarding_repo or DynamoOnboardingRepository(conn)
    plans: dict[str, Callable[[str], list[dict[str, Any]]]] = {}
    trail = admin_trail or DynamoAdminTrail()
    onboarding = OnboardingService(onboarding_repo, clock, plans=lambda merchant_id: plans["list"](merchant_id),
                                   trail=trail)

    savings: MemberSavings = DynamoMemberSavings(conn)
    history: PaymentHistory = DynamoPaymentHistory()
    payments_repo = DynamoPaymentsRepository(conn, DynamoTerminalGuards(), savings, config.callback_log_ttl_days)
    payments = PaymentsService(payments_repo, clock, config, onboarding, savings,
                               TerminalVerifier(onboarding_repo))
    confirmations = ConfirmationService(payments_repo, onboarding, clock)
    cursors = CursorSigner(config.jwt_secret)
    payment_reads = PaymentReads(DynamoPaymentReads(), onboarding, clock, config.tz, cursors)

    membership_repo = DynamoMembershipRepository(conn)
    memberships = MembershipService(
        repo=membership_repo, clock=clock,
        provider=fee_provider or build_fee_provider(config.fee_provider),
        onboarding=onboarding, payments=history,
        idempotency=Idempotency(idempotency_store or DynamoIdempotencyStore(),
                                ttl_seconds=config.idempotency_ttl_seconds),
    )
    plans["list"] = memberships.public_plans

    contests = ContestService(
        repo=contest_repo or DynamoContestRepository(conn), state=contest_state or DynamoStateStore(conn),
        payments=history, memberships=DynamoMembershipHistory(), partners=onboarding_repo,
        trail=trail, clock=clock, tz=config.tz, shards=COUNTER_SHARDS, before_audit=before_audit,
    )

    identity = IdentityService(
        api_key_repo or DynamoApiKeyRepository(), auth_codes or DynamoAuthCodes(), onboarding, clock,
        jwt_secret=config.jwt_secret, cursors=cursors, wall=wall or wall_clock, trail=trail,
        rate=auth_rate or (LOCAL_AUTH_RATE if config.is_local else AUTH_RATE),
        key_token_seconds=config.key_token_seconds,
    )

    platform_logins = PlatformLogins(
        config, clock, alipay_oauth or AlipayOpenApiClient.from_config(config),
        wechat_login or WechatApiClient.from_config(config), identity, onboarding, confirmations,
        wall=wall or wall_clock)
    return Services(
        config=config, clock=clock, onboarding=onboarding, terminal_auth=TerminalAuthenticator(onboarding_repo),
        payments=payments, memberships=memberships, contests=contests,
        payment_reads=payment_reads,
        payment_figures=PaymentFigures(payments_repo, clock, config, onboarding, savings, cursors),
        confirmations=confirmations, identity=identity, platform_logins=platform_logins,
        onboarding_reads=OnboardingReads(onboarding_repo, onboarding, cursors),
        membership_reads=MembershipReads(membership_repo, onboarding, clock, cursors),
        onboarding_repo=onboarding_repo, payments_repo=payments_repo, membership_repo=membership_repo,
        jobs=dict(zip(JOB_NAMES, (memberships.run_lifecycle, contests.rank_all, confirmations.run_confirmations,
                                   lambda: _backfill_list_order(onboarding_repo, membership_repo)), strict=True)),
        audit_checks=[*payments_audit.checks(payments_repo, history, savings),
                      memberships.audit_fees, contests.audit_check],
        stream_handlers={"payments": contests.handle_payment_stream,
                         "memberships": contests.handle_membership_stream},
    )


def _backfill_list_order(*repos: Any) -> dict[str, Any]:
    """The `backfill_list_order` job: items written before the lists existed join them (the
    DynamoDB adapters; a fake repository writes its items complete and has nothing to do)."""
    written: dict[str, int] = {}
    for repo in repos:
        backfill = getattr(repo, "backfill_list_order", None)
        if backfill is not None:
            written.update(backfill())
    return {"written": written}
