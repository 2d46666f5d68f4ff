"""What AWS runs around the functions, stood in for under `make run` (local stage only):
the DynamoDB Stream event sources that feed the contest, and the scheduled jobs.

`chalice local` serves HTTP only, so the server process starts these daemon threads when
`YUNDIAN_LOCAL_BACKGROUND=1` (set by scripts/run_local.py). They run in the server's process,
so they share its business clock (the test clock) like the deployed schedules share AWS's.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.container import Container

_started = False
_lock = threading.Lock()


def wanted(container: Container) -> bool:
    return container.config.is_local and os.environ.get("YUNDIAN_LOCAL_BACKGROUND") == "1"


def start(container: Container) -> None:
    """Start the stream poller and the job loop once per process."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    from chalicelib.contests.wiring import local_stream_poller

    local_stream_poller().start()
    every = float(os.environ.get("YUNDIAN_LOCAL_JOB_SECONDS", "60"))
    stop = threading.Event()

    def jobs() -> None:
        while not stop.wait(every):
            for name, job in container.jobs.items():
                try:
                    result = job()
                    logger.info("local scheduled job ran", extra={"job": name, "result": result})
                except Exception:  # noqa: BLE001 - a failed run is retried at the next tick, as on AWS
                    logger.exception("local scheduled job failed", extra={"job": name})

    threading.Thread(target=jobs, name="local-schedules", daemon=True).start()
    logger.info("local stream poller and schedules started", extra={"job_seconds": every})
