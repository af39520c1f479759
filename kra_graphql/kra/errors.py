"""Typed errors for the KRA public data API and the data.go.kr result-code table.

`retryable` tells a caller whether repeating the same call soon may succeed. The client
retries those itself; when one reaches a caller, the client's attempts are used up.
"""

from __future__ import annotations

import re
from typing import ClassVar

_KEY_IN_TEXT = re.compile(r"(?i)((?:service_?key)=)[^&\s\"'<>]*")


def redact(text: str) -> str:
    """Hide every `serviceKey=...` value in a URL or message."""
    return _KEY_IN_TEXT.sub(r"\1***", text)


class KraError(Exception):
    """Base class of every error raised by `kra_graphql.kra`."""

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        endpoint: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.message = redact(message)
        self.code = code
        self.status = status
        self.endpoint = endpoint
        # An instance may differ from its class: a per-second quota clears soon,
        # the daily quota does not.
        self.retryable: bool = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        parts = [self.message]
        if self.endpoint:
            parts.append(f"endpoint={self.endpoint}")
        if self.code is not None:
            parts.append(f"resultCode={self.code}")
        if self.status is not None:
            parts.append(f"http={self.status}")
        return " ".join(parts)


class KraNoData(KraError):
    """The API has nothing for these parameters (resultCode 03 or an empty item list)."""


class KraAuthError(KraError):
    """The service key is missing, wrong, expired or not approved for this API."""


class KraQuotaExceeded(KraError):
    """Too many calls: the daily quota (resultCode 22) or HTTP 429 past the retries."""


class KraUpstreamError(KraError):
    """Any other failure of the upstream service: error result codes, 5xx, broken links."""


class KraMalformedResponse(KraError):
    """The answer is not an envelope this package can read."""

    default_retryable: ClassVar[bool] = True


class KraTimeout(KraError):
    """No answer within the configured timeout."""

    default_retryable: ClassVar[bool] = True


# The data.go.kr common result-code table (공공데이터포털 OpenAPI 에러코드), shared by the
# B551015 services. Codes may arrive as "03", "3" or 3; they are compared as integers.
RESULT_CODE_NAMES: dict[int, str] = {
    0: "NORMAL_SERVICE",
    1: "APPLICATION_ERROR",
    2: "DB_ERROR",
    3: "NODATA_ERROR",
    4: "HTTP_ERROR",
    5: "SERVICETIME_OUT",
    10: "INVALID_REQUEST_PARAMETER_ERROR",
    11: "NO_MANDATORY_REQUEST_PARAMETERS_ERROR",
    12: "NO_OPENAPI_SERVICE_ERROR",
    20: "SERVICE_ACCESS_DENIED_ERROR",
    21: "TEMPORARILY_DISABLE_THE_SERVICEKEY_ERROR",
    22: "LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR",
    23: "LIMITED_NUMBER_OF_SERVICE_REQUESTS_PER_SECOND_EXCEEDS_ERROR",
    30: "SERVICE_KEY_IS_NOT_REGISTERED_ERROR",
    31: "DEADLINE_HAS_EXPIRED_ERROR",
    32: "UNREGISTERED_IP_ERROR",
    33: "UNSIGNED_CALL_ERROR",
    99: "UNKNOWN_ERROR",
}
_CODE_BY_NAME = {name: code for code, name in RESULT_CODE_NAMES.items()}

_TRANSIENT = frozenset({1, 2, 4, 5, 99})
_AUTH = frozenset({20, 21, 30, 31, 32, 33})


def normalize_result_code(code: object) -> int | None:
    """`"00"`, `"0"`, `0` -> 0; anything that is not a number -> None."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str):
        text = code.strip()
        if text.isdigit():
            return int(text)
        return _CODE_BY_NAME.get(text.upper().replace(" ", "_").rstrip("."))
    return None


def error_for_result_code(
    code: object, message: str | None = None, *, endpoint: str | None = None
) -> KraError | None:
    """The error a non-zero result code stands for, or None for normal service."""
    number = normalize_result_code(code)
    if number == 0:
        return None
    text = (message or "").strip() or RESULT_CODE_NAMES.get(number or -1, "unknown result code")
    code_text = str(code).strip() if code is not None else None
    if number == 3:
        return KraNoData(text, code=code_text, endpoint=endpoint)
    if number in _AUTH:
        return KraAuthError(text, code=code_text, endpoint=endpoint)
    if number == 22:
        # The daily quota resets at midnight KST: no point retrying within a call.
        return KraQuotaExceeded(text, code=code_text, endpoint=endpoint, retryable=False)
    if number == 23:
        return KraQuotaExceeded(text, code=code_text, endpoint=endpoint, retryable=True)
    if number in _TRANSIENT:
        return KraUpstreamError(text, code=code_text, endpoint=endpoint, retryable=True)
    # Parameter errors (10-12) and codes outside the table: the same call fails again.
    return KraUpstreamError(text, code=code_text, endpoint=endpoint, retryable=False)
