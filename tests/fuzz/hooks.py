"""schemathesis hooks of the fuzz run (tests/fuzz/test_schemathesis.py; `SCHEMATHESIS_HOOKS=tests.fuzz.hooks`).

`YUNDIAN_FUZZ_CONTEXT` names a JSON file the test writes before the run:
`{"base": "http://127.0.0.1:<port>", "tokens": {"admin", "partner", "merchant", "customer"}, "basic": [key_id, secret],
"terminal": {"terminal_id", "secret"}, "stores": {merchant_id: [store_id, ...]}, "partner_id", "stats": "<path>"}`.

Credentials, as real callers send them:
- terminal operations (`/v1/terminal/*`) are signed like a terminal signs them: HMAC-SHA256 of the
  canonical request (method, path, timestamp, a fresh nonce, the exact body bytes sent) with the
  terminal's secret — `chalicelib.auth.terminal_signature`, the function the server checks with;
- bearer operations get a token of a role the operation admits (`x-roles`: admin where admins may,
  else the first role named: a customer token for the customer's own routes);
- `POST /v1/auth/token` gets HTTP Basic with an API key.
They are auth providers, so schemathesis's `ignored_auth` check can still take them away and expect 401.

Cases left out of the positive check (each a rule JSON Schema cannot say, so the document cannot
exclude it; the server stays strict and other tests cover the rule):
- a whole-number float (`44.0`) where the document says integer: JSON Schema counts it an integer,
  the contract refuses it (422). Positive cases carrying one are dropped (`filter_case`);
- `from` after `to`, or more than 92 days apart, on the dashboard series: put in order and clamped;
- an `Idempotency-Key` sent again with another request is refused (`422 idempotency_key_reused`),
  and generated keys repeat: positive cases get a fresh key;
- a terminal reports a payment when it happens: a `paid_at` more than 300 s ahead of the business
  clock is refused (`422 paid_at_in_future`; the run moves that clock), so positive cases carry
  the business clock's time;
- the clock moved by `advance_seconds` must stay in 1970..9000, which depends on where it stands:
  positive cases move it at most that far;
- a prize's `rank_from` must not exceed its `rank_to`: positive cases put the two in order;
- an API key's tenant: the run calls as an admin, who must name a partner key's partner and a
  merchant key's merchant (others default to themselves), and a merchant key's `partner_id` must
  be its merchant's partner: positive cases name a demo tenant and leave `partner_id` out;
- a terminal is registered at a store of the merchant in the path: positive cases name one;
- the app-authorization `state` is signed by `authorize-url` (15 minutes): positive cases carry
  one it signed for a demo merchant;
- a `cursor` is only ever a previous page's `next_cursor` (signed; anything else is
  `400 invalid_cursor`): positive cases leave it out;
- a binding's `id` has the format of the path's platform (`PLATFORM_ID_PATTERNS`: an Alipay id is
  letters and digits, a WeChat Pay sub_mchid 8-32 digits): positive cases get an id both admit.

`after_call` counts each operation's answers by status into the stats file, so the test can check
that the run reached every operation's success path, not just its refusals.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import schemathesis
from schemathesis import GenerationMode

from chalicelib.auth import terminal_signature
from chalicelib.onboarding.platforms import PLATFORM_ID_PATTERNS
from chalicelib.schemas import EARLIEST, LATEST

CONTEXT: dict[str, Any] = json.loads(Path(os.environ["YUNDIAN_FUZZ_CONTEXT"]).read_text())
MAX_SERIES_DAYS = 92


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


def _raw_operation(case: Any) -> dict[str, Any]:
    return case.operation.definition.raw


def wire_body(case: Any) -> bytes:
    """The body bytes the request will carry: what `requests` sends for `json=` (json.dumps with
    its defaults, allow_nan=False), raw bytes as they are, nothing when there is no body."""
    body = case.body
    if body is None or type(body).__name__ == "NotSet":
        return b"null" if body is None else b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and not (case.media_type or "").endswith("json"):
        return body.encode()
    return json.dumps(body, allow_nan=False).encode()


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/v1/terminal/")
class TerminalSignature:
    def get(self, case: Any, ctx: Any) -> dict[str, str]:
        return CONTEXT["terminal"]

    def set(self, case: Any, data: dict[str, str], ctx: Any) -> None:
        ts, nonce = str(int(time.time())), secrets.token_hex(12)
        signature = terminal_signature(data["secret"], case.method.upper(), case.formatted_path, ts, nonce,
                                       wire_body(case))
        case.headers = {**(case.headers or {}), "X-Yundian-Terminal": data["terminal_id"],
                        "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce, "X-Yundian-Signature": signature}


@schemathesis.auth(refresh_interval=None).skip_for(path_regex="^/v1/terminal/")
class RoleCredentials:
    def get(self, case: Any, ctx: Any) -> dict[str, Any]:
        return CONTEXT

    def set(self, case: Any, data: dict[str, Any], ctx: Any) -> None:
        raw = _raw_operation(case)
        schemes = {name for requirement in raw.get("security") or [] for name in requirement}
        if "basic" in schemes:
            key_id, secret = data["basic"]
            value = "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        elif "bearer" in schemes:
            roles = raw.get("x-roles") or ["admin"]
            role = "admin" if "admin" in roles else roles[0]
            value = f"Bearer {data['tokens'][role]}"
        else:
            return  # a public route or a platform notification: no credentials
        case.headers = {**(case.headers or {}), "Authorization": value}


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    if _revokes_own_credentials(case):
        return False
    return not (_positive(case) and _has_whole_float(case.body))


def _revokes_own_credentials(case: Any) -> bool:
    """The run never revokes what it signs and signs in with: schemathesis reuses ids it saw in
    answers, and a revoked terminal or key would turn every later case into a 401."""
    if case.method.upper() != "DELETE":
        return False
    params = case.path_parameters or {}
    return (params.get("terminal_id") == CONTEXT["terminal"]["terminal_id"]
            or params.get("key_id") == CONTEXT["basic"][0])


def _has_whole_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_whole_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_whole_float(v) for v in value)
    return False


ID_PATTERNS = {platform: re.compile(pattern) for platform, pattern in PLATFORM_ID_PATTERNS.items()}


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if not _positive(case):
        return case
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = secrets.token_urlsafe(16)
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        if "from" in case.query and "to" in case.query:
            case.query["from"], case.query["to"] = _series_window(case.query["from"], case.query["to"])
    body = case.body if isinstance(case.body, dict) else None
    _apply_body_rule(case)
    if case.operation.path == "/v1/auth/alipay/app-authorized" and isinstance(case.query, dict):
        case.query["state"] = _signed_state()
    platform = (case.path_parameters or {}).get("platform")
    if platform in ID_PATTERNS and body is not None and isinstance(body.get("id"), str) \
            and not ID_PATTERNS[platform].match(body["id"]):
        body["id"] = "19" + "".join(secrets.choice("0123456789") for _ in range(8))  # both platforms admit it
    return case


def _apply_body_rule(case: Any) -> None:
    fix = BODY_RULES.get((case.method.upper(), case.operation.path))
    if fix is not None and isinstance(case.body, dict):
        fix(case, case.body)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # The stateful phase fills values from earlier answers after `map_case`: put the rules right
    # again just before sending. Not for terminal requests: they are signed by then.
    if _positive(case) and not case.operation.path.startswith("/v1/terminal/"):
        _apply_body_rule(case)


def _signed_state() -> str:
    """A `state` as `authorize-url` signs it for a demo merchant (15 minutes; kept 10)."""
    now = time.monotonic()
    if _STATE.get("until", 0.0) < now:
        merchant_id = sorted(CONTEXT["stores"])[0]
        req = urllib.request.Request(f"{CONTEXT['base']}/v1/merchants/{merchant_id}/bindings/alipay/authorize-url",
                                     headers={"Authorization": f"Bearer {CONTEXT['tokens']['admin']}"})
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - the run's own local server
            url = json.loads(r.read())["url"]
        _STATE.update(state=parse_qs(urlsplit(url).query)["state"][0], until=now + 600)
    return str(_STATE["state"])


_STATE: dict[str, Any] = {}


def _paid_now(case: Any, body: dict[str, Any]) -> None:
    if isinstance(body.get("paid_at"), str):
        body["paid_at"] = _business_now()


def _ordered_prizes(case: Any, body: dict[str, Any]) -> None:
    for prize in body.get("prizes") or []:
        if isinstance(prize, dict) and all(isinstance(prize.get(k), int) for k in ("rank_from", "rank_to")):
            prize["rank_from"], prize["rank_to"] = sorted((prize["rank_from"], prize["rank_to"]))


def _store_of_the_merchant(case: Any, body: dict[str, Any]) -> None:
    stores = CONTEXT["stores"].get(str((case.path_parameters or {}).get("merchant_id")))
    if stores:
        body["store_id"] = secrets.choice(stores)


def _business_now() -> str:
    """The business clock's time (`GET /v1/admin/clock`; the run moves it): a terminal reports a
    payment as it happens, and one more than 300 s ahead is refused (`422 paid_at_in_future`)."""
    req = urllib.request.Request(CONTEXT["base"] + "/v1/admin/clock",
                                 headers={"Authorization": f"Bearer {CONTEXT['tokens']['admin']}"})
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - the run's own local server
        return str(json.loads(r.read())["now"])


def _name_the_tenant(case: Any, body: dict[str, Any]) -> None:
    """The run creates keys as an admin, who names the key's tenant (a partner or a merchant
    calling defaults to itself), and a merchant key's `partner_id` is its merchant's partner."""
    if body.get("role") == "partner":
        body["partner_id"] = CONTEXT["partner_id"]
    elif body.get("role") == "merchant":
        body.pop("partner_id", None)
        body["merchant_id"] = secrets.choice(sorted(CONTEXT["stores"]))


def _keep_clock_in_range(case: Any, body: dict[str, Any]) -> None:
    advance = body.get("advance_seconds")
    if not isinstance(advance, int) or isinstance(advance, bool):
        return
    now = datetime.fromisoformat(_business_now())
    lowest = int((EARLIEST - now).total_seconds()) + 1
    highest = int((LATEST - now).total_seconds()) - 1
    body["advance_seconds"] = min(max(advance, lowest), highest)


def _series_window(first: Any, second: Any) -> tuple[Any, Any]:
    try:
        a, b = sorted((date.fromisoformat(str(first)), date.fromisoformat(str(second))))
    except ValueError:
        return first, second
    b = min(b, a + timedelta(days=MAX_SERIES_DAYS - 1))
    return a.isoformat(), b.isoformat()


# The positive cases' bodies put right where a rule spans fields or depends on state (module docstring).
BODY_RULES: dict[tuple[str, str], Callable[[Any, dict[str, Any]], None]] = {
    ("POST", "/v1/terminal/payments"): _paid_now,
    ("POST", "/v1/admin/clock"): _keep_clock_in_range,
    ("POST", "/v1/contests"): _ordered_prizes,
    ("POST", "/v1/merchants/{merchant_id}/terminals"): _store_of_the_merchant,
    ("POST", "/v1/api-keys"): _name_the_tenant,
}

_STATS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_STATS_LOCK = threading.Lock()


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    label = f"{case.method.upper()} {case.operation.path}"
    with _STATS_LOCK:
        _STATS[label][str(response.status_code)] += 1
        Path(CONTEXT["stats"]).write_text(json.dumps(_STATS, sort_keys=True))
