"""The structure the areas grow in, pinned: each area owns its tables, dependencies run one way
(onboarding ← payments ← memberships ← contests), no fake or local-only code in `chalicelib/`,
and importing the app starts nothing."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import storage
from chalicelib.config import Config
from chalicelib.tables import ALL_MODELS

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "chalicelib"
AREAS = ("onboarding", "payments", "memberships", "contests", "admin_trail", "identity")
# what each area may import of the others (an arrow of docs/architecture.md)
ALLOWED = {
    "onboarding": {"admin_trail"},
    "payments": {"onboarding"},
    "memberships": {"onboarding", "payments"},
    "contests": {"onboarding", "payments", "memberships", "admin_trail"},
    "admin_trail": set(),
    "identity": {"onboarding", "admin_trail"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _area_files(area: str) -> list[Path]:
    return sorted((LIB / area).glob("*.py"))


@pytest.mark.parametrize("area", AREAS)
def test_an_area_imports_no_other_areas_models_and_only_down_the_dependency_chain(area: str) -> None:
    for path in _area_files(area):
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "chalicelib" or len(parts) < 2 or parts[1] not in AREAS or parts[1] == area:
                continue
            other = parts[1]
            where = path.relative_to(ROOT)
            assert other in ALLOWED[area], f"{where} imports {module}: {area} may not depend on {other}"
            assert parts[2:3] != ["models"], f"{path.relative_to(ROOT)} imports {other}'s tables ({module})"
            assert parts[2:3] != ["dynamo"], f"{path.relative_to(ROOT)} imports {other}'s adapter ({module})"


def test_each_table_is_declared_by_one_area_only() -> None:
    """Only the `guards` table is shared plumbing (storage.GuardModel); an area may declare its own
    item type there (idempotency records), keyed with a prefix of its own."""
    owners: dict[str, set[str]] = {}
    for model in ALL_MODELS:
        area = model.__module__.split(".")[1]
        owners.setdefault(model.TABLE, set()).add(area)
    shared = {table: areas for table, areas in owners.items() if len(areas) > 1}
    assert set(shared) <= {"guards"} and "storage" in shared.get("guards", {"storage"}), shared


def test_no_fake_poller_or_local_runtime_ships_in_chalicelib() -> None:
    for path in LIB.rglob("*.py"):
        text = path.read_text()
        assert "class InMemory" not in text and "class Fake" not in text, path
        assert "localdev" not in _imports(path) and not any(m.startswith(("tests", "localdev", "scripts"))
                                                             for m in _imports(path)), path
    names = {p.stem for p in LIB.rglob("*.py")}
    assert not names & {"local_runtime", "stream_poller", "wiring", "container"}, names


def test_importing_the_app_starts_no_thread_binds_no_table_and_loads_no_xray() -> None:
    probe = (
        "import sys, threading, json\n"
        "import app\n"
        "from chalicelib import storage\n"
        "print(json.dumps({'threads': threading.active_count(), 'bound': storage._binding is not None,"
        " 'xray': any(m.startswith('aws_xray_sdk') for m in sys.modules),"
        " 'built': app.runtime._services is not None}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "false"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=str(ROOT), env=env, capture_output=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout.decode().strip().splitlines()[-1]) == {
        "threads": 1, "bound": False, "xray": False, "built": False}


def test_tables_are_bound_once_and_never_moved_silently(test_config: Config) -> None:
    assert storage.bind(test_config, ALL_MODELS) is storage.connection()  # the same place again: a no-op
    elsewhere = dataclasses.replace(test_config, table_prefix="elsewhere-")
    with pytest.raises(RuntimeError, match="refusing to rebind"):
        storage.bind(elsewhere, ALL_MODELS)
    assert ALL_MODELS[0].Meta.table_name == test_config.table_name(ALL_MODELS[0].TABLE)
