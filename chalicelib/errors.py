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

    def headers(self) -> dict[str, str]:
        """Response headers this error adds (e.g. `Retry-After`)."""
        return {}

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


class TooManyRequests(AppError):
    """A client called too often (429); `retry_after` seconds until it may call again."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StorageUnavailable(AppError):
    """A storage or dependency failure. Nothing partial was written; retrying is safe."""

    status = 503
    code = "storage_unavailable"
