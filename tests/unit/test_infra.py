"""The deployment's tables and policies are generated from the PynamoDB models; these tests
fail when the committed files drift from them. Fix: run `make infra` and commit the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.storage import GuardModel
from chalicelib.tables import ALL_MODELS
from infra import build

ROOT = Path(__file__).resolve().parents[2]


def test_generated_infra_matches_the_models() -> None:
    stale = [str(p.relative_to(ROOT)) for p in build.stale_files()]
    assert not stale, f"{stale} drifted from chalicelib/tables.ALL_MODELS: run `make infra` and commit"


def test_every_table_of_the_models_is_deployed_with_its_indexes() -> None:
    resources = build.resources_template()["Resources"]
    for model in ALL_MODELS:
        res = resources[build.logical_id(model.TABLE)]["Properties"]
        assert res["TableName"] == {"Fn::Sub": f"yundian-${{Stage}}-{model.TABLE}"}
        assert res["BillingMode"] == "PAY_PER_REQUEST"
        assert res["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        if model.OWNS_TABLE:
            deployed = {g["IndexName"] for g in res.get("GlobalSecondaryIndexes", [])}
            assert deployed == {i.Meta.index_name for i in model._indexes.values()}
            assert res["KeySchema"][0]["KeyType"] == "HASH"


def test_ttl_and_streams_come_from_the_models() -> None:
    resources = build.resources_template()["Resources"]
    guards = resources[build.logical_id(GuardModel.TABLE)]["Properties"]
    assert guards["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    for model in ALL_MODELS:
        view = getattr(model.Meta, "stream_view_type", None)
        if model.OWNS_TABLE and view:
            props = resources[build.logical_id(model.TABLE)]["Properties"]
            assert props["StreamSpecification"] == {"StreamViewType": view}


def test_table_prefix_of_each_stage_matches_the_template() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert "iam_policy_file" not in config  # per stage, never a shared one
    for stage in build.DEPLOYED_STAGES:
        st = config["stages"][stage]
        assert st["environment_variables"]["YUNDIAN_TABLE_PREFIX"] == f"yundian-{stage}-"
        assert st["iam_policy_file"] == f"policy-{stage}.json"
        assert st["autogen_policy"] is False


def test_policy_grants_only_data_actions_on_the_stage_tables() -> None:
    doc = build.policy("prod")
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert not {"dynamodb:DeleteTable", "dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:*"} & actions
    dynamo = [s for s in doc["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]
    for statement in dynamo:
        for arn in statement["Resource"]:
            prefix = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/yundian-prod-"
            assert arn["Fn::Sub"].startswith(prefix), arn


def test_each_stage_role_reads_its_own_stage_secret_only() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in build.DEPLOYED_STAGES:
        secret_id = config["stages"][stage]["environment_variables"]["YUNDIAN_SECRET_ID"]
        assert secret_id == build.secret_name(stage)
        statements = build.policy(stage)["Statement"]
        reading = [s for s in statements if any(a.startswith("secretsmanager:") for a in s["Action"])]
        assert reading == [{"Sid": "StageSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                            "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                                                     f"${{AWS::AccountId}}:secret:{secret_id}-??????"}]}]


def test_generated_files_name_arns_in_the_stacks_partition() -> None:
    """The China regions are partition aws-cn: a literal `arn:aws:` would not deploy there."""
    for path, text in build.outputs().items():
        assert "arn:aws:" not in text, f"{path.relative_to(ROOT)} names a literal arn:aws: partition"
        assert "arn:aws:" not in path.read_text(), f"{path.relative_to(ROOT)} is stale: run `make infra`"
    arns = [r for s in build.policy("dev")["Statement"] if s["Resource"] != "*" for r in s["Resource"]]
    assert arns and all(r["Fn::Sub"].startswith("arn:${AWS::Partition}:") for r in arns), arns


def test_shared_tables_must_be_declared_on_their_owner() -> None:
    from pynamodb.attributes import TTLAttribute, UnicodeAttribute

    from chalicelib.storage import BaseModel

    class Owner(BaseModel):
        TABLE = "things"

        class Meta(BaseModel.Meta):
            pass

        pk = UnicodeAttribute(hash_key=True)

    class Other(BaseModel):
        TABLE = "things"
        OWNS_TABLE = False

        class Meta(BaseModel.Meta):
            stream_view_type = "NEW_IMAGE"

        pk = UnicodeAttribute(hash_key=True)

    with pytest.raises(ValueError, match="owning model"):
        build.tables([Owner, Other])

    class SameTtl(BaseModel):
        TABLE = "guards"
        OWNS_TABLE = False

        class Meta(BaseModel.Meta):
            pass

        key = UnicodeAttribute(hash_key=True)
        expires_at = TTLAttribute(null=True)

    assert build.tables([GuardModel, SameTtl]) == {"guards": GuardModel}


def test_unresolved_secret_references_refuse_to_start() -> None:
    from chalicelib.config import Config

    ref = "{{resolve:secretsmanager:yundian/dev:SecretString:jwt_secret}}"
    with pytest.raises(RuntimeError, match="unresolved CloudFormation reference"):
        Config.from_env({"YUNDIAN_STAGE": "dev", "YUNDIAN_JWT_SECRET": ref})
    with pytest.raises(RuntimeError, match="YUNDIAN_JWT_SECRET must be set"):
        Config.from_env({"YUNDIAN_STAGE": "dev"})
    config = Config.from_env({"YUNDIAN_STAGE": "dev", "YUNDIAN_JWT_SECRET": "s" * 40,
                              "YUNDIAN_FEE_PROVIDER": "sandbox"})
    assert config.table_name("partners") == "yundian-dev-partners"


def test_every_auth_route_is_throttled_on_deployed_stages() -> None:
    import app  # noqa: F401 - declares every route
    from chalicelib.api.routing import OPERATIONS

    props = build.resources_template()["Resources"][build.REST_API]["Properties"]
    throttled = {(s["ResourcePath"], s["HttpMethod"]) for s in props["MethodSettings"]}
    auth = {(build.resource_path(op.path), op.method) for op in OPERATIONS if op.path.startswith("/v1/auth/")}
    assert {("/~1v1~1auth~1token", "POST"), ("/~1v1~1auth~1refresh", "POST")} <= auth == throttled
    assert all(s["ThrottlingRateLimit"] > 0 and s["ThrottlingBurstLimit"] > 0 for s in props["MethodSettings"])
    response = props["GatewayResponses"]["THROTTLED"]  # API Gateway's own 429 in the contract's shape
    assert response["StatusCode"] == 429
    assert json.loads(response["ResponseTemplates"]["application/json"])["code"] == "rate_limited"


def test_a_route_the_api_lacks_answers_404_in_the_contracts_shape_on_deployed_stages() -> None:
    props = build.resources_template()["Resources"][build.REST_API]["Properties"]
    response = props["GatewayResponses"]["MISSING_AUTHENTICATION_TOKEN"]  # API Gateway's 403 for no route
    assert response["StatusCode"] == 404
    assert json.loads(response["ResponseTemplates"]["application/json"]) == {"code": "not_found",
                                                                               "message": "no such route"}
