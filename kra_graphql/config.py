"""Settings: the only place that reads environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kra_graphql.graphql.fastpath import PIECES, FastPath

DEFAULT_DATA_DIR = Path(".kra")
DEFAULT_SQLITE_URL = f"sqlite+aiosqlite:///./{DEFAULT_DATA_DIR}/kra.db"
REAL_KRA_API = "https://apis.data.go.kr/B551015"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    # An empty variable means unset, as docker compose passes `${NAME:-}` when NAME is unset.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = DEFAULT_SQLITE_URL
    redis_url: str | None = None
    redis_prefix: str = Field(default="kra:", min_length=1)
    arq_queue_name: str = Field(default="kra:queue", min_length=1)

    kra_api_base_url: str = REAL_KRA_API
    kra_api_key: SecretStr | None = None
    kra_rate_limit_per_min: Annotated[int, Field(ge=0)] = 100

    # Any OpenAI-compatible chat-completions endpoint, for prompts of kind LLM.
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    llm_max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    llm_concurrency: Annotated[int, Field(ge=1, le=256)] = 4

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    environment: Environment = Environment.DEVELOPMENT

    # A worker refreshes its heartbeat this often; /health reads it.
    worker_heartbeat_s: Annotated[int, Field(ge=1, le=3600)] = 10
    # Jobs running at once in one worker process.
    worker_max_jobs: Annotated[int, Field(ge=1, le=100)] = 4
    job_timeout_s: Annotated[int, Field(ge=10)] = 3600
    # Automatic retries of a job whose failure looks transient (network, upstream 5xx).
    job_max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    job_retry_backoff_s: Annotated[float, Field(ge=0)] = 5.0
    # A running job refreshes a liveness key this often; a job whose key has expired
    # belongs to a dead worker and is handed to another one.
    job_alive_ttl_s: Annotated[int, Field(ge=2, le=600)] = 15
    # How often a worker looks for such jobs (a divisor of 60).
    job_recovery_interval_s: Annotated[int, Field(ge=1, le=60)] = 30

    kra_timeout_s: Annotated[float, Field(gt=0, le=300)] = 15.0
    kra_max_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    kra_backoff_base_s: Annotated[float, Field(ge=0)] = 0.5
    kra_details_max_age_days: Annotated[int, Field(ge=0)] = 7
    daily_collection_enabled: bool = True
    # Local (Asia/Seoul) hour at which yesterday's races are collected.
    daily_collection_hour: Annotated[int, Field(ge=0, le=23)] = 6
    # The race-day chain (kra_graphql/raceday/), on days the race plan lists races. Local
    # (Asia/Seoul) hours: the cards are collected and predicted from the first, results
    # collected from the second, then again every retry interval, for at most `rounds`
    # collections, until every race has one; then the day's predictions are scored.
    race_day_enabled: bool = True
    race_day_cards_hour: Annotated[int, Field(ge=0, le=23)] = 9
    race_day_results_hour: Annotated[int, Field(ge=0, le=23)] = 19
    race_day_results_retry_s: Annotated[int, Field(ge=1)] = 1800
    race_day_results_rounds: Annotated[int, Field(ge=1, le=100)] = 12
    # The strategy whose active prompt predicts the day.
    race_day_predictor: Literal["FORM", "MARKET", "LLM", "LEARNED"] = "FORM"
    db_pool_size: Annotated[int, Field(ge=1, le=200)] = 20
    # Queries executing at once in one API process; the others wait for a turn. Beyond a
    # few, queries sharing one core only interleave, each slower for it (its objects fall
    # out of the CPU's caches): at 50 concurrent page reads, 4 at a time served a quarter
    # more of them a second than all 50 at once.
    read_concurrency: Annotated[int, Field(ge=1, le=1000)] = 4
    # Keep answers to read-only race queries until race data changes.
    response_cache_enabled: bool = True
    # Execution through kra_graphql/graphql/fastpath/, which relies on library internals;
    # false: stock Strawberry and graphql-core only. FAST_PATH_OFF names pieces of it to
    # leave off (comma-separated), so the bench can show what each one buys.
    execution_fast_path: bool = True
    fast_path_off: str = ""
    # A subscriber gets a job's PROGRESS at most this often (the newest one).
    subscription_progress_interval_ms: Annotated[int, Field(ge=0, le=60_000)] = 250
    # A job subscription that heard nothing for this long re-reads the job's row (covers a
    # writer that could not publish its event).
    subscription_resync_s: Annotated[float, Field(gt=0, le=3600)] = 10.0

    # Access: keys from the environment, `name:scope+scope:key` separated by commas.
    api_keys: SecretStr | None = None
    # Queries without a key; unset means allowed in development, refused in production.
    anonymous_read: bool | None = None
    # How long a looked-up key is trusted before the database is asked again (revocation lag).
    api_key_cache_s: Annotated[float, Field(ge=0, le=60)] = 5.0

    # Requests per minute and burst, per key and (without a key) per client address; 0: no limit.
    rate_limit_per_min: Annotated[int, Field(ge=0)] = 600
    rate_limit_burst: Annotated[int, Field(ge=1, le=100_000)] = 60
    anonymous_rate_limit_per_min: Annotated[int, Field(ge=0)] = 120
    anonymous_rate_limit_burst: Annotated[int, Field(ge=1, le=100_000)] = 20
    max_query_depth: Annotated[int, Field(ge=2, le=100)] = 12
    max_query_aliases: Annotated[int, Field(ge=0, le=1000)] = 20
    max_query_tokens: Annotated[int, Field(ge=100, le=100_000)] = 2000
    max_request_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 256 * 1024
    # Schema introspection; unset means on in development, off in production.
    introspection: bool | None = None
    # Browser origins allowed to call the API (comma-separated); none by default.
    cors_allow_origins: str = ""

    # Prometheus metrics: /metrics on the API; a worker serves its own on this port.
    metrics_enabled: bool = True
    # Set by `serve --workers N` (or by hand): server processes share their samples here.
    prometheus_multiproc_dir: str | None = None
    worker_metrics_port: Annotated[int | None, Field(ge=1, le=65535)] = None

    # Webhooks: the wait before each retry of a failed delivery, comma-separated seconds
    # (one more try than waits; the default spends six tries over about an hour).
    webhook_retry_delays_s: str = "30,120,300,900,2400"
    webhook_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    # Production refuses webhook URLs that resolve to loopback, private or link-local
    # addresses (the server's own network) unless this is true.
    webhook_allow_private: bool = False
    # Finished jobs (with their logs) and webhook deliveries older than this are deleted.
    job_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 90
    # Dataset exports, one folder per job; the API serves them from here, so the API
    # and the workers must see the same folder. Removed with their job (retention).
    export_dir: Path = DEFAULT_DATA_DIR / "exports"

    @field_validator("job_recovery_interval_s")
    @classmethod
    def _divides_minute(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)")
        return value

    @field_validator("webhook_retry_delays_s")
    @classmethod
    def _delays(cls, value: str) -> str:
        try:
            delays = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError("expected seconds separated by commas, e.g. 30,120,300") from None
        if not 1 <= len(delays) <= 20 or any(not 0 <= delay <= 86_400 for delay in delays):
            raise ValueError("expected 1 to 20 waits of 0 to 86400 seconds")
        return value

    @field_validator("fast_path_off")
    @classmethod
    def _known_pieces(cls, value: str) -> str:
        unknown = set(_split(value)) - set(PIECES)
        if unknown:
            raise ValueError(f"unknown pieces {sorted(unknown)}; known: {', '.join(PIECES)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept the usual URL spellings and pick the async driver for each dialect."""
        scheme, sep, rest = value.partition("://")
        if not sep or not rest:
            raise ValueError("expected a URL like postgresql://user@host/db or sqlite:///path")
        base = scheme.split("+", 1)[0]
        if base in {"postgres", "postgresql"}:
            return f"postgresql+asyncpg://{rest}"
        if base == "sqlite":
            return f"sqlite+aiosqlite://{rest}"
        raise ValueError(f"unsupported database '{scheme}' (use postgresql or sqlite)")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parsed = urlparse(value)
        if parsed.scheme not in {"redis", "rediss", "unix"} or not (parsed.netloc or parsed.path):
            raise ValueError("expected a URL like redis://host:6379/0")
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number
            if parsed.scheme != "unix" and parsed.path.strip("/"):
                int(parsed.path.strip("/"))
        except ValueError:
            raise ValueError("expected a URL like redis://host:6379/0") from None
        return value

    @field_validator("kra_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/")

    @field_validator("api_keys")
    @classmethod
    def _api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            # Imported here: access needs nothing from settings, settings only its parser.
            from kra_graphql.access.keys import parse_env_keys

            parse_env_keys(value.get_secret_value())
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            parsed = urlparse(origin)
            if origin != "*" and (parsed.scheme not in {"http", "https"} or not parsed.netloc):
                raise ValueError(f"{origin!r} is not an origin like https://example.org")
        return value

    @property
    def allows_anonymous_read(self) -> bool:
        return not self.is_production if self.anonymous_read is None else self.anonymous_read

    @property
    def introspection_enabled(self) -> bool:
        return not self.is_production if self.introspection is None else self.introspection

    @property
    def fast_path(self) -> FastPath:
        return FastPath.of(self.execution_fast_path, frozenset(_split(self.fast_path_off)))

    @property
    def cors_origins(self) -> list[str]:
        return _split(self.cors_allow_origins)

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        return tuple(float(part) for part in self.webhook_retry_delays_s.split(",") if part.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.partition(":///")[2]
        return Path(path) if path and path != ":memory:" else None


def _split(value: str) -> list[str]:
    return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]


class SettingsError(Exception):
    """Raised with one line that names the offending variable."""


def describe_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"invalid setting {field.upper()}: {message}"


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
