"""HTTP to a platform (Alipay's gateway, WeChat's API): `requests` with a connect and a read
timeout, and a small bounded retry loop — exponential backoff with full jitter — on network
errors and 5xx answers. Every failure becomes `503 platform_unavailable`.

Why a loop of our own over `requests` rather than urllib3's `Retry` on an `HTTPAdapter`: urllib3
logs the request URL (a WeChat URL carries the app secret in its query) at WARNING on every retry,
and its exceptions quote that URL; here nothing logged or raised names more than the platform,
the host and the exception class. The loop also retries a read that times out in the middle of
a body, which urllib3's retries do not see.

Building a `PlatformHttp` opens no connection and imports no `requests` (~25 ms of a cold start
that only `/v1/auth/*` needs); one `requests.Session` (a connection pool) then serves all the
calls of a warm container.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.identity.platform_ports import platform_unavailable
from chalicelib.observability import logger

if TYPE_CHECKING:
    import requests

MAX_ANSWER_BYTES = 64 * 1024  # the platforms' answers to a code exchange are < 2 KB
USER_AGENT = "yundian/1 (+platform-client)"


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retries of one platform client. `attempts` counts the first try; the wait
    before retry n is uniform in [0, min(backoff_max, backoff_base * 2**(n-1))] seconds; no retry
    starts that could end past `deadline` seconds after the first try began, so a failing
    platform costs a request at most ~20 s, within API Gateway's 29 s."""

    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    attempts: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 2.0
    deadline: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.connect_timeout <= 0 or self.read_timeout <= 0 or self.backoff_base < 0:
            raise ValueError("an HTTP policy needs at least one attempt and positive timeouts")

    def backoff(self, retry: int) -> float:
        return random.uniform(0.0, min(self.backoff_max, self.backoff_base * 2 ** (retry - 1)))  # noqa: S311


class PlatformUnreachable(Exception):
    """The cause chained to a `503 platform_unavailable`: platform, host and exception class only."""


class AnswerTooLarge(ValueError):
    pass


def _requests() -> ModuleType:
    import requests  # deferred: see the module's docstring

    return requests


class PlatformHttp:
    """One platform's HTTP client."""

    def __init__(self, platform: str, policy: HttpPolicy | None = None, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.platform = platform
        self.policy = policy or HttpPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        self._given_session = session

    def send(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
             data: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None) -> bytes:
        """The body of the platform's `200` answer; `503 platform_unavailable` once the attempts
        are spent on network errors and 5xx, or at once for another status."""
        lib = _requests()
        retried = (lib.ConnectionError, lib.Timeout, lib.exceptions.ChunkedEncodingError)
        host = urlsplit(url).netloc
        p = self.policy
        started = self._monotonic()
        attempt, reason, final = 0, "", False
        while attempt < p.attempts and not final:
            attempt += 1
            try:
                status, body = self._once(method, url, params, data, headers)
            except retried as exc:
                # a certificate that does not verify will not verify on a retry either
                reason, final = type(exc).__name__, isinstance(exc, lib.exceptions.SSLError)
            except (lib.RequestException, ValueError) as exc:  # an invalid URL, a bad proxy setting …
                reason, final = type(exc).__name__, True
            else:
                if status == 200:
                    return body
                reason, final = f"HTTP {status}", status < 500
            if attempt < p.attempts and not final:
                wait = p.backoff(attempt)
                if self._monotonic() - started + wait + p.connect_timeout + p.read_timeout > p.deadline:
                    break
                logger.warning("platform call failed, retrying", extra={
                    "platform": self.platform, "host": host, "reason": reason, "attempt": attempt})
                self._sleep(wait)
        # raised outside any `except`: the requests exception (whose text quotes the URL) is
        # neither the cause nor the context of what the caller sees
        logger.warning("platform unavailable", extra={
            "platform": self.platform, "host": host, "reason": reason, "attempts": attempt})
        raise platform_unavailable(self.platform) from PlatformUnreachable(
            f"{self.platform} at {host}: {reason} after {attempt} attempt(s)")

    @cached_property
    def _session(self) -> requests.Session:
        return self._given_session or _session()

    def _once(self, method: str, url: str, params: Mapping[str, str] | None, data: Mapping[str, str] | None,
              headers: Mapping[str, str] | None) -> tuple[int, bytes]:
        p = self.policy
        with self._session.request(method, url, params=params, data=data, headers=dict(headers or {}),
                                   timeout=(p.connect_timeout, p.read_timeout), allow_redirects=False,
                                   stream=True) as response:
            body = bytearray()
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise AnswerTooLarge(f"more than {MAX_ANSWER_BYTES} bytes")  # not an answer to a code exchange
            return response.status_code, bytes(body)


def _session() -> requests.Session:
    lib = _requests()
    session = lib.Session()
    adapter = lib.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=10, max_retries=0)  # the retries are ours
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


# ------------------------------------------------------------------ no secret in urllib3's own logs

_QUERY_SECRETS = re.compile(r"((?:secret|js_code|code|app_auth_code|auth_code)=)[^&\s'\"]*", re.IGNORECASE)
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")


class RedactQuerySecrets(logging.Filter):
    """Rewrites urllib3's DEBUG lines, which quote the request path with its query, so that
    `secret=` and codes read `***` even where a process logs urllib3 at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = _QUERY_SECRETS.sub(r"\1***", text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


def redact_urllib3_logs() -> None:
    """Installed once per process by the clients that send secrets in a URL (idempotent)."""
    for name in _URLLIB3_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactQuerySecrets) for f in log.filters):
            log.addFilter(RedactQuerySecrets())


def form_headers() -> dict[str, Any]:
    return {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8", "Accept": "application/json"}
