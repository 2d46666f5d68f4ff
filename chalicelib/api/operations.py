"""Routes: OpenAPI document, deployment meta, jobs, audit and the local test clock."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from chalicelib.api.routing import Ctx, Router
from chalicelib.clock import OffsetClock, iso
from chalicelib.errors import Invalid, NotFound
from chalicelib.operations_responses import Audit, ClockReading, JobRun, Meta, OpenApiDocument
from chalicelib.schemas import EARLIEST, LATEST, YEAR_PATTERN, Body, Timestamp, parse_body

router = Router(__name__)


MAX_ADVANCE_SECONDS = 100 * 366 * 86400  # a century per call


def _exactly_one(schema: dict[str, Any]) -> None:
    """The document says what the view checks: exactly one of the two given; a null one counts
    as not given (the model's default)."""
    schema["properties"] = {
        "advance_seconds": {"type": ["number", "null"], "minimum": -MAX_ADVANCE_SECONDS,
                            "maximum": MAX_ADVANCE_SECONDS,
                            "description": "seconds to add to the clock's offset (negative: back); the clock "
                                           "must stay between 1970 and 9000"},
        "now": {"type": ["string", "null"], "format": "date-time", "pattern": YEAR_PATTERN,
                "description": "the time the clock should read now (with its offset; year 1970..8999)"},
    }
    given = {"advance_seconds": {"type": "number"}, "now": {"type": "string"}}
    schema["oneOf"] = [{"required": [name], "properties": {name: given[name], other: {"type": "null"}}}
                       for name, other in (("advance_seconds", "now"), ("now", "advance_seconds"))]


class ClockChange(Body):
    """Move the test clock: by `advance_seconds`, or to `now`."""

    model_config = ConfigDict(**Body.model_config, json_schema_extra=_exactly_one)

    advance_seconds: Annotated[int | float, Field(ge=-MAX_ADVANCE_SECONDS, le=MAX_ADVANCE_SECONDS)] | None = None
    now: Timestamp | None = None


@router.route("/v1/openapi.json", "GET", auth="none", tag="operations", response=OpenApiDocument)
def openapi(ctx: Ctx) -> dict[str, Any]:
    """The OpenAPI 3 document of this API (also the readiness probe)."""
    return _document()


@functools.cache
def _document() -> dict[str, Any]:
    """Built once per container (~30 ms of model schemas), at the first request: every route is
    registered by then."""
    from chalicelib.openapi import build_document

    return build_document()


@router.route("/v1/meta", "GET", auth="none", tag="operations", response=Meta)
def meta(ctx: Ctx) -> dict[str, Any]:
    """The deployment's time zone (business days, times shown to people) and stage."""
    return {"time_zone": ctx.services.config.tz_name, "stage": ctx.services.config.stage}


@router.route("/v1/admin/jobs/{name}", "POST", roles=("admin",), tag="operations", response=JobRun,
              errors=(404,))
def run_job(ctx: Ctx, name: str) -> dict[str, Any]:
    """Run a scheduled job now."""
    job = ctx.services.jobs.get(name)
    if job is None:
        raise NotFound(f"no job named {name!r}", code="unknown_job")
    return {"job": name, "result": job()}


@router.route("/v1/admin/audit", "GET", roles=("admin",), tag="operations", response=Audit)
def audit(ctx: Ctx) -> dict[str, Any]:
    """Recompute aggregates from recorded facts and compare with what is stored."""
    checks = [check() for check in ctx.services.audit_checks]
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def _test_clock(ctx: Ctx) -> OffsetClock:
    services = ctx.services
    if not services.config.is_local or not isinstance(services.clock, OffsetClock):
        raise NotFound("the test clock exists only on the local stage", code="not_found")
    return services.clock


@router.route("/v1/admin/clock", "GET", roles=("admin",), tag="operations", response=ClockReading,
              errors=(404,))
def get_clock(ctx: Ctx) -> dict[str, Any]:
    """Read the business clock (local stage only)."""
    return {"now": iso(_test_clock(ctx).now())}


@router.route("/v1/admin/clock", "POST", roles=("admin",), body=ClockChange, tag="operations",
              response=ClockReading, errors=(404,))
def set_clock(ctx: Ctx) -> dict[str, Any]:
    """Move the business clock (local stage only)."""
    clock = _test_clock(ctx)
    change = parse_body(ClockChange, ctx.raw)
    if (change.advance_seconds is None) == (change.now is None):
        raise Invalid("give exactly one of advance_seconds or now", code="invalid_value")
    if change.now is not None:
        return {"now": iso(clock.set(change.now))}
    assert change.advance_seconds is not None
    target = clock.now() + timedelta(seconds=float(change.advance_seconds))
    if not EARLIEST <= target < LATEST:
        raise Invalid("the clock must stay between 1970 and 9000", code="invalid_value")
    return {"now": iso(clock.advance(float(change.advance_seconds)))}
