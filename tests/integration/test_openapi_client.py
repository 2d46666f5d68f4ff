"""A client generated from the OpenAPI document compiles: openapi-typescript (npm, devDependencies)
turns `build_document()` into TypeScript types and `tsc --strict` compiles docs/client/example.ts
against them — the way a mini-program developer would use the document (docs/api.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import app  # noqa: F401 - registers every route
from chalicelib.openapi import build_document

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"
TSCONFIG = {
    "compilerOptions": {"strict": True, "noEmit": True, "target": "es2022", "module": "esnext",
                        "moduleResolution": "bundler", "lib": ["es2022", "dom"], "types": [],
                        "skipLibCheck": True, "noUnusedLocals": True},
    "files": ["example.ts"],
}


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (f"{' '.join(cmd)} failed ({done.returncode}):\n"
                                  f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}")


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    if not (BIN / "openapi-typescript").exists():
        pytest.fail("node_modules lacks openapi-typescript: run `make install` (npm ci)")
    (tmp_path / "openapi.json").write_text(json.dumps(build_document()))
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")  # openapi-fetch, as an app would have it
    _run([str(BIN / "openapi-typescript"), "openapi.json", "-o", "yundian-api.d.ts"], tmp_path)
    return tmp_path


def test_example_client_compiles_against_the_document(generated: Path) -> None:
    (generated / "example.ts").write_text((ROOT / "docs" / "client" / "example.ts").read_text())
    (generated / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    _run([str(BIN / "tsc"), "-p", "tsconfig.json"], generated)


def test_a_field_the_document_lacks_does_not_compile(generated: Path) -> None:
    """The check can fail: the same example reading a field no answer has is refused by tsc."""
    source = (ROOT / "docs" / "client" / "example.ts").read_text()
    (generated / "example.ts").write_text(source + "\nexport const wrong = (s: StorePage) => s.no_such_field;\n")
    (generated / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    done = subprocess.run([str(BIN / "tsc"), "-p", "tsconfig.json"], cwd=str(generated), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode != 0 and "no_such_field" in done.stdout, done.stdout[-3000:]
