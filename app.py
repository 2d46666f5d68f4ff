"""yundian: the routing table. Views live in chalicelib/api/ blueprints; logic in services;
everything is built by `chalicelib.bootstrap.bootstrap` and held for this process by `runtime`."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.api import console, contests, identity, memberships, onboarding, operations, payments, platform_auth
from chalicelib.api.routing import contract_errors_middleware
from chalicelib.observability import http_middleware, job_middleware, tracing_middleware
from chalicelib.runtime import Runtime

app = Chalice(app_name="yundian")
app.api.binary_types = []  # every body reaches the views as text; they read raw bytes themselves
runtime = Runtime()  # built from the environment on first use; tests and localdev/ install their own

app.register_middleware(contract_errors_middleware, "http")
app.register_middleware(http_middleware, "http")
app.register_middleware(job_middleware, "scheduled")
app.register_middleware(tracing_middleware, "all")

for area in (onboarding, operations, memberships, payments, contests, identity, platform_auth, console):
    app.register_blueprint(area.router.bind(runtime))


@app.schedule(Rate(5, unit=Rate.MINUTES), name="rank_contests")
def rank_contests(event: Any) -> dict[str, Any]:
    return runtime.services.jobs["rank_contests"]()


@app.schedule(Rate(5, unit=Rate.MINUTES), name="memberships_lifecycle")
def memberships_lifecycle(event: Any) -> dict[str, Any]:
    return runtime.services.jobs["memberships_lifecycle"]()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="confirm_bindings")
def confirm_bindings(event: Any) -> dict[str, Any]:
    return runtime.services.jobs["confirm_bindings"]()
