"""The HTTP server `make run` starts (instead of the `chalice local` CLI), for the local stage.

It is `chalice local` with what AWS runs around the functions, in one process:

- the stage's configuration applied as `chalice local --stage local` applies it (the stage's
  environment variables of .chalice/config.json win over the caller's);
- one composition root (`bootstrap`) installed into the app, on the test clock (`OffsetClock`,
  moved with `POST /v1/admin/clock`), shared by the views, the stream poller and the schedules;
- the DynamoDB stream event sources (`localdev.streams`) and the schedules (`localdev.schedules`)
  in daemon threads;
- chalice's own local server classes (`chalice.local`), with a listen backlog that takes a
  burst of clients: socketserver's default of 5 resets connections when 20 terminals connect
  at once.

    python -m localdev.server [--host 127.0.0.1] [--port 8000] [--stage local]

SIGINT or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalice.app import Chalice  # noqa: E402
from chalice.cli.factory import CLIFactory  # noqa: E402
from chalice.config import Config as ChaliceConfig  # noqa: E402
from chalice.deploy.validate import validate_routes  # noqa: E402
from chalice.local import (  # noqa: E402
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

LISTEN_BACKLOG = 128


class BackloggedHTTPServer(ThreadedHTTPServer):
    """chalice's threaded local server with a listen backlog for bursts of connections."""

    request_queue_size = LISTEN_BACKLOG


# What the deployment's gateway answers for a path or method no route has (infra/build.py maps API
# Gateway's MISSING_AUTHENTICATION_TOKEN response to it): the contract's error shape, not a 403.
NO_ROUTE_BODY = b'{"code":"not_found","message":"no such route"}'


class ContractRequestHandler(ChaliceRequestHandler):
    """chalice's local request handler, answering an unknown route `404 not_found` as the deployed
    gateway does, and every HTTP method (TRACE, CONNECT, ...) through the routing table."""

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError) and b"Missing Authentication Token" in (error.body or b""):
            self._send_http_response(404, {"Content-Type": "application/json"}, NO_ROUTE_BODY)
            return
        super()._send_error_response(error)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a `do_<METHOD>` an HTML 501; every method (TRACE,
        # CONNECT, QUERY, ...) goes through the routing table instead: 405 on a route, else 404.
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._generic_handle
        raise AttributeError(name)


class Stop(Exception):
    """SIGTERM: leave through the same clean-up as Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Stop()


def stage_config(stage: str, project_dir: Path = ROOT) -> ChaliceConfig:
    """The chalice config of a stage, read and validated as the chalice CLI reads it."""
    return CLIFactory(str(project_dir)).create_config_obj(chalice_stage_name=stage)


def create_server(app_obj: Chalice, config: ChaliceConfig, host: str, port: int) -> LocalDevServer:
    """`chalice.local.create_local_server`, with `BackloggedHTTPServer` as the server class."""
    validate_routes(app_obj.routes)  # what `chalice deploy` would refuse, refused here too
    if not isinstance(app_obj, LocalChalice):
        # As chalice.local.create_local_server does: the current request becomes thread-local,
        # so concurrent requests of the threaded server do not see each other's.
        CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
        app_obj.__class__ = CustomLocalChalice
    return LocalDevServer(app_obj, config, host, port, server_cls=BackloggedHTTPServer,
                          handler_cls=ContractRequestHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("YUNDIAN_PORT", "8000")))
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _on_sigterm)
    # Started in the background by a shell, SIGINT arrives ignored: make Ctrl-C work regardless.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # chalice local's logging: the app's stdlib loggers to stdout
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as under the chalice CLI

    chalice_config = stage_config(args.stage)
    os.environ.update(chalice_config.environment_variables)  # the stage's environment wins

    import app as app_module
    from chalicelib.bootstrap import bootstrap
    from chalicelib.clock import OffsetClock
    from chalicelib.config import Config
    from localdev.schedules import LocalSchedules
    from localdev.streams import lazy_poller

    config = Config.from_env()
    if not config.is_local:
        print(f"localdev.server serves the local stage only, not {config.stage!r}", file=sys.stderr)
        return 2
    runtime = app_module.runtime
    poller = lazy_poller(config, lambda: runtime.services)
    # Locally the streams are read by the poller, not by Lambda: the audit drains it first, so it
    # compares settled counters, as it would after Lambda caught up.
    services = bootstrap(config, clock=OffsetClock(), before_audit=poller.drain)
    runtime.install(services)
    schedules = LocalSchedules(services.jobs)
    server: LocalDevServer | None = None
    try:
        server = create_server(app_module.app, chalice_config, args.host, args.port)
        poller.start()
        schedules.start()
        server.serve_forever()
        return 0
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        schedules.stop()
        poller.stop()
        if server is not None:
            server.server.server_close()


if __name__ == "__main__":
    sys.exit(main())
