"""yundian: the routing table. Views live in chalicelib/api/ blueprints; logic in services."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.api import contests, memberships, onboarding, operations, payments
from chalicelib.api.routing import contract_errors_middleware
from chalicelib.container import get_container
from chalicelib.observability import http_middleware, job_middleware, tracing_middleware

app = Chalice(app_name="yundian")
app.api.binary_types = []  # every body reaches the views as text; they read raw bytes themselves

app.register_middleware(contract_errors_middleware, "http")
app.register_middleware(http_middleware, "http")
app.register_middleware(job_middleware, "scheduled")
app.register_middleware(tracing_middleware, "all")

app.register_blueprint(onboarding.bp)
app.register_blueprint(operations.bp)
app.register_blueprint(memberships.bp)
app.register_blueprint(payments.bp)
app.register_blueprint(contests.bp)


def _run_job(name: str) -> dict[str, Any]:
    return get_container().jobs[name]()


@app.schedule(Rate(5, unit=Rate.MINUTES), name="rank_contests")
def rank_contests(event: Any) -> dict[str, Any]:
    return _run_job("rank_contests")


@app.schedule(Rate(5, unit=Rate.MINUTES), name="memberships_lifecycle")
def memberships_lifecycle(event: Any) -> dict[str, Any]:
    return _run_job("memberships_lifecycle")
