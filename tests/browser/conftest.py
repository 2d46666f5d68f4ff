"""Browser tests: the web console (`GET /console`) in real Chromium — Debian's `chromium` driven by
Playwright for Python (`make test` installs both when missing: scripts/browser_deps.sh,
requirements-dev.txt).

Fixtures
--------
`console` (session): `make run`'s own program, `scripts/run_local.py`, in a subprocess (its own
    process group, stopped at the end even when start-up or a test fails) on a free port with data
    of its own (`YUNDIAN_DATA_DIR`, a temporary folder) and key tokens living
    `KEY_TOKEN_SECONDS` (10 s), so a test can watch a session expire. A `Console`: `base`,
    `url`, `data_dir`, `demo`, `keys`, `request(...)`, `key(role)`, `token(role)`, `log_tail()`.
    Seeding fresh data takes most of the start-up; while iterating, keep it between runs with
    `BROWSER_TESTS_DATA_DIR=/tmp/yd-browser .venv/bin/pytest tests/browser` (a restart reuses the
    demo, as `make run` does; one pytest process per folder, and tests then see earlier runs' data).
`browser` (session): a Playwright `Browser` (Chromium at /usr/bin/chromium, headless).
`page` (function): a page in a fresh context — `locale="zh-CN"`, time zone Asia/Shanghai,
    1280x800, `base_url=console.base` (so `page.goto("/console")` works).
`phone_page` (function): the same at 390x844 with `is_mobile` and `has_touch`.
`new_page` (function): `new_page(phone=False, **context_options) -> Page`, for more pages in one
    test (each in its own context, e.g. an admin and a merchant side by side).
`page_log` (function): the `PageLog` of every page the test opened: `console` (all messages),
    `console_errors`, `page_errors` (uncaught exceptions), `csp_violations`; `assert_clean()`.

Checks, for every test that opened a page
-----------------------------------------
* After the test passes, it fails if any page had an uncaught exception (`pageerror`) or a
  Content Security Policy violation (the `securitypolicyviolation` event, enforced or report-only).
  Console errors alone (e.g. the "Failed to load resource: 401" of a rejected sign-in) do not
  fail it; assert on `page_log.console_errors` where that matters. Opt out per test with
  `@pytest.mark.allow_page_errors` (then assert on `page_log` yourself, if you like).
* A full-page screenshot of each page is saved at the end of each test, passed or failed:
  `tests/browser/screenshots/<test name>.png` (the second page of a test `<test name>-2.png`;
  git-ignored).

Every test in this folder is marked `browser`: `pytest -m "not browser"` leaves them out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import Reply
from tests.local_stack import local_stack

if TYPE_CHECKING:  # Playwright is imported when a browser is needed: `-m "not browser"` runs without it
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking ones the closed network makes Chromium noisy and slow.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY_TOKEN_SECONDS = 10
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# Forwards the page's CSP violations to the test (init scripts and bindings are not subject to CSP).
CSP_BINDING = "__yundianTestCspViolation"
CSP_LISTENER = f"""document.addEventListener("securitypolicyviolation", (e) => {{
  window.{CSP_BINDING}(`${{e.disposition}} ${{e.effectiveDirective}}: blocked ${{e.blockedURI || "(inline)"}}`
    + ` at ${{e.sourceFile || e.documentURI}}:${{e.lineNumber}}`);
}}, true);"""

TIMINGS: dict[str, float] = {}  # reported at the end of the run


# -- the marker ----------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


# -- the stack -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Console:
    """The local stack as `make run` serves it, console included."""

    base: str  # http://127.0.0.1:<port>
    data_dir: Path  # YUNDIAN_DATA_DIR: DynamoDB Local's files, demo.json, api-keys.json
    log_path: Path  # run_local.py's output (and the server's)
    demo: dict[str, Any]  # <data_dir>/demo.json: partner_id, merchants (stores, terminals with secrets)
    # <data_dir>/api-keys.json: {"admin": {key_id, secret}, "partner": {..., partner_id},
    # "merchant": {..., merchant_id}}; {} where run_local.py did not write it
    keys: dict[str, dict[str, str]]
    key_token_seconds: int = KEY_TOKEN_SECONDS

    @property
    def url(self) -> str:
        return self.base + "/console"

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                basic: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> Reply:
        """One HTTP call: a JSON `body` (or `raw` bytes); `token` as a Bearer token or `basic` (key
        id, secret) as HTTP Basic. Any status comes back (no exception for 4xx/5xx); a JSON answer parsed."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        elif basic:
            h["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - our local server
                status, answer, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, answer, rh = err.code, err.read(), dict(err.headers)
        lower = {k.lower(): v for k, v in rh.items()}
        parsed: Any = answer.decode("utf-8", "replace") if answer else None
        if answer and "json" in lower.get("content-type", ""):
            parsed = json.loads(answer)
        return Reply(status, parsed, lower, answer)

    def key(self, role: str) -> tuple[str, str]:
        """(key id, secret) of the kept API key of `role` (admin, partner, merchant)."""
        found = self.keys.get(role)
        if found is None:
            pytest.fail(f"no {role!r} API key in {self.data_dir / 'api-keys.json'} (has: {sorted(self.keys)})")
        return found["key_id"], found["secret"]

    def token(self, role: str) -> str:
        """A fresh bearer token of `role`'s key from `POST /v1/auth/token` (HTTP Basic); it lives
        `key_token_seconds`."""
        r = self.request("POST", "/v1/auth/token", basic=self.key(role))
        assert r.status == 200, f"POST /v1/auth/token as {role}: {r.status} {r.body}"
        return str(r.body["token"])

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    kept = os.environ.get("BROWSER_TESTS_DATA_DIR")
    data_dir = Path(kept).resolve() if kept else tmp_path_factory.mktemp("console-data")
    with local_stack(data_dir, {"YUNDIAN_KEY_TOKEN_SECONDS": str(KEY_TOKEN_SECONDS)}) as stack:
        TIMINGS["stack start (run_local.py until GET /v1/meta answers)"] = stack.started_in
        yield Console(base=stack.base, data_dir=stack.data_dir, log_path=stack.log_path, demo=stack.demo,
                      keys=stack.keys)


# -- the browser ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        TIMINGS["browser launch (Playwright driver + Chromium)"] = time.monotonic() - started
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageLog:
    """What the pages of one test reported."""

    console: list[str] = field(default_factory=list)  # "<type>: <text> (<url>:<line>)"
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        where = msg.location.get("url") or ""
        line = f"{msg.type}: {msg.text}" + (f" ({where}:{msg.location.get('lineNumber')})" if where else "")
        self.console.append(line)
        if msg.type == "error":
            self.console_errors.append(line)

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(error.stack or f"{error.name}: {error.message}")

    def on_csp_violation(self, source: Any, text: str) -> None:
        self.csp_violations.append(text)

    def problems(self) -> list[str]:
        return [f"page error: {e}" for e in self.page_errors] + [f"CSP violation: {v}" for v in self.csp_violations]

    def assert_clean(self) -> None:
        problems = self.problems()
        if problems:
            more = "\n".join(self.console_errors)
            raise AssertionError("the page reported:\n" + "\n".join(problems)
                                 + (f"\nconsole errors:\n{more}" if more else ""))


LOG_KEY = pytest.StashKey[PageLog]()


@pytest.fixture
def page_log(request: pytest.FixtureRequest) -> PageLog:
    log = PageLog()
    request.node.stash[LOG_KEY] = log
    return log


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that passed fails after all when a page of it had an uncaught exception or a CSP
    violation (unless marked `allow_page_errors`)."""
    result = yield
    log = item.stash.get(LOG_KEY, None)
    if log is not None and item.get_closest_marker("allow_page_errors") is None:
        log.assert_clean()
    return result


def _screenshot_name(test_name: str, n: int) -> str:
    safe = re.sub(r"[^\w.\[\]-]+", "_", test_name)
    return f"{safe}.png" if n == 1 else f"{safe}-{n}.png"


@pytest.fixture
def new_page(browser: Browser, console: Console, page_log: PageLog,
             request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """`new_page(phone=False, **context_options)`: a page in a fresh context (zh-CN, Asia/Shanghai,
    desktop 1280x800 or phone 390x844), watched and screenshotted at the end of the test."""
    opened: list[Page] = []

    def make(phone: bool = False, **options: Any) -> Page:
        settings: dict[str, Any] = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                                    "base_url": console.base, **(PHONE if phone else DESKTOP), **options}
        context = browser.new_context(**settings)
        context.expose_binding(CSP_BINDING, page_log.on_csp_violation)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.on("console", page_log.on_console)
        page.on("pageerror", page_log.on_page_error)
        opened.append(page)
        return page

    yield make

    SCREENSHOTS.mkdir(exist_ok=True)
    for n, page in enumerate(opened, 1):
        try:
            if not page.is_closed():
                page.screenshot(path=str(SCREENSHOTS / _screenshot_name(request.node.name, n)),
                                full_page=True, timeout=15_000)
        except Exception as exc:  # noqa: BLE001 - a screenshot never hides the test's own outcome
            warnings.warn(f"no screenshot of page {n} of {request.node.name}: {exc}", stacklevel=1)
        finally:
            page.context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def phone_page(new_page: Callable[..., Page]) -> Page:
    return new_page(phone=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "browser tests")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what}: {seconds:.1f}s")
