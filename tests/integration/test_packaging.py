"""What `make package` ships: `chalice package` as the Makefile runs it (fetches Lambda wheels from
PyPI, ~20 s). The zip holds the app and its dependencies, never what only runs on a laptop
(localdev/), the tests and their fakes, the scripts or the benchmarks; the merged template
names no literal `arn:aws:` partition, so it also deploys in the China regions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = re.compile(r"fake|poller|local_runtime|localdev", re.IGNORECASE)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "build"
    chalice = Path(sys.executable).parent / "chalice"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YUNDIAN_", "AWS_ENDPOINT_URL"))}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    done = subprocess.run([str(chalice), "package", "--stage", "dev", "--merge-template", "infra/resources.json",
                           str(out)], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_the_deployment_zip_ships_no_local_only_code(package: Path) -> None:
    with zipfile.ZipFile(package / "deployment.zip") as z:
        names = z.namelist()
    ours = [n for n in names if n == "app.py" or n.startswith("chalicelib/")]
    assert "app.py" in ours and "chalicelib/bootstrap.py" in ours
    top = {n.split("/", 1)[0] for n in names}
    assert not {"localdev", "tests", "scripts", "bench", "infra", "docs"} & top, sorted(top)
    assert not [n for n in ours if LOCAL_ONLY.search(n)]


def test_the_packaged_template_names_arns_by_partition(package: Path) -> None:
    text = (package / "sam.json").read_text()
    assert "arn:aws:" not in text
    assert "merge-template" not in text  # the stream placeholders were replaced by the tables' streams
    roles = [r for r in json.loads(text)["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    for role in roles:
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        arns = [a for s in statements if s["Resource"] != "*" for a in s["Resource"]]
        # chalice embeds the policy file as it is: CloudFormation resolves the Fn::Sub
        assert arns and all(a["Fn::Sub"].startswith("arn:${AWS::Partition}:") for a in arns), arns


def test_the_packaged_functions_carry_no_key_and_may_read_their_stage_secret(package: Path) -> None:
    from chalicelib.config import SECRET_FIELDS

    resources = json.loads((package / "sam.json").read_text())["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        env = function["Properties"]["Environment"]["Variables"]
        assert env["YUNDIAN_SECRET_ID"] == "yundian/dev"
        assert not set(SECRET_FIELDS.values()) & set(env) and "{{resolve:" not in json.dumps(env)
        assert sum(len(k) + len(v) for k, v in env.items()) < 4096  # Lambda's cap on all variables
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    for role in roles:
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        reads = [s["Resource"] for s in statements if any(a.startswith("secretsmanager:") for a in s["Action"])]
        assert reads == [[{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                      "secret:yundian/dev-??????"}]]


def test_the_deployment_ships_the_built_console_and_compresses_it(package: Path) -> None:
    """The zip carries exactly the console's build (`make package` builds it first; `make test`'s
    install did here); API Gateway compresses answers above 1 KiB (the bundle is ~250 KiB, ~90 gzipped)."""
    from chalicelib.console_site import ASSETS_DIR

    built = {"chalicelib/console_assets/" + p.name for p in ASSETS_DIR.iterdir()}
    assert "chalicelib/console_assets/manifest.json" in built
    with zipfile.ZipFile(package / "deployment.zip") as z:
        shipped = {n for n in z.namelist() if n.startswith("chalicelib/console_assets/")}
    assert shipped == built
    apis = [r for r in json.loads((package / "sam.json").read_text())["Resources"].values()
            if r["Type"] == "AWS::Serverless::Api"]
    assert apis
    assert all(a["Properties"].get("MinimumCompressionSize") == 1024 for a in apis), apis
