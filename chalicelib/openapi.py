"""The OpenAPI 3 document, built from the declared routes and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.api.routing import CURSOR, OPERATIONS, RATE_LIMITED_PREFIX, Operation
from chalicelib.bootstrap import JOB_NAMES
from chalicelib.contests.schemas import MAX_ROUNDS

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "stable, machine-readable (the contract's codes)"},
        "message": {"type": "string", "description": "for people; may change"},
        "detail": {"description": "what was wrong, where it helps (e.g. each invalid field)"},
    },
}
ERROR_TEXT = {
    400: "Malformed request (not JSON, an opaque value such as a cursor not ours)",
    401: "Not authenticated",
    403: "Authenticated, but not allowed",
    404: "Not found (or not visible to the caller)",
    405: "Method not allowed",
    409: "Conflicts with what is recorded",
    413: "Request body over 64 KiB",
    422: "Well-formed, but breaks a rule",
    429: "Too many requests; see Retry-After",
    502: "The fee provider refused or failed; nothing was decided, retry later",
    503: "Storage or a payment platform unavailable; nothing partial was written, retry later",
}

# The terminal signature: four headers, all required together (one security requirement).
TERMINAL_SCHEMES = {
    "terminalId": ("X-Yundian-Terminal", "the terminal's id"),
    "terminalTimestamp": ("X-Yundian-Timestamp", "unix seconds; within 300 s of the server's clock"),
    "terminalNonce": ("X-Yundian-Nonce", "16-64 characters of [A-Za-z0-9_-], used once"),
    "terminalSignature": ("X-Yundian-Signature", "hex HMAC-SHA256 of the canonical request with the terminal secret"),
}
ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"}
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "n": {"type": "integer", "minimum": 1, "maximum": MAX_ROUNDS},
    "platform": {"type": "string", "enum": ["alipay", "wechatpay"]},
    "name": {"type": "string", "enum": list(JOB_NAMES)},
}
# Alipay posts its notification as a form and reads a text answer (`success`, else `fail`).
_ALIPAY_REQUIRED = ["notify_id", "app_id", "sign_type", "sign", "out_trade_no", "trade_status"]
ALIPAY_FORM = {"type": "object", "additionalProperties": {"type": "string"},
               "required": _ALIPAY_REQUIRED,
               "properties": {**{name: {"type": "string", "minLength": 1} for name in _ALIPAY_REQUIRED},
                              "sign_type": {"type": "string", "const": "RSA2"},
                              "charset": {"type": "string", "description": "utf-8 (default), gbk, gb2312 or gb18030"}},
               "description": "Alipay's asynchronous notification (form fields, RSA2-signed; each field once)"}
ALIPAY_ANSWER = {"text/plain": {"schema": {"type": "string", "enum": ["success", "fail"]}}}
WECHATPAY_ENVELOPE = {
    "type": "object", "required": ["id", "create_time", "event_type", "resource_type", "resource"],
    "properties": {
        "id": {"type": "string"}, "create_time": {"type": "string"}, "event_type": {"type": "string"},
        "resource_type": {"type": "string"}, "summary": {"type": "string"},
        "resource": {"type": "object", "required": ["algorithm", "ciphertext", "nonce"],
                     "properties": {"algorithm": {"type": "string"}, "ciphertext": {"type": "string"},
                                    "nonce": {"type": "string"}, "associated_data": {"type": "string"},
                                    "original_type": {"type": "string"}}},
    },
    "description": "WeChat Pay's v3 notification envelope (signed headers Wechatpay-*, AES-256-GCM resource)",
}


def error_statuses(op: Operation) -> list[int]:
    """The error statuses a route can answer: those its authentication, body and parameters imply,
    and those it declares (`errors=`)."""
    found = set(op.errors)
    path_params = re.findall(r"{(\w+)}", op.path)
    if op.auth in ("bearer", "basic", "terminal"):
        found |= {401, 503}  # credentials are checked against storage
    if op.auth == "bearer":
        found.add(403)
    if op.auth != "alipay":
        found.add(413)  # every route refuses a body over 64 KiB before anything else
    if op.body is not None and op.auth != "alipay":
        found |= {400, 422, 503}
    if any(name not in ("n", "platform", "asset", "name") for name in path_params):
        found.add(404)
    if "n" in path_params or op.query or op.headers:
        found.add(422)
    if CURSOR in op.query:
        found.add(400)
    if op.path.startswith(RATE_LIMITED_PREFIX):
        found.add(429)
    return sorted(found)


def _error_response(status: int) -> dict[str, Any]:
    out: dict[str, Any] = {"description": ERROR_TEXT.get(status, "Error"),
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if status == 429:
        out["headers"] = {"Retry-After": {"description": "seconds until a call may succeed",
                                          "schema": {"type": "integer", "minimum": 1}}}
    return out


def _component(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """Register a model's schema under its name; two different models of one name are a mistake
    (one would silently replace the other in every operation naming it)."""
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two different models are named {name!r}: rename one (components are by name)")


def build_document(version: str = "1.0.0") -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        item: dict[str, Any] = {
            "summary": op.summary,
            "operationId": op.operation_id,
            "tags": [op.tag] if op.tag else [],
            "responses": {
                str(op.status): {"description": "No content" if op.status == 204 else "OK"},
                **{str(status): _error_response(status) for status in error_statuses(op)},
            },
        }
        params: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(n, ID_SCHEMA)}
            for n in re.findall(r"{(\w+)}", op.path)]
        for where, declared in (("query", op.query), ("header", op.headers)):
            params += [{"name": q.name, "in": where, "required": q.required, "schema": q.schema,
                        **({"description": q.description} if q.description else {})} for q in declared]
        if op.produces != "application/json":
            item["responses"][str(op.status)]["content"] = {
                ctype.strip(): {"schema": {"type": "string"}} for ctype in op.produces.replace(" or ", ",").split(",")}
        if op.auth == "terminal":
            item["security"] = [{name: [] for name in TERMINAL_SCHEMES}]
        elif op.auth in ("none", "alipay", "wechatpay"):
            item["security"] = []
            if op.auth == "alipay":
                item["requestBody"] = {"required": True, "content": {
                    "application/x-www-form-urlencoded": {"schema": ALIPAY_FORM}}}
                item["responses"] = {"200": {"description": "recorded (`success`) or refused (`fail`)",
                                             "content": ALIPAY_ANSWER},
                                     "4XX": {"description": "refused: `fail`", "content": ALIPAY_ANSWER},
                                     "5XX": {"description": "not recorded, redeliver: `fail`",
                                             "content": ALIPAY_ANSWER}}
            elif op.auth == "wechatpay":
                item["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": WECHATPAY_ENVELOPE}}}
        elif op.auth == "basic":
            item["security"] = [{"basic": []}]
        else:
            item["security"] = [{"bearer": []}]
            if op.roles:
                item["x-roles"] = list(op.roles)
        if params:
            item["parameters"] = params
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                _component(schemas, name, sub)
            _component(schemas, op.body.__name__, schema)
            ctype = "application/x-www-form-urlencoded" if op.auth == "alipay" else "application/json"
            item["requestBody"] = {"required": True, "content": {
                ctype: {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}}}
        if op.response is not None:
            rschema = op.response.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in rschema.pop("$defs", {}).items():
                _component(schemas, name, sub)
            _component(schemas, op.response.__name__, rschema)
            item["responses"][str(op.status)]["content"] = {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.response.__name__}"}}}
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "yundian cloud-store API", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "basic": {"type": "http", "scheme": "basic",
                                          "description": "an API key: base64(key_id:secret)"},
                                **{name: {"type": "apiKey", "in": "header", "name": header, "description": what}
                                   for name, (header, what) in TERMINAL_SCHEMES.items()}},
        },
    }
