"""What the operations endpoints answer (`chalicelib.api.operations`), as the OpenAPI document
declares it (`response=` on the routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# The scheduled jobs (`chalicelib.bootstrap.JOB_NAMES`; tests/unit/test_openapi_responses_operations.py
# keeps the two equal).
JobName = Literal["memberships_lifecycle", "rank_contests", "confirm_bindings", "backfill_list_order"]


class OpenApiDocument(BaseModel):
    """This API's OpenAPI 3.1 document."""

    openapi: Literal["3.1.0"]
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


class Meta(BaseModel):
    """What a client shows people: the deployment's time zone and its stage."""

    time_zone: str = Field(description="IANA name of the zone of business days and of times shown to people")
    stage: str = Field(description="`local` or the deployed stage's name")


class JobRun(BaseModel):
    """A scheduled job, run now, and what it did."""

    job: JobName
    result: dict[str, Any] = Field(description="what the job did (counts; the shape is the job's own)")


class AuditCheck(BaseModel):
    """One comparison of stored aggregates with their recomputation from recorded facts."""

    name: str
    ok: bool
    detail: Any = Field(description="what was compared and any mismatches (the shape is the check's own)")


class Audit(BaseModel):
    """Every audit check; `ok` when all agree."""

    ok: bool
    checks: list[AuditCheck]


class ClockReading(BaseModel):
    """The business clock's time (the local test clock)."""

    now: datetime
