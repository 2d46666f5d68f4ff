"""The stage secret (chalicelib/stage_secret.py) on moto's Secrets Manager: a deployed stage reads
its keys from it once per cold start, refuses them in its environment and says what is wrong
with a secret it cannot use; the local stage never calls AWS. The keys of one stage are more
than Lambda's 4 KB of environment variables could hold."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws

from chalicelib import runtime
from chalicelib.config import SECRET_FIELDS, Config
from chalicelib.stage_secret import load_config

ROOT = Path(__file__).resolve().parents[2]
SECRET_ID = "yundian/dev"
LAMBDA_ENV_LIMIT = 4096  # bytes, all of a function's variables' names and values together


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _platform_certificate(ca: rsa.RSAPrivateKey) -> str:
    """A WeChat Pay platform certificate of the shape the platform issues (CA-signed, its names
    and extensions), PEM."""
    key, now, attr = _key(), datetime.now(UTC), x509.NameAttribute
    issuer = x509.Name([attr(NameOID.COUNTRY_NAME, "CN"), attr(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
                        attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "Tenpay.com CA Center"),
                        attr(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    subject = x509.Name([attr(NameOID.COUNTRY_NAME, "CN"), attr(NameOID.STATE_OR_PROVINCE_NAME, "Guangdong Province"),
                         attr(NameOID.LOCALITY_NAME, "Shenzhen"),
                         attr(NameOID.ORGANIZATION_NAME, "Tencent Technology (Shenzhen) Company Limited"),
                         attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "Tenpay.com"),
                         attr(NameOID.COMMON_NAME, "Tenpay.com sign")])
    crl = x509.DistributionPoint([x509.UniformResourceIdentifier("http://evca.itrus.com.cn/public/itrusca.crl")],
                                 None, None, None)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=5 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=False)
            .add_extension(x509.CRLDistributionPoints([crl]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _bare_private(key: rsa.RSAPrivateKey) -> str:
    """A private key as the bare base64 body of its PKCS#1 DER."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return "".join(pem.strip().splitlines()[1:-1])


def _stage_values() -> dict[str, str]:
    """One stage's secret-held values as a real stage has them: both WeChat Pay key modes (a
    platform certificate bundle of two, as during a certificate rotation), Alipay's key, our
    app's private key and the mini-program's secret."""
    ca = _key()
    return {
        "jwt_secret": secrets.token_urlsafe(48),
        "alipay_app_id": "2021004100000001",
        "alipay_public_key": _public_pem(_key()),
        "wechatpay_sp_mchid": "1900000109",
        "wechatpay_apiv3_key": secrets.token_hex(16),
        "wechatpay_public_key_id": "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(32)),
        "wechatpay_public_key": _public_pem(_key()),
        "wechatpay_platform_certs": _platform_certificate(ca) + _platform_certificate(ca),
        "alipay_app_private_key": _bare_private(_key()),  # as Alipay's key tool gives it
        "wechat_miniapp_secret": secrets.token_hex(16),
    }


VALUES = _stage_values()


def stage_env(stage: str = "dev") -> dict[str, str]:
    """A deployed stage's environment as .chalice/config.json gives it."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"][stage]["environment_variables"]}


class Calls:
    """GetSecretValue calls a client made."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)

    def _count(self, **_: Any) -> None:
        self.count += 1


@pytest.fixture
def aws() -> Iterator[Any]:
    """moto's Secrets Manager and a client of it; Powertools' default provider (a process
    global) is dropped before and after, so it is built inside the mock."""
    DEFAULT_PROVIDERS.pop("secrets", None)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()
    DEFAULT_PROVIDERS.pop("secrets", None)


@pytest.fixture
def provider(aws: Any) -> parameters.SecretsProvider:
    return parameters.SecretsProvider(boto3_client=aws)


def test_a_deployed_stage_takes_its_keys_from_the_stage_secret(aws: Any, provider: parameters.SecretsProvider) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps(VALUES))
    config = load_config(stage_env("dev"), provider=provider)
    assert {key: getattr(config, key) for key in SECRET_FIELDS} == VALUES
    assert (config.stage, config.table_prefix, config.tz_name, config.fee_provider) == (
        "dev", "yundian-dev-", "Asia/Shanghai", "sandbox")  # what is not secret stays in the environment


def test_the_secret_is_read_once_per_cold_start(aws: Any, provider: parameters.SecretsProvider) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps(VALUES))
    calls = Calls(aws)
    first = load_config(stage_env("dev"), provider=provider)
    second = load_config(stage_env("dev"), provider=provider)  # a build retried in the same container
    assert calls.count == 1 and first == second


def test_the_runtime_reads_it_once_through_powertools_default_provider(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps(VALUES))
    for name, value in stage_env("dev").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "yundian-dev")
    built: list[Config] = []
    monkeypatch.setattr("chalicelib.bootstrap.bootstrap", lambda config: built.append(config) or config)
    held = runtime.Runtime()
    assert held.services is held.services and len(built) == 1
    assert built[0].wechatpay_platform_certs == VALUES["wechatpay_platform_certs"]
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({**VALUES, "jwt_secret": "n" * 40}))
    runtime.from_environment()  # a second build in this container: the cached value, no new read
    assert built[1] == built[0]


@pytest.mark.parametrize("stored, expected", [
    ({k: v for k, v in VALUES.items() if k not in ("wechatpay_apiv3_key", "jwt_secret")},
     "stage secret 'yundian/dev' lacks jwt_secret, wechatpay_apiv3_key"),
    ({**{k: v for k, v in VALUES.items() if k != "wechatpay_apiv3_key"}, "wechatpay_apiv3key": "k"},
     "lacks wechatpay_apiv3_key .*keys no field reads: wechatpay_apiv3key"),
    ({**VALUES, "wechatpay_sp_mchid": 1900000109}, "wechatpay_sp_mchid must be JSON strings"),
    ([VALUES], "'yundian/dev' is JSON but not an object"),
    ({**VALUES, "jwt_secret": "short"}, "the stage secret's jwt_secret of stage 'dev' must be at least 32 bytes"),
])
def test_a_secret_it_cannot_use_fails_the_cold_start_saying_why(
        aws: Any, provider: parameters.SecretsProvider, stored: Any, expected: str) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps(stored))
    with pytest.raises(RuntimeError, match=expected) as failed:
        load_config(stage_env("dev"), provider=provider)
    assert VALUES["wechatpay_public_key"] not in str(failed.value)  # it never quotes a value


def test_malformed_json_names_the_secret(aws: Any, provider: parameters.SecretsProvider) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString='{"jwt_secret": "' + VALUES["jwt_secret"] + '",')
    with pytest.raises(RuntimeError, match=r"stage secret 'yundian/dev' is not JSON \(Expecting") as failed:
        load_config(stage_env("dev"), provider=provider)
    assert VALUES["jwt_secret"] not in str(failed.value)


def test_a_missing_secret_names_it(aws: Any, provider: parameters.SecretsProvider) -> None:
    with pytest.raises(RuntimeError, match="cannot read stage secret 'yundian/dev': .*ResourceNotFoundException"):
        load_config(stage_env("dev"), provider=provider)


def test_access_denied_names_the_secret_and_the_permission() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "AccessDeniedException",
                              "User is not authorized to perform: secretsmanager:GetSecretValue")
        with pytest.raises(RuntimeError, match="cannot read stage secret 'yundian/dev': .*AccessDeniedException.*"
                                               "Lambda role may secretsmanager:GetSecretValue"):
            load_config(stage_env("dev"), provider=parameters.SecretsProvider(boto3_client=client))


def test_a_secret_fixed_after_a_failed_cold_start_is_read_again(
        aws: Any, provider: parameters.SecretsProvider) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps({**VALUES, "jwt_secret": "short"}))
    with pytest.raises(RuntimeError, match="at least 32 bytes"):
        load_config(stage_env("dev"), provider=provider)
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(VALUES))
    assert load_config(stage_env("dev"), provider=provider).jwt_secret == VALUES["jwt_secret"]


def test_a_deployed_stage_names_its_secret() -> None:
    env = {k: v for k, v in stage_env("dev").items() if k != "YUNDIAN_SECRET_ID"}
    with pytest.raises(RuntimeError, match="YUNDIAN_SECRET_ID is not set for stage 'dev'"):
        load_config(env)


@pytest.mark.parametrize("key", sorted(SECRET_FIELDS))
def test_a_deployed_stage_refuses_secret_held_values_in_its_environment(
        aws: Any, provider: parameters.SecretsProvider, key: str) -> None:
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps(VALUES))
    env = {**stage_env("dev"), SECRET_FIELDS[key]: VALUES[key]}
    with pytest.raises(RuntimeError, match=f"takes {SECRET_FIELDS[key]} from its stage secret only"):
        load_config(env, provider=provider)


def test_the_local_stage_never_calls_secrets_manager(aws: Any, provider: parameters.SecretsProvider) -> None:
    calls = Calls(aws)  # and no secret exists
    env = {**stage_env("local"), "YUNDIAN_SECRET_ID": SECRET_ID,
           **{name: VALUES[key] for key, name in SECRET_FIELDS.items()}}
    config = load_config(env, provider=provider)
    assert config.is_local and {key: getattr(config, key) for key in SECRET_FIELDS} == VALUES
    assert load_config(stage_env("local"), provider=provider).is_local
    assert calls.count == 0


def _env_bytes(env: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in env.items())


def test_a_stages_keys_exceed_lambdas_4_kb_of_environment_but_fit_the_secret(
        aws: Any, provider: parameters.SecretsProvider) -> None:
    as_env = {**stage_env("dev"), **{name: VALUES[key] for key, name in SECRET_FIELDS.items()}}
    assert _env_bytes(as_env) > LAMBDA_ENV_LIMIT  # Lambda would refuse this function configuration
    assert _env_bytes(stage_env("dev")) < LAMBDA_ENV_LIMIT // 2  # what the environment holds now
    aws.create_secret(Name=SECRET_ID, SecretString=json.dumps(VALUES))
    config = load_config(stage_env("dev"), provider=provider)
    assert config.wechatpay_platform_certs.count("BEGIN CERTIFICATE") == 2
    assert {key: getattr(config, key) for key in SECRET_FIELDS} == VALUES
