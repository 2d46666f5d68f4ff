"""Configuration read once from the environment into a frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

LOCAL_STAGE = "local"


@dataclass(frozen=True)
class Config:
    stage: str
    jwt_secret: str
    tz_name: str
    table_prefix: str
    region: str
    alipay_app_id: str
    alipay_public_key: str
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
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        e = os.environ if env is None else env
        stage = e.get("YUNDIAN_STAGE", LOCAL_STAGE)
        secret = e.get("YUNDIAN_JWT_SECRET", "")
        if not secret:
            if stage != LOCAL_STAGE:
                raise RuntimeError("YUNDIAN_JWT_SECRET must be set outside the local stage")
            secret = "local-dev-secret-change-me-0123456789"
        for name in ("YUNDIAN_JWT_SECRET", "ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY"):
            if e.get(name, "").startswith("{{resolve:"):
                # .chalice/config.json holds CloudFormation dynamic references; only a
                # CloudFormation deployment (chalice package) resolves them.
                raise RuntimeError(f"{name} is an unresolved CloudFormation reference; deploy with "
                                   "`chalice package` + CloudFormation or set it in the environment")
        return cls(
            stage=stage,
            jwt_secret=secret,
            tz_name=e.get("YUNDIAN_TZ", "Asia/Shanghai"),
            table_prefix=e.get("YUNDIAN_TABLE_PREFIX", f"yundian-{stage}-"),
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            alipay_app_id=e.get("ALIPAY_APP_ID", ""),
            alipay_public_key=e.get("ALIPAY_PUBLIC_KEY", ""),
            fee_provider=e.get("YUNDIAN_FEE_PROVIDER", "sandbox"),
        )
