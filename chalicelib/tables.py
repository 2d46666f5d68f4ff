"""Every table's model, in one list: the single definition that local set-up, tests and
`infra/` (generated and drift-checked) all read."""

from __future__ import annotations

from chalicelib.admin_trail.models import MODELS as ADMIN_TRAIL_MODELS
from chalicelib.contests.models import MODELS as CONTEST_MODELS
from chalicelib.identity.models import MODELS as IDENTITY_MODELS
from chalicelib.memberships.models import MODELS as MEMBERSHIP_MODELS
from chalicelib.onboarding.models import MODELS as ONBOARDING_MODELS
from chalicelib.payments.models import MODELS as PAYMENT_MODELS
from chalicelib.storage import BaseModel, GuardModel

ALL_MODELS: list[type[BaseModel]] = [
    GuardModel,
    *ONBOARDING_MODELS,
    *PAYMENT_MODELS,
    *MEMBERSHIP_MODELS,
    *CONTEST_MODELS,
    *ADMIN_TRAIL_MODELS,
    *IDENTITY_MODELS,
]
