"""Configuration read once into a frozen dataclass: from the environment on the local stage (and
in tests), from the environment plus the stage secret (`chalicelib.stage_secret`) on deployed stages."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.errors import AppError
from chalicelib.parsing import parse_int

LOCAL_STAGE = "local"
LOCAL_JWT_SECRET = "local-dev-secret-change-me-0123456789"  # public: only ever on the local stage
MIN_JWT_SECRET_BYTES = 32
SANDBOX_FEE_PROVIDER = "sandbox"
# the platforms' real endpoints (identity.alipay_openapi, identity.wechat_api)
DEFAULT_ALIPAY_GATEWAY_URL = "https://openapi.alipay.com/gateway.do"
DEFAULT_ALIPAY_APP_AUTH_URL = "https://openauth.alipay.com/oauth2/appToAppAuth.htm"  # ISV app authorization
DEFAULT_WECHAT_API_BASE_URL = "https://api.weixin.qq.com"


def _held(env: str) -> Any:
    """A value the stage secret holds on deployed stages, under the field's own name as its JSON
    key, and the environment variable `env` holds on the local stage. Declaring a field with it is
    all it takes to add a secret: the secret's keys, the env names and the checks follow."""
    return field(default="", metadata={"env": env})


@dataclass(frozen=True)
class Config:
    stage: str
    tz_name: str
    table_prefix: str
    region: str
    jwt_secret: str = _held("YUNDIAN_JWT_SECRET")
    alipay_app_id: str = _held("ALIPAY_APP_ID")
    alipay_public_key: str = _held("ALIPAY_PUBLIC_KEY")  # PEM or bare base64
    wechatpay_sp_mchid: str = _held("WECHATPAY_SP_MCHID")  # our service-provider merchant id
    wechatpay_apiv3_key: str = _held("WECHATPAY_APIV3_KEY")
    wechatpay_public_key_id: str = _held("WECHATPAY_PUBLIC_KEY_ID")  # PUB_KEY_ID_… of the WeChat Pay public key
    wechatpay_public_key: str = _held("WECHATPAY_PUBLIC_KEY")  # PEM
    wechatpay_platform_certs: str = _held("WECHATPAY_PLATFORM_CERTS")  # PEM certificates, each selected by its serial
    alipay_app_private_key: str = _held("ALIPAY_APP_PRIVATE_KEY")  # PEM (PKCS#8 or PKCS#1) or bare base64
    wechat_miniapp_secret: str = _held("WECHAT_MINIAPP_SECRET")  # the mini-program's AppSecret
    alipay_gateway_url: str = DEFAULT_ALIPAY_GATEWAY_URL
    alipay_app_auth_url: str = DEFAULT_ALIPAY_APP_AUTH_URL
    wechat_miniapp_appid: str = ""
    wechat_api_base_url: str = DEFAULT_WECHAT_API_BASE_URL
    public_url: str = ""  # the API's public base URL (a custom domain); empty: the URL a request came in on
    fee_provider: str = "sandbox"  # membership fee provider (memberships.provider.build_fee_provider)
    idempotency_ttl_seconds: int = 48 * 3600
    callback_log_ttl_days: int = 30
    # how long a token issued from an API key lives: an hour, as the contract says; the local stage
    # may shorten it (YUNDIAN_KEY_TOKEN_SECONDS) to watch a console session expire
    key_token_seconds: int = 3600

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    def table_name(self, base: str) -> str:
        return f"{self.table_prefix}{base}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, secret: Mapping[str, str] | None = None) -> Config:
        """The configuration `env` (default: the process environment) describes, or a
        RuntimeError naming what is missing or unsafe. Nothing defaults to the local stage: only
        `YUNDIAN_STAGE=local` is local (public JWT secret, test clock, sandbox fee provider).

        The values of `SECRET_FIELDS` come from `secret` (the stage secret's JSON object, as
        `chalicelib.stage_secret.load_config` reads it on deployed stages) or, without one, from their
        environment variables (the local stage and tests). Given a secret they come from it only:
        an environment that also sets one is refused, so a key never sits in a function's
        environment, where anyone who may read the function's configuration reads it. Inside
        Lambda a deployed stage must be given its secret."""
        e = os.environ if env is None else env
        stage = e.get("YUNDIAN_STAGE", "")
        if not stage:
            raise RuntimeError("YUNDIAN_STAGE is not set: name the stage (`local` on a laptop and in tests, "
                               "or the deployed stage's name, as .chalice/config.json does)")
        if stage == LOCAL_STAGE and e.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise RuntimeError("the local stage (public JWT secret, test clock) does not run in AWS Lambda; "
                               "deploy a stage of its own (`make package STAGE=dev`)")
        held: dict[str, Any] = _held_values(stage, e, secret)
        fee_provider = e.get("YUNDIAN_FEE_PROVIDER", "")
        if stage == LOCAL_STAGE:
            held["jwt_secret"] = held["jwt_secret"] or LOCAL_JWT_SECRET
            fee_provider = fee_provider or SANDBOX_FEE_PROVIDER
        else:
            jwt_name = "YUNDIAN_JWT_SECRET" if secret is None else "the stage secret's jwt_secret"
            jwt_secret = held["jwt_secret"]
            if not jwt_secret:
                raise RuntimeError(f"{jwt_name} must be set outside the local stage (stage {stage!r})")
            if len(jwt_secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES or jwt_secret == LOCAL_JWT_SECRET:
                raise RuntimeError(f"{jwt_name} of stage {stage!r} must be at least "
                                   f"{MIN_JWT_SECRET_BYTES} bytes (and not the local secret)")
            if not fee_provider:
                raise RuntimeError(f"YUNDIAN_FEE_PROVIDER is not set for stage {stage!r}: name the membership fee "
                                   f"provider (`{SANDBOX_FEE_PROVIDER}` only on purpose: it takes no real money)")
        return cls(
            stage=stage,
            tz_name=e.get("YUNDIAN_TZ", "Asia/Shanghai"),
            table_prefix=e.get("YUNDIAN_TABLE_PREFIX", f"yundian-{stage}-"),
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            fee_provider=fee_provider,
            key_token_seconds=_key_token_seconds(stage, e),
            **_platform_endpoints(stage, e),
            **held,
        )


SECRET_FIELDS: Mapping[str, str] = {f.name: f.metadata["env"] for f in fields(Config) if "env" in f.metadata}
"""The values the stage secret holds: its JSON key (the `Config` field) → the local stage's env name."""


def _key_token_seconds(stage: str, env: Mapping[str, str]) -> int:
    raw = env.get("YUNDIAN_KEY_TOKEN_SECONDS")
    if raw is None:
        return 3600
    if stage != LOCAL_STAGE:
        raise RuntimeError(f"YUNDIAN_KEY_TOKEN_SECONDS is for the local stage only "
                           f"(stage {stage!r}: tokens live an hour)")
    try:
        return parse_int(raw, "YUNDIAN_KEY_TOKEN_SECONDS", lo=5, hi=3600)
    except AppError as err:
        raise RuntimeError(err.message) from None


def _platform_endpoints(stage: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The platforms' endpoints (the real ones unless set) and the mini-program's app id. Outside
    the local stage an endpoint must be https: WeChat's answers are unsigned, so only TLS tells
    its openids from a forger's."""
    urls = {"alipay_gateway_url": ("ALIPAY_GATEWAY_URL", DEFAULT_ALIPAY_GATEWAY_URL),
            "alipay_app_auth_url": ("ALIPAY_APP_AUTH_URL", DEFAULT_ALIPAY_APP_AUTH_URL),
            "wechat_api_base_url": ("WECHAT_API_BASE_URL", DEFAULT_WECHAT_API_BASE_URL)}
    out = {key: env.get(name) or default for key, (name, default) in urls.items()}
    for key, (name, _) in urls.items():
        if not out[key].startswith(("https://", "http://")):
            raise RuntimeError(f"{name} must be an http(s) URL")
        if stage != LOCAL_STAGE and not out[key].startswith("https://"):
            raise RuntimeError(f"{name} of stage {stage!r} must be an https URL")
    out["wechat_miniapp_appid"] = env.get("WECHAT_MINIAPP_APPID", "")
    public = env.get("YUNDIAN_PUBLIC_URL", "")
    if public and not public.startswith(("https://", "http://" if stage == LOCAL_STAGE else "https://")):
        raise RuntimeError("YUNDIAN_PUBLIC_URL must be an https URL (http only on the local stage)")
    out["public_url"] = public
    return out


def _held_values(stage: str, env: Mapping[str, str], secret: Mapping[str, str] | None) -> dict[str, str]:
    if secret is None:
        if stage != LOCAL_STAGE and env.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise RuntimeError(f"stage {stage!r} reads its keys from its stage secret in AWS Lambda, never from "
                               "environment variables (the runtime builds it with chalicelib.stage_secret.load_config)")
        for name in SECRET_FIELDS.values():
            if env.get(name, "").startswith("{{resolve:"):
                raise RuntimeError(f"{name} is an unresolved CloudFormation reference; deployed stages read it "
                                   "from their stage secret (YUNDIAN_SECRET_ID), the local stage from the environment")
        return {key: env.get(name, "") for key, name in SECRET_FIELDS.items()}
    in_env = sorted(name for name in SECRET_FIELDS.values() if env.get(name))
    if in_env:
        raise RuntimeError(f"stage {stage!r} takes {', '.join(in_env)} from its stage secret only: remove "
                           "them from the environment (.chalice/config.json, the function's configuration)")
    missing = sorted(set(SECRET_FIELDS) - set(secret))
    if missing:
        raise RuntimeError(f"the stage secret of stage {stage!r} lacks {', '.join(missing)}")
    return {key: secret[key] for key in SECRET_FIELDS}
