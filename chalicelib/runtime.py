"""The one `Services` of this process, for the views and event handlers in `app.py`.

In Lambda the first invocation builds them from the environment and, on a deployed stage, its
stage secret (`bootstrap(stage_secret.load_config())`: a cold start that cannot read it fails saying
why) and a warm container reuses them; tests and `localdev/` build their own with `bootstrap` and
`install` them. Importing this module (and so `app`) imports no area: the composition root,
its adapters and services are imported when they are first built, so importing the app does
nothing but declare routes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services


def from_environment() -> Services:
    from chalicelib.bootstrap import bootstrap
    from chalicelib.stage_secret import load_config

    return bootstrap(load_config())


class Runtime:
    def __init__(self, build: Callable[[], Services] = from_environment) -> None:
        self._build = build
        self._services: Services | None = None
        self._lock = threading.Lock()

    @property
    def services(self) -> Services:
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = self._build()
        return self._services

    def install(self, services: Services | None) -> None:
        self._services = services
