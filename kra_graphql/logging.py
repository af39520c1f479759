"""Structured logs: readable in development, JSON in production, secrets never written.

Every line, ours (structlog) or a library's (standard logging), passes the same redaction
last, after exceptions have been turned into text: the configured secrets themselves,
API keys, bearer tokens, KRA service keys and passwords in URLs are replaced wherever
they appear, exception messages and tracebacks included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

import structlog

from kra_graphql.config import Settings

REDACTED = "[REDACTED]"
_SENSITIVE_FIELDS = frozenset(
    {"authorization", "api_key", "apikey", "x_api_key", "password", "secret", "token",
     "service_key", "servicekey", "key_value"}
)  # fmt: skip
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Keys made by this server: kra_ and 40 URL-safe characters.
    (re.compile(r"kra_[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])"), "kra_" + REDACTED),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(service_?key=)[^&\s\"'<>]*"), r"\1" + REDACTED),
    (re.compile(r"(?i)(\"?api_?key\"?\s*[:=]\s*\"?)[^\s\"',;}]+"), r"\1" + REDACTED),
    # user:password@ in URLs
    (re.compile(r"(\w+://[^/\s:@]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
)
# Short values are too likely to occur by chance to be worth replacing everywhere.
MIN_SECRET_LENGTH = 6


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        variants = {v for s in secrets if s for v in (s, quote(s, safe=""), unquote(s))}
        self._secrets = sorted((v for v in variants if len(v) >= MIN_SECRET_LENGTH), key=len)[::-1]

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.field(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if isinstance(value, BaseException):
            return self.text(str(value))
        return value

    def field(self, name: str, value: Any) -> Any:
        if name.lower().replace("-", "_") in _SENSITIVE_FIELDS and value is not None:
            return REDACTED
        return self.value(value)

    def __call__(
        self, _logger: object, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for name, value in list(event_dict.items()):
            if name.startswith("_"):
                continue  # structlog's own bookkeeping (the stdlib record)
            event_dict[name] = self.field(name, value)
        return event_dict


def configured_secrets(settings: Settings) -> list[str]:
    found = [
        secret.get_secret_value()
        for secret in (settings.kra_api_key, settings.llm_api_key)
        if secret is not None
    ]
    if settings.api_keys is not None:
        for entry in settings.api_keys.get_secret_value().split(","):
            found.append(entry.rsplit(":", 1)[-1].strip())
    for url in (settings.database_url, settings.redis_url or ""):
        password = re.search(r"://[^/\s:@]*:([^@\s/]+)@", url)
        if password:
            found.append(password.group(1))
    return found


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping()[settings.log_level]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.is_production
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    redact = Redactor(configured_secrets(settings))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries' log records (uvicorn, ARQ, httpx) get the same treatment and format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logging.basicConfig(level=max(level, logging.WARNING), handlers=[handler], force=True)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
