"""The local stage's stand-in for Alipay's OpenAPI gateway and WeChat's API: a small threaded HTTP
server that the real adapters (`chalicelib.identity.alipay_openapi`, `.wechat_api`) reach by
their base URLs alone. Local only (`make run`, the tests); never shipped.

Alipay (`POST /gateway.do`): it checks the request like the gateway — the common parameters, the
app id, the timestamp (within 15 minutes), and the app's RSA2 signature with the app's public
key (a bad one: `40002 isv.invalid-signature`) — then answers `alipay.system.oauth.token` and
`alipay.open.auth.token.app`. Every code `sandbox:<user id>` is accepted for that user id
(`user_id` when it is `2088` + 12 digits, else `open_id`; always `user_id` for an app
authorization); any other is refused as the platform refuses it (`40002 isv.code-invalid`).
Answers are signed, as Alipay signs them, with the platform's private key.

WeChat (`GET /sns/jscode2session`): a wrong appid is `40013`, a wrong secret `40125`, a code
`sandbox:<openid>` answers that openid and a session key, any other code `40029`; unsigned JSON
as `text/plain`, like the platform.

Test hooks, off until a test sets them: `server.faults` delays the next answers past a client's
timeout, answers 5xx or garbage, tampers with the next Alipay answer (its signature, its body, or
drops the signature), or refuses with a given platform error; `server.seen` lists the requests
received (secrets masked), with whether the app's signature verified.

`start(...)` runs one; `start_local(environ, data_dir)` is `make run`'s: the local keys and
settings (generated once into `.dynamodb/`) and the environment the server is given.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import platform_crypto
from localdev import platform_keys

OAUTH_TOKEN = "alipay.system.oauth.token"
APP_AUTH_TOKEN = "alipay.open.auth.token.app"
GATEWAY_PATH = "/gateway.do"
WECHAT_PATH = "/sns/jscode2session"
SANDBOX = "sandbox:"
SELLER_ID = re.compile(r"^2088[0-9]{12}$")
PRINTABLE_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
BEIJING = ZoneInfo("Asia/Shanghai")
TIMESTAMP_WINDOW = timedelta(minutes=15)
MAX_BODY = 64 * 1024
LOCAL_AUTH_APP_ID = "2021000000000099"  # the shop owner's app that authorizes ours, in the simulator
LOCAL_WECHAT_APPID = "wx00000000000000a1"
APP_KEY_FILE = "alipay-app-key.pem"
WECHAT_FILE = "wechat-miniapp.json"
MESSAGES = {"10000": "Success", "20000": "Service Currently Unavailable", "20001": "Insufficient Token Permissions",
            "40001": "Missing Required Arguments", "40002": "Invalid Arguments", "40004": "Business Failed",
            "40006": "Insufficient Permissions"}
WECHAT_MESSAGES = {-1: "system error", 40013: "invalid appid", 40125: "invalid appsecret", 40029: "invalid code",
                   40163: "code been used", 40226: "high risk user", 45011: "api minute-quota reach limit",
                   41008: "missing code", 40002: "invalid grant_type"}


# ------------------------------------------------------------------ test hooks


@dataclass(frozen=True)
class Fault:
    kind: str  # delay | status | garbage | tamper | refuse
    platform: str | None = None  # alipay | wechat | None (either)
    seconds: float = 0.0
    status: int = 502
    body: bytes = b""
    tamper: str = "sign"  # sign | body | unsigned
    alipay: tuple[str, str] = ("20000", "isp.unknow-error")
    wechat: int = -1


class Faults:
    """Faults for the next requests, in order; each is used by one request of its platform."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def _add(self, fault: Fault, times: int) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def delay(self, seconds: float, times: int = 1, platform: str | None = None) -> None:
        """Wait `seconds` before answering (the answer itself is then the usual one)."""
        self._add(Fault("delay", platform, seconds=seconds), times)

    def fail(self, status: int = 502, times: int = 1, platform: str | None = None) -> None:
        self._add(Fault("status", platform, status=status), times)

    def garbage(self, body: bytes = b"<html>upstream says hello</html>", times: int = 1,
                platform: str | None = None) -> None:
        """A 200 whose body is `body`."""
        self._add(Fault("garbage", platform, body=body), times)

    def tamper(self, what: str = "sign", times: int = 1) -> None:
        """The next Alipay answers with their signature altered (`sign`), their body altered after
        signing (`body`), or without a signature (`unsigned`)."""
        if what not in ("sign", "body", "unsigned"):
            raise ValueError(what)
        self._add(Fault("tamper", "alipay", tamper=what), times)

    def refuse_alipay(self, code: str, sub_code: str = "", times: int = 1) -> None:
        """The next Alipay answers: that gateway `code` and `sub_code`, signed."""
        self._add(Fault("refuse", "alipay", alipay=(code, sub_code)), times)

    def refuse_wechat(self, errcode: int, times: int = 1) -> None:
        self._add(Fault("refuse", "wechat", wechat=errcode), times)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def take(self, platform: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._queue):
                if fault.platform in (None, platform):
                    return self._queue.pop(i)
        return None


@dataclass
class Seen:
    """One request the simulator received, recorded on arrival (`answer` and `body` follow once
    answered). `params` has `secret` and `sign` masked; `body` is the answer as sent."""

    platform: str
    method: str
    params: dict[str, str]
    signature_valid: bool | None = None  # Alipay: whether the app's request signature verified
    answer: str = "pending"  # ok, the sub code or errcode it answered, or the fault
    body: bytes = b""


# ------------------------------------------------------------------ the server


@dataclass
class _Identity:
    app_public_key: rsa.RSAPublicKey
    platform_key: rsa.RSAPrivateKey
    wechat_appid: str
    wechat_secret: str
    alipay_app_id: str | None
    stopping: threading.Event = field(default_factory=threading.Event)


class PlatformSimulator(ThreadingHTTPServer):
    """The running simulator: `url` (WeChat's base URL), `alipay_gateway_url`, `faults`, `seen`,
    `stop()`."""

    daemon_threads = True
    request_queue_size = 64
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], identity: _Identity) -> None:
        super().__init__(address, _Handler)
        self.identity = identity
        self.faults = Faults()
        self._seen: list[Seen] = []
        self._seen_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    @property
    def alipay_gateway_url(self) -> str:
        return self.url + GATEWAY_PATH

    def seen(self, platform: str | None = None) -> list[Seen]:
        with self._seen_lock:
            return [s for s in self._seen if platform in (None, s.platform)]

    def record(self, seen: Seen) -> None:
        with self._seen_lock:
            self._seen.append(seen)

    def reset(self) -> None:
        """No fault pending, nothing seen (between tests)."""
        self.faults.clear()
        with self._seen_lock:
            self._seen.clear()

    def serve_in_background(self) -> PlatformSimulator:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="platform-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.identity.stopping.set()  # delayed answers give up their wait
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a delayed answer is what the delay is for


class _Handler(BaseHTTPRequestHandler):
    server: PlatformSimulator
    server_version = "PlatformSimulator/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the request line carries WeChat's secret in its query: never printed

    # -------------------------------------------------------------- plumbing

    def _send(self, status: int, body: bytes, content_type: str = "application/json;charset=utf-8") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _prelude(self, platform: str) -> Fault | None:
        """The pending fault for this request, after any delay it asks for."""
        fault = self.server.faults.take(platform)
        if fault is not None and fault.kind == "delay":
            self.server.identity.stopping.wait(fault.seconds)
        return fault

    def _fault_answer(self, fault: Fault | None, seen: Seen) -> bool:
        """Whether the fault was the answer (recorded in `seen` before it is sent)."""
        if fault is None or fault.kind not in ("status", "garbage"):
            return False
        if fault.kind == "status":
            status, seen.answer, seen.body = fault.status, f"fault:{fault.status}", b"<html>bad gateway</html>"
        else:
            status, seen.answer, seen.body = 200, "fault:garbage", fault.body
        self._send(status, seen.body, "text/html")
        return True

    # -------------------------------------------------------------- WeChat

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        if parts.path == "/health":
            self._send(200, b'{"ok":true}')
            return
        if parts.path != WECHAT_PATH:
            self._send(404, b'{"errcode":404,"errmsg":"not found"}')
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        seen = Seen("wechat", WECHAT_PATH, {**query, **({"secret": "***"} if "secret" in query else {})})
        self.server.record(seen)
        fault = self._prelude("wechat")
        if not self._fault_answer(fault, seen):
            errcode, answer = self._jscode2session(query, fault)
            seen.answer, seen.body = ("ok" if errcode == 0 else str(errcode)), json.dumps(answer).encode()
            self._send(200, seen.body, "text/plain")

    def _jscode2session(self, q: Mapping[str, str], fault: Fault | None) -> tuple[int, dict[str, Any]]:
        ident = self.server.identity

        def error(errcode: int) -> tuple[int, dict[str, Any]]:
            rid = secrets.token_hex(6)
            return errcode, {"errcode": errcode, "errmsg": f"{WECHAT_MESSAGES.get(errcode, 'error')}, rid: {rid}"}

        if fault is not None and fault.kind == "refuse":
            return error(fault.wechat)
        if q.get("appid") != ident.wechat_appid:
            return error(40013)
        if not secrets.compare_digest(q.get("secret", ""), ident.wechat_secret):
            return error(40125)
        if q.get("grant_type") != "authorization_code":
            return error(40002)
        code = q.get("js_code", "")
        if not code:
            return error(41008)
        openid = code[len(SANDBOX):] if code.startswith(SANDBOX) else ""
        if not PRINTABLE_ID.fullmatch(openid):
            return error(40029)
        return 0, {"session_key": base64.b64encode(secrets.token_bytes(16)).decode(), "openid": openid}

    # -------------------------------------------------------------- Alipay

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        if parts.path != GATEWAY_PATH:
            self._send(404, b'{"error":"not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"")
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        pairs = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(raw, keep_blank_values=True)
        params = dict(pairs)
        method = params.get("method", "")
        seen = Seen("alipay", method, {**params, **({"sign": "***"} if "sign" in params else {})},
                    self._signature_verdict(params))
        self.server.record(seen)
        fault = self._prelude("alipay")
        if not self._fault_answer(fault, seen):
            key, answer = (self._refused(method, fault.alipay) if fault is not None and fault.kind == "refuse"
                           else self._gateway(params, pairs, bool(seen.signature_valid)))
            seen.answer = str(answer.get("sub_code") or "ok")
            seen.body = self._signed(key, answer, fault.tamper if fault and fault.kind == "tamper" else None)
            self._send(200, seen.body)

    def _signature_verdict(self, params: Mapping[str, str]) -> bool:
        content = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")
        return platform_crypto.verify_sha256_rsa(content.encode("utf-8"), params.get("sign", ""),
                                                 self.server.identity.app_public_key)

    @staticmethod
    def _error(code: str, sub_code: str, sub_msg: str) -> dict[str, Any]:
        return {"code": code, "msg": MESSAGES.get(code, "Error"), "sub_code": sub_code, "sub_msg": sub_msg}

    def _refused(self, method: str, alipay: tuple[str, str]) -> tuple[str, dict[str, Any]]:
        code, sub_code = alipay
        answer = {"code": code, "msg": MESSAGES.get(code, "Error")}
        if sub_code:
            answer.update(sub_code=sub_code, sub_msg="simulated")
        return _response_key(method) if method else "error_response", answer

    def _gateway(self, p: Mapping[str, str], pairs: list[tuple[str, str]],
                 signature_ok: bool) -> tuple[str, dict[str, Any]]:
        """(the response member's name, the response object) for a request, checked as the gateway does."""
        method = p.get("method", "")
        if not method:
            return "error_response", self._error("40001", "isv.missing-method", "缺少方法名参数")
        key = _response_key(method) if method in (OAUTH_TOKEN, APP_AUTH_TOKEN) else "error_response"
        if len({k for k, _ in pairs}) != len(pairs):
            return key, self._error("40002", "isv.invalid-parameter", "参数重复")
        for name in ("app_id", "sign", "sign_type", "timestamp", "version"):
            if not p.get(name):
                return key, self._error("40001", f"isv.missing-{name.replace('_', '-')}", f"缺少{name}参数")
        ident = self.server.identity
        if ident.alipay_app_id is not None and p["app_id"] != ident.alipay_app_id:
            return key, self._error("40002", "isv.invalid-app-id", "无效的AppID参数")
        if p.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            return key, self._error("40002", "isv.invalid-charset", "字符集错误")
        if p["sign_type"] != "RSA2":
            return key, self._error("40002", "isv.invalid-signature-type", "无效的签名类型")
        if p["version"] != "1.0":
            return key, self._error("40002", "isv.invalid-version", "无效的版本号")
        if not _fresh(p["timestamp"]):
            return key, self._error("40002", "isv.invalid-timestamp", "非法的时间戳参数")
        if not signature_ok:
            return key, self._error("40002", "isv.invalid-signature", "验签出错")
        if method == OAUTH_TOKEN:
            return self._oauth_token(key, p)
        if method == APP_AUTH_TOKEN:
            return self._app_auth_token(key, p)
        return key, self._error("40002", "isv.invalid-method", "不存在的方法名")

    def _oauth_token(self, key: str, p: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        if p.get("grant_type") != "authorization_code":
            return "error_response", self._error("40002", "isv.grant-type-invalid", "grant_type参数不正确")
        who = _sandbox_id(p.get("code", ""))
        if who is None:
            return "error_response", self._error("40002", "isv.code-invalid", "授权码code无效")
        now = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        answer: dict[str, Any] = {"user_id": who} if SELLER_ID.fullmatch(who) else {"open_id": who}
        answer.update(access_token="authusrB" + secrets.token_hex(16), expires_in=1296000,
                      refresh_token="authusrB" + secrets.token_hex(16), re_expires_in=2592000, auth_start=now)
        return key, answer  # a success of this method carries no `code`, as the platform's

    def _app_auth_token(self, key: str, p: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        try:
            biz = json.loads(p.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return key, self._error("40002", "isv.invalid-biz-content", "biz_content不是JSON对象")
        if biz.get("grant_type") != "authorization_code":
            return key, self._error("40002", "isv.grant-type-invalid", "grant_type参数不正确")
        who = _sandbox_id(str(biz.get("code") or ""))
        if who is None:
            return key, self._error("40002", "isv.code-invalid", "授权码code无效")
        stamp = datetime.now(BEIJING).strftime("%Y%m")
        return key, {"code": "10000", "msg": "Success", "user_id": who, "auth_app_id": LOCAL_AUTH_APP_ID,
                     "app_auth_token": f"{stamp}BB{secrets.token_hex(16)}",
                     "app_refresh_token": f"{stamp}BB{secrets.token_hex(16)}",
                     "expires_in": 31536000, "re_expires_in": 32140800}

    def _signed(self, key: str, answer: dict[str, Any], tamper: str | None) -> bytes:
        raw = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        sign = platform_crypto.sign_sha256_rsa(raw.encode("utf-8"), self.server.identity.platform_key)
        if tamper == "sign":
            flipped = bytearray(base64.b64decode(sign))
            flipped[len(flipped) // 2] ^= 0x01
            sign = base64.b64encode(bytes(flipped)).decode()
        elif tamper == "body":
            altered = dict(answer)
            for name in ("user_id", "open_id"):
                if name in altered:
                    altered[name] = "2088999999999999"
            altered.setdefault("tampered", True)
            raw = json.dumps(altered, ensure_ascii=False, separators=(",", ":"))
        body = f'{{"{key}":{raw}'
        if tamper != "unsigned":
            body += f',"sign":"{sign}"'
        return (body + "}").encode("utf-8")


def _response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def _sandbox_id(code: str) -> str | None:
    who = code[len(SANDBOX):] if code.startswith(SANDBOX) else ""
    return who if PRINTABLE_ID.fullmatch(who) else None


def _fresh(timestamp: str) -> bool:
    try:
        when = datetime.strptime(timestamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return False
    return abs(datetime.now(BEIJING) - when) <= TIMESTAMP_WINDOW


# ------------------------------------------------------------------ starting one


def start(host: str = "127.0.0.1", port: int = 0, *, alipay_app_public_key_pem: str,
          alipay_platform_private_key: rsa.RSAPrivateKey | str, wechat_appid: str, wechat_secret: str,
          alipay_app_id: str | None = None) -> PlatformSimulator:
    """A simulator serving on `host:port` (0: a free port) in a daemon thread. It trusts the
    app's public key (PEM or bare base64), signs with the platform's private key (a key or PEM),
    and checks the app id when `alipay_app_id` is given."""
    platform_key = (alipay_platform_private_key if isinstance(alipay_platform_private_key, rsa.RSAPrivateKey)
                    else platform_crypto.load_private_key(alipay_platform_private_key, "ALIPAY_PLATFORM_PRIVATE_KEY"))
    identity = _Identity(platform_crypto.load_public_key(alipay_app_public_key_pem, "the app's public key"),
                         platform_key, wechat_appid, wechat_secret, alipay_app_id)
    return PlatformSimulator((host, port), identity).serve_in_background()


@dataclass(frozen=True)
class LocalLogins:
    """The local stage's platform-login identities: the app's Alipay key, Alipay's platform key,
    the app id and the mini-program's appid and secret; `env` is what the server is configured with
    for the names the environment leaves unset."""

    app_key: rsa.RSAPrivateKey = field(repr=False)
    platform_key: rsa.RSAPrivateKey = field(repr=False)
    alipay_app_id: str
    wechat_appid: str
    wechat_secret: str = field(repr=False)
    env: dict[str, str] = field(repr=False, default_factory=dict)


def local_logins(environ: Mapping[str, str], data_dir: Path) -> LocalLogins:
    """The identities the simulator of `make run` uses: the environment's where it sets them
    (`ALIPAY_APP_PRIVATE_KEY`, `ALIPAY_PLATFORM_PRIVATE_KEY`, `ALIPAY_APP_ID`, `WECHAT_MINIAPP_*`),
    else generated once into `data_dir` (mode 0600). RuntimeError when `ALIPAY_PUBLIC_KEY` is set
    but is not the public half of the platform key the simulator signs with (set both or neither)."""
    env: dict[str, str] = {}
    own_platform = environ.get("ALIPAY_PLATFORM_PRIVATE_KEY", "")
    if own_platform:
        platform_key = platform_crypto.load_private_key(own_platform, "ALIPAY_PLATFORM_PRIVATE_KEY")
    else:
        platform_key = platform_keys.private_key(data_dir)
    trusted = environ.get("ALIPAY_PUBLIC_KEY")
    if trusted:
        if not platform_crypto.same_key(platform_crypto.load_public_key(trusted), platform_key.public_key()):
            which = "ALIPAY_PLATFORM_PRIVATE_KEY" if own_platform else "the local platform key (.dynamodb/)"
            raise RuntimeError(f"ALIPAY_PUBLIC_KEY is not the public half of {which}, which the platform simulator "
                               "signs with: on the local stage set ALIPAY_PLATFORM_PRIVATE_KEY and ALIPAY_PUBLIC_KEY "
                               "together, or neither")
    elif trusted is None:
        env["ALIPAY_PUBLIC_KEY"] = platform_crypto.public_pem(platform_key)
    own_app = environ.get("ALIPAY_APP_PRIVATE_KEY", "")
    if own_app:
        app_key = platform_crypto.load_private_key(own_app, "ALIPAY_APP_PRIVATE_KEY")
    else:
        app_key = _generated_key(data_dir / APP_KEY_FILE)
        env["ALIPAY_APP_PRIVATE_KEY"] = platform_crypto.private_pem(app_key)
    app_id = environ.get("ALIPAY_APP_ID") or platform_keys.LOCAL_ALIPAY_APP_ID
    appid = environ.get("WECHAT_MINIAPP_APPID") or LOCAL_WECHAT_APPID
    secret = environ.get("WECHAT_MINIAPP_SECRET") or _generated_secret(data_dir / WECHAT_FILE)
    env.update({"ALIPAY_APP_ID": app_id, "WECHAT_MINIAPP_APPID": appid, "WECHAT_MINIAPP_SECRET": secret})
    return LocalLogins(app_key, platform_key, app_id, appid, secret,
                       {name: value for name, value in env.items() if name not in environ})


def start_local(environ: Mapping[str, str], data_dir: Path, host: str = "127.0.0.1",
                port: int = 0) -> tuple[PlatformSimulator, dict[str, str]]:
    """`make run`'s simulator, started, and the settings to add to the server's environment:
    those of `local_logins` plus `ALIPAY_GATEWAY_URL` and `WECHAT_API_BASE_URL` pointing at it —
    each only where `environ` (the server's environment so far) leaves it unset."""
    logins = local_logins(environ, data_dir)
    server = start(host, port, alipay_app_public_key_pem=platform_crypto.public_pem(logins.app_key),
                   alipay_platform_private_key=logins.platform_key, wechat_appid=logins.wechat_appid,
                   wechat_secret=logins.wechat_secret, alipay_app_id=logins.alipay_app_id)
    urls = {"ALIPAY_GATEWAY_URL": server.alipay_gateway_url, "WECHAT_API_BASE_URL": server.url}
    return server, {**logins.env, **{name: url for name, url in urls.items() if name not in environ}}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _generated_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        _write_private(path, platform_crypto.private_pem(rsa.generate_private_key(public_exponent=65537,
                                                                                  key_size=2048)))
    return platform_crypto.load_private_key(path.read_text(), str(path))


def _generated_secret(path: Path) -> str:
    if not path.exists():
        _write_private(path, json.dumps({"secret": secrets.token_hex(16)}))
    return str(json.loads(path.read_text())["secret"])
