"""The platform simulator (`localdev/platform_simulator.py`) for tests: one per test process on a
free port, with keys made for the run, cleared of faults and of what it saw before each test.

Use it from a test module or conftest by importing the fixtures:

    from tests.simulator import platform_simulator, platform_simulator_server  # noqa: F401

`simulator_settings(sim)` gives the `Config` fields (or `simulator_env(sim)` the environment
variables) that point the real adapters at it; `FAST` keeps timeouts and backoff short.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import platform_crypto
from chalicelib.identity.platform_http import HttpPolicy
from localdev.platform_simulator import PlatformSimulator, start

APP_ID = "2021000000000042"
WECHAT_APPID = "wx0000000000000042"
WECHAT_SECRET = "3f1c0de5a1b2c3d4e5f60718293a4b5c"  # tests only
# short timeouts and next to no backoff, so faults cost milliseconds
FAST = HttpPolicy(connect_timeout=1.0, read_timeout=0.3, attempts=3, backoff_base=0.01, backoff_max=0.02)


@dataclass(frozen=True)
class SimulatorKeys:
    app_key: rsa.RSAPrivateKey = field(repr=False)  # our app's, the simulator trusts its public half
    platform_key: rsa.RSAPrivateKey = field(repr=False)  # Alipay's, the simulator signs with it
    other_key: rsa.RSAPrivateKey = field(repr=False)  # neither

    @property
    def app_private_pem(self) -> str:
        return platform_crypto.private_pem(self.app_key)

    @property
    def platform_public_pem(self) -> str:
        return platform_crypto.public_pem(self.platform_key)


@cache
def keys() -> SimulatorKeys:
    def new() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return SimulatorKeys(new(), new(), new())


def simulator_settings(sim: PlatformSimulator) -> dict[str, str]:
    """`Config` fields for the adapters to reach `sim` (`dataclasses.replace(config, **...)`)."""
    k = keys()
    return {"alipay_app_id": APP_ID, "alipay_app_private_key": k.app_private_pem,
            "alipay_public_key": k.platform_public_pem, "alipay_gateway_url": sim.alipay_gateway_url,
            "wechat_miniapp_appid": WECHAT_APPID, "wechat_miniapp_secret": WECHAT_SECRET,
            "wechat_api_base_url": sim.url}


def simulator_env(sim: PlatformSimulator) -> dict[str, str]:
    """The same as environment variables of the local stage."""
    k = keys()
    return {"ALIPAY_APP_ID": APP_ID, "ALIPAY_APP_PRIVATE_KEY": k.app_private_pem,
            "ALIPAY_PUBLIC_KEY": k.platform_public_pem, "ALIPAY_GATEWAY_URL": sim.alipay_gateway_url,
            "WECHAT_MINIAPP_APPID": WECHAT_APPID, "WECHAT_MINIAPP_SECRET": WECHAT_SECRET,
            "WECHAT_API_BASE_URL": sim.url}


@pytest.fixture(scope="session")
def platform_simulator_server() -> Iterator[PlatformSimulator]:
    k = keys()
    sim = start("127.0.0.1", 0, alipay_app_public_key_pem=platform_crypto.public_pem(k.app_key),
                alipay_platform_private_key=k.platform_key, wechat_appid=WECHAT_APPID, wechat_secret=WECHAT_SECRET,
                alipay_app_id=APP_ID)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def platform_simulator(platform_simulator_server: PlatformSimulator) -> Iterator[PlatformSimulator]:
    """The simulator with no fault pending and nothing seen yet."""
    platform_simulator_server.reset()
    try:
        yield platform_simulator_server
    finally:
        platform_simulator_server.reset()
