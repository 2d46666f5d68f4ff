"""The console as the API serves it: the page and its built assets with their content types,
caching headers and a Content-Security-Policy without inline code; only the manifest's names."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from chalicelib import console_site
from chalicelib.console_site import ConsoleAssets
from chalicelib.errors import AppError
from tests.helpers import Api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    """The real build (`make test` runs it first; built here when missing, as `make console` would)."""
    manifest = console_site.ASSETS_DIR / "manifest.json"
    if not manifest.exists():
        subprocess.run(["node", "console/build.mjs"], cwd=ROOT, check=True, capture_output=True, timeout=120)
    assets: dict[str, str] = json.loads(manifest.read_text())["assets"]
    return assets


def test_page_is_html_never_cached_with_a_strict_policy(api: Api, built: dict[str, str]) -> None:
    r = api.get("/console")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    csp = dict(part.strip().split(" ", 1) for part in r.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in r.headers["Content-Security-Policy"]
    page = r.raw.decode()
    assert '<html lang="zh-CN">' in page
    # no inline code: every script has a src, no style element or attribute, no handler attribute
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page and " style=" not in page and not re.search(r"\son[a-z]+=", page)
    linked = re.findall(r'(?:src|href)="console/([^"]+)"', page)
    assert sorted(linked) == sorted(built), "the page names exactly the built assets"


def test_each_asset_has_its_type_and_is_cached_for_a_year(api: Api, built: dict[str, str]) -> None:
    kinds = {name.rsplit(".", 1)[1] for name in built}
    assert kinds == {"js", "css", "svg"}
    for name, ctype in built.items():
        r = api.get(f"/console/{name}")
        assert r.status == 200, name
        assert r.headers["Content-Type"] == ctype
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.raw == (console_site.ASSETS_DIR / name).read_bytes()
    assert {ctype.split(";")[0] for ctype in built.values()} == {"text/javascript", "text/css", "image/svg+xml"}


@pytest.mark.parametrize("name", ["app.js", "manifest.json", "index.html", "..%2Fapp.py", "x" * 129, "%00"])
def test_only_listed_assets_are_served(api: Api, built: dict[str, str], name: str) -> None:
    r = api.get(f"/console/{name}")
    assert (r.status, r.code) == (404, "not_found")
    assert r.headers["Content-Type"] == "application/json"


def test_an_unbuilt_console_says_so(tmp_path: Path) -> None:
    assets = ConsoleAssets(tmp_path)
    with pytest.raises(AppError) as err:
        assets.index()
    assert (err.value.status, err.value.code) == (503, "console_not_built")
    manifest = {"index": "index.html", "assets": {"a.1.js": "text/javascript"}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "a.1.js").write_text("1")
    assert ConsoleAssets(tmp_path).asset("a.1.js").body == "1"
