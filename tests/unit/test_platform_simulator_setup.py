"""`make run`'s platform-login identities (`localdev.platform_simulator.local_logins`): what the
environment sets is kept, the rest is generated once into `.dynamodb/` (mode 0600) and stays the
same across runs; the simulator signs with the platform key whose public half the server trusts,
or refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import platform_crypto
from localdev import platform_keys
from localdev.platform_simulator import APP_KEY_FILE, LOCAL_WECHAT_APPID, WECHAT_FILE, local_logins

THEIRS = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NAMES = {"ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "ALIPAY_APP_ID", "WECHAT_MINIAPP_APPID",
         "WECHAT_MINIAPP_SECRET"}


def test_unset_values_are_generated_once_privately_and_stay(tmp_path: Path) -> None:
    first = local_logins({}, tmp_path)
    assert set(first.env) == NAMES
    assert first.env["ALIPAY_APP_ID"] == platform_keys.LOCAL_ALIPAY_APP_ID
    assert first.env["WECHAT_MINIAPP_APPID"] == LOCAL_WECHAT_APPID and len(first.env["WECHAT_MINIAPP_SECRET"]) == 32
    assert first.env["ALIPAY_PUBLIC_KEY"] == platform_keys.public_pem(tmp_path)  # the notifications' key too
    files = (APP_KEY_FILE, WECHAT_FILE, platform_keys.KEY_FILE)
    assert {name: oct((tmp_path / name).stat().st_mode & 0o777) for name in files} == dict.fromkeys(files, "0o600")
    assert local_logins({}, tmp_path).env == first.env
    assert first.wechat_secret not in repr(first) and "PRIVATE" not in repr(first)


def test_values_the_environment_sets_are_kept(tmp_path: Path) -> None:
    environ = {"ALIPAY_PLATFORM_PRIVATE_KEY": platform_crypto.private_pem(THEIRS),
               "ALIPAY_PUBLIC_KEY": platform_crypto.public_pem(THEIRS), "ALIPAY_APP_ID": "2021009900000009",
               "ALIPAY_APP_PRIVATE_KEY": platform_crypto.private_pem(THEIRS),
               "WECHAT_MINIAPP_APPID": "wx1111111111111111", "WECHAT_MINIAPP_SECRET": "s" * 32}
    logins = local_logins(environ, tmp_path)
    assert logins.env == {}
    assert platform_crypto.same_key(logins.platform_key.public_key(), THEIRS.public_key())
    assert (logins.alipay_app_id, logins.wechat_appid, logins.wechat_secret) == (
        "2021009900000009", "wx1111111111111111", "s" * 32)
    assert not (tmp_path / APP_KEY_FILE).exists() and not (tmp_path / WECHAT_FILE).exists()


@pytest.mark.parametrize("own_platform_key", [True, False])
def test_a_trusted_key_that_is_not_the_simulators_is_refused(tmp_path: Path, own_platform_key: bool) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    environ = {"ALIPAY_PUBLIC_KEY": platform_crypto.public_pem(other)}
    if own_platform_key:
        environ["ALIPAY_PLATFORM_PRIVATE_KEY"] = platform_crypto.private_pem(THEIRS)
    with pytest.raises(RuntimeError, match="set ALIPAY_PLATFORM_PRIVATE_KEY and ALIPAY_PUBLIC_KEY together"):
        local_logins(environ, tmp_path)


def test_a_platform_key_of_their_own_gives_its_public_half(tmp_path: Path) -> None:
    logins = local_logins({"ALIPAY_PLATFORM_PRIVATE_KEY": platform_crypto.private_pem(THEIRS)}, tmp_path)
    assert logins.env["ALIPAY_PUBLIC_KEY"] == platform_crypto.public_pem(THEIRS)
    assert not (tmp_path / platform_keys.KEY_FILE).exists()
