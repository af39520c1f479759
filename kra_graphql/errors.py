"""Errors the API reports to clients, each with a fixed code."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class AppError(Exception):
    """An error whose message is safe to show to the caller."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extensions(self) -> dict[str, object]:
        """graphql-core copies these onto the error wherever it is raised (subscriptions too)."""
        extensions: dict[str, object] = {"code": self.code.value}
        if self.field is not None:
            extensions["field"] = self.field
        return extensions


class BadUserInput(AppError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND


class UpstreamError(AppError):
    code = ErrorCode.UPSTREAM_ERROR


class Unauthenticated(AppError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(AppError):
    code = ErrorCode.FORBIDDEN


class RateLimited(AppError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after_s: int, http_status: int = 429) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        # 503 when the limiter itself is unreachable: the caller did nothing wrong.
        self.http_status = http_status

    @property
    def extensions(self) -> dict[str, object]:
        return {**super().extensions, "retryAfter": self.retry_after_s}
