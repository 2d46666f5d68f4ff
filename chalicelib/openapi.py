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

_TERMINAL_HEADERS = ["X-Yundian-Terminal", "X-Yundian-Timestamp", "X-Yundian-Nonce", "X-Yundian-Signature"]


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
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", op.path)]
        if op.auth == "terminal":
            params += [{"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                       for h in _TERMINAL_HEADERS]
            item["security"] = []
        elif op.auth in ("none", "alipay", "wechatpay"):
            item["security"] = []
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
                                          "description": "an API key: base64(key_id:secret)"}},
        },
    }
