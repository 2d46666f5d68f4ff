"""Generate the deployment's DynamoDB tables and the Lambda role's policy from the PynamoDB
models (`chalicelib.tables.ALL_MODELS`), the single definition of tables, keys, indexes,
streams and TTL attributes.

    python -m infra.build           # (re)write infra/resources.json and .chalice/policy-<stage>.json
    python -m infra.build --check   # exit 1 if the committed files differ from the models

`infra/resources.json` is a CloudFormation fragment merged into Chalice's SAM output:
`chalice package --stage dev --merge-template infra/resources.json build/`. Table names are
`yundian-<Stage>-<table>`, the same names `Config.table_name` gives the functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pynamodb.attributes import TTLAttribute  # noqa: E402

from chalicelib.storage import BaseModel  # noqa: E402
from chalicelib.tables import ALL_MODELS  # noqa: E402
from infra.streams import merge_template_fragment  # noqa: E402

APP = "yundian"
RESOURCES = ROOT / "infra" / "resources.json"
CHALICE_DIR = ROOT / ".chalice"
DEPLOYED_STAGES = ("dev", "prod")
PROTECTED_STAGE = "prod"  # tables with deletion protection

# Every DynamoDB action the repositories use (PynamoDB and TransactWrite/TransactGet, whose
# permissions are those of the per-item actions), and nothing that changes a table's shape.
DATA_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
]
STREAM_ACTIONS = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
]

REGENERATE = "make infra"

# API Gateway throttling of each route under `/v1/auth/` (every one can cost a platform request),
# for all clients together: the app's own limit is per client and per container
# (chalicelib/identity/rate_limit.py). Chalice's SAM output names its API `RestAPI`.
REST_API = "RestAPI"
AUTH_THROTTLE = {"ThrottlingRateLimit": 25, "ThrottlingBurstLimit": 50}
THROTTLED_BODY = {"code": "rate_limited", "message": "too many requests; retry later"}
# API Gateway answers a path or method no route has with MISSING_AUTHENTICATION_TOKEN (403
# {"message": ...}); the contract's answer is 404 in its error shape (localdev/server.py does the same).
NO_ROUTE_BODY = {"code": "not_found", "message": "no such route"}


def secret_name(stage: str) -> str:
    """The stage secret (chalicelib/stage_secret.py), as `YUNDIAN_SECRET_ID` names it in .chalice/config.json."""
    return f"{APP}/{stage}"


def logical_id(table: str) -> str:
    return "".join(part.capitalize() for part in table.replace("-", "_").split("_")) + "Table"


def _keys(key_schema: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    # CloudFormation wants HASH before RANGE.
    return sorted(({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema),
                  key=lambda k: k["KeyType"] != "HASH")


def _ttl_attribute(model: type[BaseModel]) -> str | None:
    names = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    if len(names) > 1:
        raise ValueError(f"{model.__name__} has more than one TTLAttribute: {names}")
    return names[0] if names else None


def _index_shapes(model: type[BaseModel]) -> dict[str, list[dict[str, str]]]:
    return {g["index_name"]: _keys(g["key_schema"]) for g in model._get_schema()["global_secondary_indexes"]}


def _indexes_repeat_owner(model: type[BaseModel], owner: type[BaseModel]) -> bool:
    """A model sharing a table may query the owner's indexes, declared with the same keys."""
    owned = _index_shapes(owner)
    return all(owned.get(name) == keys for name, keys in _index_shapes(model).items())


def tables(models: Iterable[type[BaseModel]]) -> dict[str, type[BaseModel]]:
    """The owning model of each table; models that share a table must agree with its owner."""
    models = list(models)
    owners = {m.TABLE: m for m in models if m.OWNS_TABLE}
    for m in models:
        if not m.TABLE:
            raise ValueError(f"{m.__name__} has no TABLE")
        owner = owners.get(m.TABLE)
        if owner is None:
            raise ValueError(f"table {m.TABLE!r} has no owning model (OWNS_TABLE=True)")
        if m is owner:
            continue
        if _keys(m._get_schema()["key_schema"]) != _keys(owner._get_schema()["key_schema"]):
            raise ValueError(f"{m.__name__} and {owner.__name__} share {m.TABLE!r} with different keys")
        if not _indexes_repeat_owner(m, owner) or _ttl_attribute(m) not in (None, _ttl_attribute(owner)) or \
                getattr(m.Meta, "stream_view_type", None) not in (None, getattr(owner.Meta, "stream_view_type", None)):
            raise ValueError(f"{m.__name__} shares {m.TABLE!r}: declare indexes, TTL and streams on "
                             f"{owner.__name__}, the owning model (a sharing model may only repeat them)")
    return dict(sorted(owners.items()))


def table_resource(model: type[BaseModel]) -> dict[str, Any]:
    schema = model._get_schema()
    attrs: dict[str, str] = {}
    for a in schema["attribute_definitions"]:
        attrs[a["AttributeName"]] = a["AttributeType"]
    gsis = []
    for gsi in sorted(schema["global_secondary_indexes"], key=lambda g: g["index_name"]):
        for a in gsi["attribute_definitions"]:
            attrs[a["AttributeName"]] = a["AttributeType"]
        gsis.append({"IndexName": gsi["index_name"], "KeySchema": _keys(gsi["key_schema"]),
                     "Projection": dict(gsi["projection"])})
    if schema["local_secondary_indexes"]:
        raise ValueError(f"{model.__name__}: local secondary indexes are not supported by infra/build.py")
    props: dict[str, Any] = {
        "TableName": {"Fn::Sub": f"{APP}-${{Stage}}-{model.TABLE}"},
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in sorted(attrs.items())],
        "KeySchema": _keys(schema["key_schema"]),
    }
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        props["StreamSpecification"] = {"StreamViewType": stream}
    ttl = _ttl_attribute(model)
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    props["DeletionProtectionEnabled"] = {"Fn::If": ["ProtectedStage", True, False]}
    props["Tags"] = [{"Key": "app", "Value": APP}, {"Key": "stage", "Value": {"Ref": "Stage"}},
                     {"Key": "table", "Value": model.TABLE}]
    return {"Type": "AWS::DynamoDB::Table", "Properties": props}


def resources_template(models: Iterable[type[BaseModel]] = ALL_MODELS) -> dict[str, Any]:
    """The CloudFormation fragment merged into `chalice package` output."""
    owners = tables(models)
    resources = {logical_id(name): table_resource(model) for name, model in owners.items()}
    outputs: dict[str, Any] = {f"{logical_id(name)}Name": {"Value": {"Ref": logical_id(name)}} for name in owners}
    for name, model in owners.items():
        if getattr(model.Meta, "stream_view_type", None):
            outputs[f"{logical_id(name)}StreamArn"] = {"Value": {"Fn::GetAtt": [logical_id(name), "StreamArn"]}}
    # Stream-triggered functions: point chalice's placeholder ARNs at the tables' streams.
    for function_id, patch in merge_template_fragment(logical_id)["Resources"].items():
        resources[function_id] = patch
    resources[REST_API] = api_throttling()
    return {
        "Description": f"{APP}: generated by infra/build.py from chalicelib/tables.py - regenerate with "
                       f"`{REGENERATE}`, do not edit by hand",
        "Parameters": {
            "Stage": {
                "Type": "String",
                "Default": "dev",
                "AllowedValues": list(DEPLOYED_STAGES),
                "Description": "Must equal the stage given to `chalice package --stage` (table names "
                               "yundian-<Stage>-*, which the functions and their policy use).",
            },
        },
        "Conditions": {"ProtectedStage": {"Fn::Equals": [{"Ref": "Stage"}, PROTECTED_STAGE]}},
        "Resources": resources,
        "Outputs": outputs,
    }


def throttled_routes() -> list[tuple[str, str]]:
    """`(path, method)` of every route the app rate-limits itself (`RATE_LIMITED_PREFIX`)."""
    import app  # noqa: F401 - declares every route
    from chalicelib.api.routing import OPERATIONS, RATE_LIMITED_PREFIX

    return sorted({(op.path, op.method.upper()) for op in OPERATIONS if op.path.startswith(RATE_LIMITED_PREFIX)})


def resource_path(path: str) -> str:
    """A MethodSetting's `ResourcePath`: the path with each `/` written `~1`, after a leading `/`."""
    return "/" + path.replace("/", "~1")


def api_throttling() -> dict[str, Any]:
    """What the merge template adds to Chalice's API: method throttling of the rate-limited routes
    on the deployed stage, and API Gateway's own 429 in the contract's error shape."""
    settings = [{"ResourcePath": resource_path(path), "HttpMethod": method, **AUTH_THROTTLE}
                for path, method in throttled_routes()]
    throttled = {"StatusCode": 429, "ResponseParameters": {"Headers": {"Retry-After": "'1'"}},
                 "ResponseTemplates": {"application/json": json.dumps(THROTTLED_BODY, separators=(",", ":"))}}
    no_route = {"StatusCode": 404,
                "ResponseTemplates": {"application/json": json.dumps(NO_ROUTE_BODY, separators=(",", ":"))}}
    return {"Properties": {"MethodSettings": settings,
                           "GatewayResponses": {"THROTTLED": throttled, "MISSING_AUTHENTICATION_TOKEN": no_route}}}


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN in this stack's partition (`aws`, `aws-cn` in the China regions, ...), region and
    account: `{"Fn::Sub": "arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:<resource>"}`."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def policy(stage: str) -> dict[str, Any]:
    """Least privilege for the Lambda role of a stage: data actions on this stage's tables,
    their indexes and streams; reading this stage's secret (`-??????` is the random suffix
    Secrets Manager appends to a secret's ARN: `yundian/dev-other` does not match); logs of this
    app's functions; X-Ray segments. Chalice embeds this
    document in the SAM role as it is, so CloudFormation resolves the `Fn::Sub` ARNs."""
    table = f"table/{APP}-{stage}-*"
    fn_logs = f"log-group:/aws/lambda/{APP}-{stage}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "TableData", "Effect": "Allow", "Action": DATA_ACTIONS,
             "Resource": [arn("dynamodb", table), arn("dynamodb", f"{table}/index/*")]},
            {"Sid": "TableStreams", "Effect": "Allow", "Action": STREAM_ACTIONS,
             "Resource": [arn("dynamodb", f"{table}/stream/*")]},
            {"Sid": "StageSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
             "Resource": [arn("secretsmanager", f"secret:{secret_name(stage)}-??????")]},
            {"Sid": "Logs", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [arn("logs", r) for r in (fn_logs, f"{fn_logs}:*", f"{fn_logs}-*", f"{fn_logs}-*:*")]},
            {"Sid": "Tracing", "Effect": "Allow",
             "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        ],
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def outputs() -> dict[Path, str]:
    files = {RESOURCES: render(resources_template())}
    for stage in DEPLOYED_STAGES:
        files[CHALICE_DIR / f"policy-{stage}.json"] = render(policy(stage))
    return files


def stale_files() -> list[Path]:
    """Generated files that differ from what the models say now."""
    return [p for p, text in outputs().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the generated files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run `{REGENERATE}`)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
