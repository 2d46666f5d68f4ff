"""Shared fixtures. DynamoDB Local (AWS's emulator) is started once per test process on a free
port, in memory, and stopped at the end, even when tests fail. Set YUNDIAN_TEST_DDB_ENDPOINT
to reuse a running one."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Fake credentials and a region for the local endpoint; set before any client is built.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ["YUNDIAN_STAGE"] = "local"

from chalicelib.bootstrap import Services, bootstrap  # noqa: E402
from chalicelib.clock import OffsetClock  # noqa: E402
from chalicelib.config import Config  # noqa: E402
from chalicelib.storage import bind, create_tables  # noqa: E402
from chalicelib.tables import ALL_MODELS  # noqa: E402
from tests.helpers import Api  # noqa: E402
from tests.simulator import platform_simulator, platform_simulator_server  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    existing = os.environ.get("YUNDIAN_TEST_DDB_ENDPOINT")
    if existing:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = existing
        yield existing
        return
    from scripts.dynamodb_local import start

    handle = start()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = handle.endpoint
    try:
        yield handle.endpoint
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def test_config(ddb_endpoint: str) -> Config:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    config = Config.from_env({
        "YUNDIAN_STAGE": "local",
        "YUNDIAN_JWT_SECRET": "test-secret-0123456789-abcdefghijklmnop",
        "YUNDIAN_TABLE_PREFIX": f"t{int(time.time())}-{worker}-",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ALIPAY_APP_ID": "2021000000000001",
        "ALIPAY_PUBLIC_KEY": "",
    })
    bind(config, ALL_MODELS)  # this run's tables, once
    create_tables(ALL_MODELS)
    return config


@pytest.fixture
def services(test_config: Config) -> Iterator[Services]:
    """The application as `bootstrap` builds it on DynamoDB Local, with the local test clock,
    installed as the one the HTTP views of `app.py` use."""
    import app as app_module

    services = bootstrap(test_config, clock=OffsetClock())
    app_module.runtime.install(services)
    try:
        yield services
    finally:
        app_module.runtime.install(None)


@pytest.fixture
def api(services: Services) -> Api:
    from chalice.test import Client

    import app as app_module

    return Api(Client(app_module.app), services)
