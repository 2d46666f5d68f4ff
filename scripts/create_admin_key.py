"""Create the first admin API key of a deployed stage, with the operator's own AWS credentials.

    .venv/bin/python scripts/create_admin_key.py --stage dev [--name "first admin"] [--region cn-north-1]

Nothing in the API can make the first key (`POST /v1/api-keys` wants an admin), and only the
deployment's own code can make one the stage accepts: the stored hash of a key's secret is keyed
by the stage's `jwt_secret`. So this runs that code here, configured as the stage's functions are:
their environment from `.chalice/config.json` (never retyped), their keys from the stage secret
(`chalicelib.stage_secret.load_config`), their tables through `chalicelib.bootstrap`, and the key
made by `IdentityService.create_key`, the path of `POST /v1/api-keys`, so the admin trail names
who made it (`operator:<the caller's ARN>`, from STS).

The caller may read the stage secret and write the stage's `api_keys` and `admin_trail` tables.
The secret is printed once, on stdout, and nowhere else. Exit status: 0 when the key is made; 2,
with a message and no traceback, for a usage or configuration error (the local stage, an unknown
stage, no region or credentials, a missing or unusable stage secret, missing tables).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.config import LOCAL_STAGE  # noqa: E402 - light: no AWS import

if TYPE_CHECKING:
    import boto3

    from chalicelib.bootstrap import Services
    from chalicelib.config import Config

CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
DEFAULT_NAME = "first admin"
USAGE_ERROR = 2


class UsageError(Exception):
    """What the operator must fix: printed as one message, exit status 2."""


@dataclass(frozen=True)
class DeployedStage:
    """A stage as .chalice/config.json deploys it."""

    name: str
    env: dict[str, str]  # its functions' environment variables (the top-level ones, then the stage's)
    api_gateway_stage: str  # the path segment of its API Gateway URL


def deployed_stage(stage: str, path: Path = CHALICE_CONFIG) -> DeployedStage:
    """The deployed `stage` that `path` describes, or a UsageError (the local stage, an unknown one)."""
    if stage == LOCAL_STAGE:
        raise UsageError("the local stage needs no script: `make run` creates an admin API key and prints it "
                         "(kept in .dynamodb/api-keys.json)")
    try:
        chalice = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    stages = chalice.get("stages", {})
    if stage not in stages:
        deployed = ", ".join(name for name in stages if name != LOCAL_STAGE) or "none"
        raise UsageError(f"no stage {stage!r} in {path.name} (deployed stages: {deployed})")
    settings = stages[stage]
    env = {**chalice.get("environment_variables", {}), **settings.get("environment_variables", {})}
    return DeployedStage(stage, {k: str(v) for k, v in env.items()}, str(settings.get("api_gateway_stage", "api")))


def admin_key_body(name: str) -> bytes:
    """The `POST /v1/api-keys` body of an admin key named `name`, checked as the API checks it."""
    from chalicelib.errors import AppError
    from chalicelib.identity.schemas import CreateApiKey
    from chalicelib.schemas import parse_body

    body = json.dumps({"name": name, "role": "admin"}).encode()
    try:
        parse_body(CreateApiKey, body)
    except AppError as exc:
        raise UsageError(f"--name {name!r}: {exc.message}") from None
    return body


def aws_session(region: str | None) -> boto3.Session:
    """The operator's AWS session (their profile and credentials, as the aws CLI finds them) in
    `region`, default the environment's or the profile's."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    except BotoCoreError as exc:
        raise UsageError(f"cannot use your AWS configuration: {exc}") from None
    if not session.region_name:
        raise UsageError("no AWS region: pass --region (the stage's, e.g. cn-north-1) or set AWS_REGION")
    return session


def caller_arn(session: boto3.Session) -> str:
    """Who the operator's credentials are (STS GetCallerIdentity): the admin trail names them."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(f"no usable AWS credentials ({exc}): configure them as for the aws CLI "
                         "(AWS_PROFILE, `aws configure`, `aws sso login`)") from None


def stage_config(stage: DeployedStage, session: boto3.Session) -> Config:
    """The stage's `Config` as its functions build it: its environment and its stage secret, read
    with the operator's credentials in the session's region."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from chalicelib.stage_secret import load_config

    env = {**stage.env, "AWS_REGION": str(session.region_name), "AWS_DEFAULT_REGION": str(session.region_name)}
    try:
        return load_config(env, provider=SecretsProvider(boto3_session=session))
    except RuntimeError as exc:
        raise UsageError(f"stage {stage.name!r} in {session.region_name} (its .chalice/config.json environment, "
                         f"then its stage secret read with your AWS credentials): {exc}") from None


def build_services(config: Config) -> Services:
    """The stage's services on its tables, once those the key is written to are there."""
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.admin_trail.models import AdminTrailModel
    from chalicelib.bootstrap import bootstrap
    from chalicelib.identity.models import ApiKeyModel

    try:
        services = bootstrap(config)
    except RuntimeError as exc:  # what the stage's own cold start would fail on (e.g. an unknown fee provider)
        raise UsageError(f"cannot build stage {config.stage!r} as deployed: {exc}") from None
    try:
        missing = [m.Meta.table_name for m in (ApiKeyModel, AdminTrailModel) if not m.exists()]
    except PynamoDBException as exc:
        raise UsageError(f"cannot describe the tables of stage {config.stage!r} in {config.region}: "
                         f"{exc.__cause__ or exc}") from None
    if missing:
        raise UsageError(f"stage {config.stage!r} has no table {', '.join(missing)} in {config.region}: deploy the "
                         "stage (its tables) first, in this region")
    return services


def create_admin_key(services: Services, operator: str, body: bytes) -> dict[str, Any]:
    """An admin key made by `operator`, through the path of `POST /v1/api-keys`; its secret is in
    this answer only."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.auth import Principal
    from chalicelib.errors import AppError

    try:
        return services.identity.create_key(Principal(sub=operator, role="admin"), body)
    except (PynamoDBException, ClientError, BotoCoreError, AppError) as exc:
        cause = exc.__cause__ or exc
        raise UsageError(f"cannot create the key in the tables of stage {services.config.stage!r}: {cause} "
                         "(your credentials need dynamodb:PutItem on its api_keys and admin_trail tables)") from None


def token_url(stage: DeployedStage, region: str) -> str:
    """Where the key is exchanged for a token: the stage's API Gateway URL, its id a placeholder."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://<api-id>.execute-api.{region}.{domain}/{stage.api_gateway_stage}/v1/auth/token"


def report(created: dict[str, Any], stage: DeployedStage, region: str, operator: str) -> str:
    """What the operator is told: the key id and, this once, the secret."""
    key_id = created["key_id"]
    return "\n".join([
        f"Admin API key {created['name']!r} created on stage {stage.name} ({region}) by {operator}.",
        "",
        f"  key id:  {key_id}",
        f"  secret:  {created['secret']}",
        "",
        "Store the secret in a password manager now: it is shown this once, and the stage keeps only a keyed",
        "hash of it (a lost secret cannot be recovered; revoke the key and create another).",
        "",
        "Exchange it for a 1-hour token (curl asks for the secret, which keeps it out of your shell history;",
        "<api-id> is the stage's REST API id, or use your custom domain without the stage path):",
        "",
        f"  curl -s -X POST -u {key_id} {token_url(stage, region)}",
        "",
        "Then create partners' and merchants' keys through the API (POST /v1/api-keys).",
    ])


def run(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description="Create the first admin API key of a deployed stage "
                                            "(with your AWS credentials).")
    p.add_argument("--stage", required=True, help="a deployed stage of .chalice/config.json, e.g. dev")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"the key's name (default: {DEFAULT_NAME!r})")
    p.add_argument("--region", help="the stage's AWS region (default: AWS_REGION, or your profile's)")
    args = p.parse_args(argv)

    stage = deployed_stage(args.stage)
    body = admin_key_body(args.name)
    session = aws_session(args.region)
    operator = "operator:" + caller_arn(session)
    services = build_services(stage_config(stage, session))
    created = create_admin_key(services, operator, body)
    return report(created, stage, str(session.region_name), operator)


def main(argv: list[str] | None = None) -> int:
    try:
        text = run(argv)
    except UsageError as exc:
        print(f"create_admin_key: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
