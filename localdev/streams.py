"""The local stream poller wired like the deployment: one stream per table that has a deployed
stream function (infra/streams.py), delivered to that table's handler in the composition root."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from infra.streams import STREAM_HANDLERS
from localdev.stream_poller import Deliver, LocalStreamPoller

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services
    from chalicelib.config import Config


def stream_tables() -> list[str]:
    """Base names of the tables whose streams feed deployed functions ("payments", ...)."""
    return sorted({table for _, table in STREAM_HANDLERS.values()})


def _endpoint(endpoint: str | None) -> str | None:
    # boto3 honours AWS_ENDPOINT_URL_DYNAMODB for "dynamodb" only, not for "dynamodbstreams"
    return endpoint or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")


def poller_for(services: Services, *, endpoint: str | None = None, **options: Any) -> LocalStreamPoller:
    """A poller delivering each stream table's records to `services.stream_handlers[base]`."""
    config = services.config
    handlers = {config.table_name(base): handler for base, handler in services.stream_handlers.items()}
    return LocalStreamPoller(handlers, endpoint=_endpoint(endpoint), region=config.region, **options)


def lazy_poller(config: Config, services: Callable[[], Services], *, endpoint: str | None = None,
                **options: Any) -> LocalStreamPoller:
    """Like `poller_for`, but each batch goes to the handler of whatever `services()` returns at
    delivery time — as a deployed stream function calls the installed composition root. Lets
    the poller exist before the services (whose audit drains it) are built."""

    def deliver_to(base: str) -> Deliver:
        return lambda event: services().stream_handlers[base](event)

    handlers = {config.table_name(base): deliver_to(base) for base in stream_tables()}
    return LocalStreamPoller(handlers, endpoint=_endpoint(endpoint), region=config.region, **options)
