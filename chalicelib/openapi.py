"""The OpenAPI 3 document, built from the declared routes and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.api.routing import OPERATIONS

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
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
    "n": {"type": "integer", "minimum": 1},
    "platform": {"type": "string", "enum": ["alipay", "wechatpay"]},
    "name": {"type": "string", "minLength": 1},
}
# Alipay posts its notification as a form and reads a text answer (`success`, else `fail`).
ALIPAY_FORM = {"type": "object", "additionalProperties": {"type": "string"},
               "required": ["notify_id", "app_id", "sign_type", "sign", "out_trade_no", "trade_status"],
               "description": "Alipay's asynchronous notification (form fields, RSA2-signed)"}
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


def build_document(version: str = "1.0.0") -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        item: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', op.path.lower()).strip('_')}",
            "tags": [op.tag] if op.tag else [],
            "responses": {
                str(op.status): {"description": "OK"},
                "4XX": {"description": "Client error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "5XX": {"description": "Storage or dependency failure; retry later"},
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
                schemas[name] = sub
            schemas[op.body.__name__] = schema
            ctype = "application/x-www-form-urlencoded" if op.auth == "alipay" else "application/json"
            item["requestBody"] = {"required": True, "content": {
                ctype: {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}}}
        if op.response is not None:
            rschema = op.response.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in rschema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[op.response.__name__] = rschema
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
