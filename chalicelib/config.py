"""Configuration read once from the environment into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

LOCAL_STAGE = "local"
LOCAL_JWT_SECRET = "local-dev-secret-change-me-0123456789"  # public: only ever on the local stage
MIN_JWT_SECRET_BYTES = 32
SANDBOX_FEE_PROVIDER = "sandbox"


@dataclass(frozen=True)
class Config:
    stage: str
    jwt_secret: str
    tz_name: str
    table_prefix: str
    region: str
    alipay_app_id: str
    alipay_public_key: str
    wechatpay_sp_mchid: str = ""  # our service-provider merchant id
    wechatpay_apiv3_key: str = ""
    wechatpay_public_key_id: str = ""  # PUB_KEY_ID_… of the WeChat Pay public key
    wechatpay_public_key: str = ""  # PEM
    wechatpay_platform_certs: str = ""  # PEM certificates, each selected by its serial
    fee_provider: str = "sandbox"  # membership fee provider (memberships.provider.build_fee_provider)
    idempotency_ttl_seconds: int = 48 * 3600
    callback_log_ttl_days: int = 30

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    def table_name(self, base: str) -> str:
        return f"{self.table_prefix}{base}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The configuration `env` (default: the process environment) describes, or a
        RuntimeError naming what is missing or unsafe. Nothing defaults to the local stage: only
        `YUNDIAN_STAGE=local` is local (public JWT secret, test clock, sandbox fee provider)."""
        e = os.environ if env is None else env
        stage = e.get("YUNDIAN_STAGE", "")
        if not stage:
            raise RuntimeError("YUNDIAN_STAGE is not set: name the stage (`local` on a laptop and in tests, "
                               "or the deployed stage's name, as .chalice/config.json does)")
        if stage == LOCAL_STAGE and e.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise RuntimeError("the local stage (public JWT secret, test clock) does not run in AWS Lambda; "
                               "deploy a stage of its own (`make package STAGE=dev`)")
        for name in ("YUNDIAN_JWT_SECRET", "ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY"):
            if e.get(name, "").startswith("{{resolve:"):
                # .chalice/config.json holds CloudFormation dynamic references; only a
                # CloudFormation deployment (chalice package) resolves them.
                raise RuntimeError(f"{name} is an unresolved CloudFormation reference; deploy with "
                                   "`chalice package` + CloudFormation or set it in the environment")
        secret = e.get("YUNDIAN_JWT_SECRET", "")
        fee_provider = e.get("YUNDIAN_FEE_PROVIDER", "")
        if stage == LOCAL_STAGE:
            secret = secret or LOCAL_JWT_SECRET
            fee_provider = fee_provider or SANDBOX_FEE_PROVIDER
        else:
            if not secret:
                raise RuntimeError(f"YUNDIAN_JWT_SECRET must be set outside the local stage (stage {stage!r})")
            if len(secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES or secret == LOCAL_JWT_SECRET:
                raise RuntimeError(f"YUNDIAN_JWT_SECRET of stage {stage!r} must be at least "
                                   f"{MIN_JWT_SECRET_BYTES} bytes (and not the local secret)")
            if not fee_provider:
                raise RuntimeError(f"YUNDIAN_FEE_PROVIDER is not set for stage {stage!r}: name the membership fee "
                                   f"provider (`{SANDBOX_FEE_PROVIDER}` only on purpose: it takes no real money)")
        return cls(
            stage=stage,
            jwt_secret=secret,
            tz_name=e.get("YUNDIAN_TZ", "Asia/Shanghai"),
            table_prefix=e.get("YUNDIAN_TABLE_PREFIX", f"yundian-{stage}-"),
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            alipay_app_id=e.get("ALIPAY_APP_ID", ""),
            alipay_public_key=e.get("ALIPAY_PUBLIC_KEY", ""),
            wechatpay_sp_mchid=e.get("WECHATPAY_SP_MCHID", ""),
            wechatpay_apiv3_key=e.get("WECHATPAY_APIV3_KEY", ""),
            wechatpay_public_key_id=e.get("WECHATPAY_PUBLIC_KEY_ID", ""),
            wechatpay_public_key=e.get("WECHATPAY_PUBLIC_KEY", ""),
            wechatpay_platform_certs=e.get("WECHATPAY_PLATFORM_CERTS", ""),
            fee_provider=fee_provider,
        )
