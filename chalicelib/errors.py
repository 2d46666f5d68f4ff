"""The one error hierarchy. Each error carries its HTTP status and a stable contract code.

The mapping to `{"code", "message"}` bodies happens once, in `chalicelib.api.routing`.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class Invalid(AppError):
    """Well-formed JSON whose content breaks a rule (422)."""

    status = 422
    code = "invalid_request"


class StorageUnavailable(AppError):
    """A storage or dependency failure. Nothing partial was written; retrying is safe."""

    status = 503
    code = "storage_unavailable"
