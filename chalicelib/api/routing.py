"""The one place where HTTP meets the services: body limits, authentication, the declared body
models (for the OpenAPI document; the services parse bodies with them), and the mapping of
`AppError` to the contract's `{"code", "message"}` bodies. Every route is declared with `Router.route(...)`, which also
records it for the OpenAPI document.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import handle_extra_types
from pydantic import BaseModel

from chalicelib.auth import Principal, decode_bearer, parse_terminal_headers
from chalicelib.clock import wall_clock
from chalicelib.errors import AppError, PayloadTooLarge
from chalicelib.observability import logger, metrics
from chalicelib.parsing import check_id
from chalicelib.schemas import MAX_BODY_BYTES
from chalicelib.storage import translate_storage_errors

M = TypeVar("M", bound=BaseModel)
ANY_CONTENT = ["*/*"]

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services
    from chalicelib.runtime import Runtime


@dataclass(frozen=True)
class Param:
    """A query or header parameter as the OpenAPI document declares it (JSON Schema of its value);
    the services parse it themselves, with the same bounds."""

    name: str
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


def limit_param(hi: int = 200, default: int = 50) -> Param:
    return Param("limit", {"type": "integer", "minimum": 1, "maximum": hi, "default": default},
                 description=f"items per page (1..{hi})")


LIMIT = limit_param()
CURSOR = Param("cursor", {"type": "string", "minLength": 1},
               description="the `next_cursor` of the previous page, with the same query")
PAGED = (LIMIT, CURSOR)
DATE = Param("date", {"type": "string", "format": "date"},
             description="a business day (YYYY-MM-DD) in the deployment's time zone; default today")
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                        description="the same key again answers the first request's result")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: str  # "bearer" | "terminal" | "none" | "basic" | "alipay" | "wechatpay"
    roles: tuple[str, ...]
    body: type[BaseModel] | None
    status: int
    response: type[BaseModel] | None
    tag: str
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    produces: str = "application/json"  # the success body's content type
    errors: tuple[int, ...] = ()  # error statuses of this route beyond those its auth, body and parameters imply
    operation_id: str = ""  # the view's name, camelCased: what a generated client calls the method


OPERATIONS: list[Operation] = []


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class Ctx:
    """What a view gets: who is calling, the raw request and its body (the services parse it with
    their own models), and the application's services."""

    request: Any
    principal: Principal | None = None
    terminal: Any = None
    params: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    services: Any = None  # the application's `Services`

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params or {})

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name.lower())

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal


# Every JSON answer is strict JSON (no NaN/Infinity: a ValueError here becomes a 500 with a valid
# body) and carries `<`, `>` and `&` as \u escapes, so text a caller sent — a callback body shown
# back to an admin — is data in any viewer, never markup.
_MARKUP_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_text(value: Any) -> str:
    """`value` as strict JSON text with markup characters escaped (equal to it once parsed)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=handle_extra_types)
    return text.translate(_MARKUP_ESCAPES)  # outside strings JSON has none of them


# The 404 code of an id that cannot exist (over 128 characters, or not printable ASCII), by the
# name of the path parameter or `*_id` query parameter carrying it: it never reaches storage.
_UNKNOWN_ID_CODES = {
    "contest_id": "contest_not_found", "membership_id": "membership_not_found", "merchant_id": "merchant_not_found",
    "partner_id": "partner_not_found", "plan_id": "plan_not_found", "store_id": "store_not_found",
    "terminal_id": "terminal_not_found", "out_trade_no": "payment_not_found", "key_id": "key_not_found",
}
# Every route under this prefix is rate-limited per client before anything else (each call can cost
# a request to a payment platform); the deployment throttles the same routes (infra/build.py).
RATE_LIMITED_PREFIX = "/v1/auth/"
_INTEGER_PARAMS = frozenset({"n"})  # path integers: `parsing.parse_int` where they are used (a 422)


def check_ids(params: dict[str, str], query: dict[str, str]) -> None:
    """Path parameters (but integers) and `*_id` query parameters are ids: 1–128 printable ASCII."""
    named = [*((k, v) for k, v in params.items() if k not in _INTEGER_PARAMS),
             *((k, v) for k, v in query.items() if k.endswith("_id"))]
    for name, value in named:
        check_id(value, name, code=_UNKNOWN_ID_CODES.get(name, "not_found"))


def error_response(err: AppError) -> Response:
    return Response(body=json_text(err.body()), status_code=err.status,
                    headers={"Content-Type": "application/json", **err.headers()})


def source_ip(request: Any) -> str:
    """The caller's address as API Gateway saw it (`requestContext.identity.sourceIp`; `chalice
    local` and the test client say 127.0.0.1). Never a header: X-Forwarded-For is the caller's to write."""
    context = getattr(request, "context", None)
    identity = context.get("identity") if isinstance(context, dict) else None
    ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    return ip if isinstance(ip, str) and ip else "unknown"


def _raw_body(request: Any) -> bytes:
    raw = request.raw_body
    if raw is None:
        return b""
    return raw if isinstance(raw, bytes) else str(raw).encode()


def _to_response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        if not isinstance(result.body, str | bytes):
            result.body = json_text(result.body)
        return result
    if result is None:
        return Response(body="", status_code=204)
    return Response(body=json_text(result), status_code=status, headers={"Content-Type": "application/json"})


def handle_errors(fn: Callable[[], Any], status: int) -> Response:
    """Run a view body, turning every failure into the contract's error shape."""
    try:
        return _to_response(fn(), status)
    except AppError as err:
        if err.status >= 500:
            logger.warning("request failed", extra={"code": err.code}, exc_info=err.__cause__ is not None)
        return error_response(err)
    except Exception as exc:  # noqa: BLE001 - the one catch-all, so no client ever sees a bare 500 page
        storage = translate_storage_errors(exc)
        if storage is not None:
            logger.exception("storage failure")
            metrics.add_metric(name="StorageFailure", unit="Count", value=1)
            return error_response(storage)
        logger.exception("unhandled error")
        return error_response(AppError("internal error"))


class Router:
    """The routes of one area, as a Chalice blueprint. Views receive a `Ctx` (with the
    application's `Services`) plus the path parameters; `bind(runtime)` — in `app.py` — says
    whose services they are, so no view reaches for a global.

    `auth`: `bearer` (JWT, its API key not revoked — `IdentityService.check_key` — and `roles`
    checked), `terminal` (signature and nonce checked here), `none`, or `callback` — terminal and
    platform callbacks, which the payments service authenticates, parses, records and logs itself
    (the nonce is claimed in the recording transaction); `doc_auth` names what such a route
    expects in the OpenAPI document (`basic`: a view that reads HTTP Basic credentials itself).
    Routes under `RATE_LIMITED_PREFIX` are rate-limited per client first (`429 rate_limited`)."""

    def __init__(self, name: str) -> None:
        self.blueprint = Blueprint(name)
        self._runtime: Runtime | None = None

    def bind(self, runtime: Runtime) -> Blueprint:
        self._runtime = runtime
        return self.blueprint

    @property
    def services(self) -> Services:
        assert self._runtime is not None, "Router.bind(runtime) is called in app.py"
        return self._runtime.services

    def route(self, path: str, method: str = "GET", *, auth: str = "bearer", roles: Sequence[str] = (),
              body: type[BaseModel] | None = None, status: int = 200, summary: str = "",
              response: type[BaseModel] | None = None, tag: str = "",
              doc_auth: str | None = None, query: Sequence[Param] = (), headers: Sequence[Param] = (),
              produces: str = "application/json",
              errors: Sequence[int] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        bp = self.blueprint

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            OPERATIONS.append(
                Operation(method, path, summary or (view.__doc__ or "").strip().split("\n")[0], doc_auth or auth,
                          tuple(roles), body, status, response, tag, tuple(query), tuple(headers), produces,
                          tuple(errors), _camel(view.__name__))
            )

            @functools.wraps(view)
            def wrapper(**params: str) -> Response:
                request = bp.current_request
                ctx = Ctx(request=request, params=params)

                def run() -> Any:
                    raw = ctx.raw = _raw_body(request)
                    services = ctx.services = self.services
                    if path.startswith(RATE_LIMITED_PREFIX):
                        services.identity.admit(source_ip(request))
                    if auth == "callback":
                        return view(ctx, **params)
                    if len(raw) > MAX_BODY_BYTES:
                        raise PayloadTooLarge("request body exceeds 64 KiB")
                    if auth == "bearer":
                        ctx.principal = decode_bearer(
                            request.headers.get("authorization"), services.config.jwt_secret, wall_clock())
                        services.identity.check_key(ctx.principal)  # a revoked API key ends its tokens
                        if roles:
                            ctx.principal.require_role(*roles)
                    elif auth == "terminal":
                        signed = parse_terminal_headers(request.headers, wall_clock())
                        ctx.terminal = services.terminal_auth.authenticate(signed, method, path, raw)
                    check_ids(params, ctx.query)
                    return view(ctx, **params)

                return handle_errors(run, status)

            bp.route(path, methods=[method], content_types=ANY_CONTENT)(wrapper)
            return wrapper

        return decorator


_CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "InternalServerError": "internal_error",
    "BadRequestError": "bad_request",
    "NotFoundError": "not_found",
}


def contract_errors_middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own errors (e.g. 405) answer `{"Code","Message"}`; give them the contract's shape."""
    response = get_response(event)
    if response.status_code == 405:  # RFC 9110: a 405 says which methods the resource has
        resource = (getattr(event, "context", None) or {}).get("resourcePath")
        allowed = sorted({op.method for op in OPERATIONS if op.path == resource})
        if allowed:
            response.headers = {**(response.headers or {}), "Allow": ", ".join(allowed)}
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = _CHALICE_CODES.get(str(body["Code"]), "error")
        response.body = {"code": code, "message": str(body["Message"])}
    return response
