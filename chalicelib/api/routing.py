"""The one place where HTTP meets the services: body limits, parsing and validation with
declared pydantic models, authentication, and the mapping of `AppError` to the contract's
`{"code", "message"}` bodies. Every route is declared with `route(...)`, which also records
it for the OpenAPI document.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib.auth import Principal, decode_bearer, parse_terminal_headers
from chalicelib.clock import wall_clock
from chalicelib.errors import AppError, BadRequest, Invalid, PayloadTooLarge
from chalicelib.observability import logger, metrics
from chalicelib.storage import translate_storage_errors

MAX_BODY_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)
ANY_CONTENT = ["*/*"]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: str  # "bearer" | "terminal" | "none" | "alipay"
    roles: tuple[str, ...]
    body: type[BaseModel] | None
    status: int
    response: type[BaseModel] | None
    tag: str


OPERATIONS: list[Operation] = []


@dataclass
class Ctx:
    """What a view gets: the validated body, who is calling, and the raw request."""

    request: Any
    body: Any = None
    principal: Principal | None = None
    terminal: Any = None
    params: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    notes: dict[str, Any] = field(default_factory=dict)  # what a view tells its `after` hook

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params or {})

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name.lower())

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal


def error_response(err: AppError) -> Response:
    return Response(body=err.body(), status_code=err.status, headers={"Content-Type": "application/json"})


_TYPE_CODES = {
    "missing": "missing_field",
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "literal_error": "invalid_enum",
    "enum": "invalid_enum",
    "timezone_aware": "missing_timezone",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
    "datetime_type": "invalid_datetime",
    "extra_forbidden": "unknown_field",
}
_RANGE_TYPES = {
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "string_too_short",
    "string_too_long", "too_short", "too_long", "string_pattern_mismatch", "value_error",
    "multiple_of", "date_from_datetime_parsing", "date_parsing",
}


def validation_error(exc: ValidationError) -> AppError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0] if errors else {"type": "value_error", "loc": (), "msg": "invalid"}
    etype = str(first["type"])
    fieldname = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__") or "body"
    detail = [{"field": ".".join(str(p) for p in e.get("loc", ())), "type": e["type"], "message": e["msg"]}
              for e in errors[:10]]
    if etype in ("json_invalid", "json_type"):
        return BadRequest("request body is not valid JSON", code="invalid_json")
    if etype == "model_type" and not first.get("loc"):
        return BadRequest("request body must be a JSON object", code="invalid_json")
    if etype in _TYPE_CODES:
        code = _TYPE_CODES[etype]
    elif etype in _RANGE_TYPES:
        code = "invalid_value"
    else:
        code = "invalid_type"
    return Invalid(f"{fieldname}: {first['msg']}", code=code, detail=detail)


def parse_body(model: type[M], raw: bytes) -> M:
    text = raw if raw else b"{}"
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def _raw_body(request: Any) -> bytes:
    raw = request.raw_body
    if raw is None:
        return b""
    return raw if isinstance(raw, bytes) else str(raw).encode()


def _to_response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(body="", status_code=204)
    return Response(body=result, status_code=status, headers={"Content-Type": "application/json"})


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


def route(
    bp: Blueprint,
    path: str,
    method: str = "GET",
    *,
    auth: str = "bearer",
    roles: Sequence[str] = (),
    body: type[BaseModel] | None = None,
    status: int = 200,
    summary: str = "",
    response: type[BaseModel] | None = None,
    tag: str = "",
    defer_nonce: bool = False,
    after: Callable[[Ctx, Response], Response] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a route. The view receives a `Ctx` plus the path parameters.

    `defer_nonce` (terminal routes): only the signature is checked here (`container.terminal_verifier`);
    the view gets the raw body and must claim the nonce and check revocation itself, inside its
    transaction (payment callbacks do, to save round trips). `after` sees every response of the
    route, errors included, and may replace it (callback logging, Alipay's plain-text answers).
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        OPERATIONS.append(
            Operation(method, path, summary or (view.__doc__ or "").strip().split("\n")[0], auth,
                      tuple(roles), body, status, response, tag)
        )

        @functools.wraps(view)
        def wrapper(**params: str) -> Response:
            request = bp.current_request
            ctx = Ctx(request=request, params=params)

            def run() -> Any:
                raw = ctx.raw = _raw_body(request)
                if len(raw) > MAX_BODY_BYTES:
                    raise PayloadTooLarge("request body exceeds 64 KiB")
                from chalicelib.container import get_container

                container = get_container()
                if auth == "bearer":
                    ctx.principal = decode_bearer(
                        request.headers.get("authorization"), container.config.jwt_secret, wall_clock()
                    )
                    if roles:
                        ctx.principal.require_role(*roles)
                elif auth == "terminal":
                    signed = parse_terminal_headers(request.headers, wall_clock())
                    if defer_nonce:
                        ctx.terminal = container.terminal_verifier.verify(signed, method, path, raw)
                        ctx.body = raw
                        return view(ctx, **params)
                    ctx.terminal = container.terminal_auth.authenticate(signed, method, path, raw)
                if body is not None and auth != "alipay":
                    if method in ("POST", "PUT", "PATCH") or raw:
                        ctx.body = parse_body(body, raw)
                elif auth == "alipay":
                    ctx.body = raw
                return view(ctx, **params)

            response = handle_errors(run, status)
            if after is not None:
                try:
                    response = after(ctx, response)
                except Exception:  # noqa: BLE001 - an observer must never change the answer
                    logger.exception("after-response hook failed")
            return response

        bp.route(path, methods=[method], content_types=ANY_CONTENT)(wrapper)
        return wrapper

    return decorator


def json_loads_strict(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from exc


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
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = _CHALICE_CODES.get(str(body["Code"]), "error")
        response.body = {"code": code, "message": str(body["Message"])}
    return response
