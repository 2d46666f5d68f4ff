"""Bindings verified, payments confirmed: when an admin verifies a merchant's platform id, the
payments the platform already notified through it while it was a mere claim are confirmed — from
their recorded reports, since the platform will not send them again."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.auth import Principal
from chalicelib.clock import Clock
from chalicelib.observability import metrics
from chalicelib.onboarding.domain import Binding, BindingChange
from chalicelib.onboarding.reading import binding_document
from chalicelib.payments.ports import PaymentsRepository

CONFIRM_BATCH = 50  # pending confirmations done within the request that verifies a binding
CONFIRM_JOB_BATCH = 500  # per binding and run of the confirm_bindings job (every minute)


class Bindings(Protocol):
    """What confirmation needs of onboarding's bindings (OnboardingService offers it)."""

    def binding(self, platform: str, platform_id: str) -> Binding | None: ...
    def verify_binding(self, who: Principal, merchant_id: str, platform: str, raw: bytes) -> BindingChange: ...
    def verify_by_platform(self, who: Principal, merchant_id: str, platform: str,
                           platform_id: str) -> BindingChange: ...




class ConfirmationService:
    def __init__(self, repo: PaymentsRepository, bindings: Bindings, clock: Clock) -> None:
        self.repo = repo
        self.merchants = bindings
        self.clock = clock

    def verify_binding(self, who: Principal, merchant_id: str, platform: str, raw: bytes) -> dict[str, Any]:
        """An admin verifies a merchant's platform id; the payments already notified through it are
        confirmed now (a batch) and by the `confirm_bindings` job (the rest, within a minute)."""
        change = self.merchants.verify_binding(who, merchant_id, platform, raw)
        self._confirm_notified(change.binding, CONFIRM_BATCH)
        return binding_document(change.binding)

    def verify_by_platform(self, who: Principal, merchant_id: str, platform: str, platform_id: str) -> dict[str, Any]:
        """The platform proved the merchant's id (its authorization): verified, and the payments
        already notified through it confirmed, as for an admin's verification."""
        change = self.merchants.verify_by_platform(who, merchant_id, platform, platform_id)
        self._confirm_notified(change.binding, CONFIRM_BATCH)
        return binding_document(change.binding)

    def _confirm_notified(self, binding: Binding, limit: int) -> bool:
        """Confirm up to `limit` payments notified through `binding` before it was verified; True
        when none is left. Reports recorded for another merchant (the id's earlier claimant) leave
        the pending index unconfirmed: the platform vouched for this merchant's id, not theirs."""
        reports = self.repo.pending_reports(binding.platform, binding.platform_id, limit)
        for report in reports:
            if report.merchant_id != binding.merchant_id:
                self.repo.drop_pending(report)
            elif self.repo.confirm_pending(report, self.clock.now()):
                metrics.add_metric(name="PaymentConfirmed", unit="Count", value=1)
        if len(reports) < limit:
            return True
        self.repo.add_confirm_task(binding.platform, binding.platform_id)
        return False

    def run_confirmations(self) -> dict[str, Any]:
        """The `confirm_bindings` job: work off the bindings with confirmations still pending."""
        done = left = 0
        for platform, platform_id in self.repo.confirm_tasks():
            binding = self.merchants.binding(platform, platform_id)
            if binding is None or not binding.verified or self._confirm_notified(binding, CONFIRM_JOB_BATCH):
                self.repo.done_confirm_task(platform, platform_id)
                done += 1
            else:
                left += 1
        return {"bindings_done": done, "bindings_left": left}
