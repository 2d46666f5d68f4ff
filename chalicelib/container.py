"""The composition root: config, clock, clients, repositories and services, built once per
container (warm Lambda starts reuse it). Tests build their own with `Container(...)` and
install it with `set_container`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any

from chalicelib import storage
from chalicelib.clock import Clock, OffsetClock, SystemClock
from chalicelib.config import Config
from chalicelib.memberships import wiring as memberships_wiring
from chalicelib.memberships.service import MembershipService
from chalicelib.onboarding.repository import DynamoOnboardingRepository, OnboardingRepository
from chalicelib.onboarding.service import OnboardingService, TerminalAuthenticator
from chalicelib.payments import audit as payments_audit
from chalicelib.payments.repository import DynamoPaymentsRepository
from chalicelib.payments.service import PaymentsService
from chalicelib.payments.terminal import TerminalVerifier
from chalicelib.tables import ALL_MODELS

Job = Callable[[], dict[str, Any]]


class Container:
    def __init__(self, config: Config, clock: Clock | None = None,
                 onboarding_repo: OnboardingRepository | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or (OffsetClock() if config.is_local else SystemClock())
        self._onboarding_repo = onboarding_repo
        storage.configure(config, ALL_MODELS)

    @cached_property
    def onboarding_repo(self) -> OnboardingRepository:
        return self._onboarding_repo or DynamoOnboardingRepository(storage.connection())

    @cached_property
    def onboarding(self) -> OnboardingService:
        return OnboardingService(self.onboarding_repo, self.clock, plans=self.plans_lister)

    @cached_property
    def terminal_auth(self) -> TerminalAuthenticator:
        return TerminalAuthenticator(self.onboarding_repo)

    # -- payments area
    @cached_property
    def terminal_verifier(self) -> TerminalVerifier:
        """Signature check for routes that claim the nonce in their own transaction."""
        return TerminalVerifier(self.onboarding_repo)

    @cached_property
    def payments_repo(self) -> DynamoPaymentsRepository:
        return DynamoPaymentsRepository(storage.connection(), self.config.callback_log_ttl_days)

    @cached_property
    def payments(self) -> PaymentsService:
        return PaymentsService(self.payments_repo, self.clock, self.config, self.onboarding.merchant_for,
                               self.onboarding_repo.merchant_by_seller)

    def plans_lister(self, merchant_id: str) -> list[dict[str, Any]]:
        """Plans shown on the public store page."""
        return self.memberships.public_plans(merchant_id)

    # -- memberships (built in chalicelib/memberships/wiring.py)
    @cached_property
    def memberships(self) -> MembershipService:
        return memberships_wiring.build_service(self)

    # -- contests (chalicelib/contests/wiring.py)
    @cached_property
    def contests(self) -> Any:
        from chalicelib.contests.wiring import build_contests

        return build_contests(self)

    @cached_property
    def audit_checks(self) -> list[Callable[[], dict[str, Any]]]:
        """Each returns `{"name", "ok", "detail"}`; the areas add theirs."""
        checks: list[Callable[[], dict[str, Any]]] = [*payments_audit.checks(self.payments_repo)]
        checks += memberships_wiring.audit_checks(self)
        checks.append(lambda: self.contests.audit_check())  # contests
        return checks

    @cached_property
    def jobs(self) -> dict[str, Job]:
        """Scheduled jobs by name; `POST /v1/admin/jobs/{name}` and the schedules run these."""
        jobs: dict[str, Job] = {}
        jobs.update(memberships_wiring.jobs(self))
        jobs["rank_contests"] = lambda: self.contests.rank_all()  # contests
        return jobs


_container: Container | None = None
_lock = threading.Lock()


def get_container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container(Config.from_env())
                from chalicelib import local_runtime

                if local_runtime.wanted(_container):
                    local_runtime.start(_container)
    return _container


def set_container(container: Container | None) -> None:
    global _container
    _container = container
