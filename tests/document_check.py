"""Every answer a test gets is checked against the OpenAPI document (`chalicelib.openapi`), so the
document cannot drift from what the API does: a status the operation does not declare, a content
type it does not declare, or a JSON body that breaks the declared schema fails the test that saw it.

Used by the functional tests' `Api.call` and the black-box `Stack.request`. A request no operation
declares (an unknown route, an undeclared method: the contract's 404/405) is not checked here;
tests/blackbox/test_contract_edges.py checks those.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

from chalicelib.openapi import build_document


class DocumentMismatch(AssertionError):
    """An answer the OpenAPI document does not describe."""


@functools.cache
def _document() -> dict[str, Any]:
    import app  # noqa: F401 - registers every route (here, not at import: conftest sets the environment first)

    document = build_document()
    assert document["paths"], "the OpenAPI document has no paths"
    return document


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str, int]]:
    """(pattern, template, number of templated segments): literal segments win over templates."""
    out = []
    for template in _document()["paths"]:
        pattern = re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$")
        out.append((pattern, template, template.count("{")))
    return sorted(out, key=lambda r: r[2])


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(path template, operation object) the document declares for this request, or None."""
    bare = urlsplit(path).path
    for pattern, template, _ in _routes():
        if pattern.match(bare):
            op = _document()["paths"][template].get(method.lower())
            if op is not None:
                return template, op
    return None


@functools.cache
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    root = {**schema, "components": _document()["components"]}
    return Draft202012Validator(root, format_checker=FormatChecker())


def _declared(responses: dict[str, Any], status: int) -> dict[str, Any] | None:
    return responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")


def check(method: str, path: str, status: int, headers: dict[str, str], raw: bytes) -> None:
    """Raise `DocumentMismatch` when the document does not describe this answer."""
    found = operation_for(method, path)
    if found is None:
        return
    template, op = found
    where = f"{method} {template} answered {status}"
    declared = _declared(op["responses"], status)
    if declared is None:
        raise DocumentMismatch(f"{where}, a status the document does not declare "
                               f"(declared: {sorted(op['responses'])}); body: {raw[:300]!r}")
    content = declared.get("content")
    lower = {k.lower(): v for k, v in headers.items()}
    if not content:
        if raw:
            raise DocumentMismatch(f"{where} with a body the document does not declare: {raw[:300]!r}")
        return
    ctype = lower.get("content-type", "").split(";")[0].strip()
    if ctype not in content:
        raise DocumentMismatch(f"{where} as {ctype!r}; the document declares {sorted(content)}")
    schema = content[ctype].get("schema")
    if schema is None:
        return
    if ctype == "application/json":
        try:
            body = json.loads(raw)
        except ValueError as err:
            raise DocumentMismatch(f"{where} with a body that is not JSON: {raw[:300]!r}") from err
    else:
        body = raw.decode("utf-8", "replace")
    errors = sorted(_validator(json.dumps(schema, sort_keys=True)).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:5]]
        raise DocumentMismatch(f"{where} with a body that breaks the declared schema:\n" + "\n".join(lines)
                               + f"\nbody: {raw[:600]!r}")
