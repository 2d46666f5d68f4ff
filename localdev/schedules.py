"""A local stand-in for the EventBridge schedules of the deployed jobs (`make run`).

Every `every` seconds (default `YUNDIAN_LOCAL_JOB_SECONDS`, 60) it runs each job once, in a
daemon thread of the server's process, so the jobs share the server's business clock like the
deployed schedules share AWS's. A job that raises is logged and runs again at the next tick,
as a failed scheduled invocation would.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.observability import logger

Job = Callable[[], Any]


def job_seconds(env: Mapping[str, str] | None = None) -> float:
    return float((os.environ if env is None else env).get("YUNDIAN_LOCAL_JOB_SECONDS", "60"))


class LocalSchedules:
    def __init__(self, jobs: Mapping[str, Job], every: float | None = None) -> None:
        self.jobs = dict(jobs)
        self.every = job_seconds() if every is None else every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, bool]:
        """Run every job once; returns which succeeded."""
        ok: dict[str, bool] = {}
        for name, job in self.jobs.items():
            try:
                result = job()
                logger.info("local scheduled job ran", extra={"job": name, "result": result})
                ok[name] = True
            except Exception:  # noqa: BLE001 - a failed run is retried at the next tick, as on AWS
                logger.exception("local scheduled job failed", extra={"job": name})
                ok[name] = False
        return ok

    def start(self) -> threading.Thread:
        """Run the jobs every `every` seconds (the first run one period from now) until `stop()`."""
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.every):
                self.run_once()

        self._thread = threading.Thread(target=loop, name="local-schedules", daemon=True)
        self._thread.start()
        logger.info("local schedules started", extra={"jobs": sorted(self.jobs), "job_seconds": self.every})
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
