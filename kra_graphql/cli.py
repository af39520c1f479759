"""The `kra-graphql` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from kra_graphql.client.commands import register as register_client_commands
from kra_graphql.config import Settings, SettingsError, load_settings
from kra_graphql.preflight import PreflightError, check_all

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

app = typer.Typer(
    name="kra-graphql",
    help="GraphQL API over Korean horse-racing data from the KRA public data API.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)
T = TypeVar("T")

# Exit code for bad configuration or an unreachable dependency at start-up.
EXIT_CONFIG = 2


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CONFIG)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error))


def checked(call: Callable[[], T]) -> T:
    try:
        return call()
    except (SettingsError, PreflightError) as error:
        fail(str(error))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the API with uvicorn (PostgreSQL and Redis from the settings)."""
    import uvicorn

    settings = settings_or_exit()
    checked(lambda: asyncio.run(check_all(settings)))
    if workers > 1 and settings.metrics_enabled and not settings.prometheus_multiproc_dir:
        # Each server process writes its samples there, so /metrics on any of them adds
        # up all of them. Set before the processes start: they read it on import.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kra-metrics-")
    uvicorn.run(
        "kra_graphql.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # The app's own logging formats (and redacts) uvicorn's lines too; each GraphQL
        # request is logged once by the app, with its request id, instead of an access log.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        ws_max_size=settings.max_request_bytes,
    )


@app.command()
def worker(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 0 if a worker's heartbeat is fresh, else 1.")
    ] = False,
) -> None:
    """Run an ARQ worker that executes queued jobs."""
    from kra_graphql.logging import configure_logging
    from workers.settings import run_worker, worker_alive

    settings = settings_or_exit()
    if check:
        alive = asyncio.run(worker_alive(settings))
        err.print("worker heartbeat " + ("fresh" if alive else "missing"))
        raise typer.Exit(0 if alive else 1)
    configure_logging(settings)
    checked(lambda: asyncio.run(check_all(settings)))
    asyncio.run(run_worker(settings))


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations."""
    from kra_graphql.migrate import upgrade

    settings = settings_or_exit()
    checked(lambda: asyncio.run(check_all(settings, redis=False)))
    upgrade(settings, revision)
    err.print(f"database at revision {revision}")


@app.command("export-schema")
def export_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if omitted.")
    ] = None,
) -> None:
    """Print the GraphQL schema (SDL) generated from the code."""
    from kra_graphql.graphql.schema import schema_sdl

    sdl = schema_sdl()
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl, encoding="utf-8")


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Everything in one process: SQLite, embedded Redis, a worker and GraphiQL."""
    from kra_graphql.devserver import run_dev

    settings = settings_or_exit()
    checked(lambda: run_dev(settings, host=host, port=port, announce=err.print))


@app.command("replay-kra")
def replay_kra(
    fixtures: Annotated[
        Path | None, typer.Option(help="Fixture tree; the bundled sample when omitted.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8790,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added to every answer.")] = 0,
    fail_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of answers that are 5xx, slow or garbage.")
    ] = 0,
    rate_limit_per_min: Annotated[
        int | None, typer.Option(min=1, help="Answer 429 past this many calls a minute.")
    ] = None,
    require_key: Annotated[
        str | None, typer.Option(help="Only this serviceKey is accepted.")
    ] = None,
    hold_results: Annotated[
        bool, typer.Option(help="Answer the pre-race view until POST /_admin/release.")
    ] = False,
    slow_s: Annotated[float, typer.Option(min=0, help="How long a 'slow' fault stalls.")] = 30,
) -> None:
    """Serve recorded KRA answers over the same URLs as the real API."""
    from kra_graphql.kra.replay import serve_replay
    from kra_graphql.kra.sample import sample_fixtures_dir

    directory = fixtures or sample_fixtures_dir()
    if not (directory / "manifest.json").is_file():
        fail(f"--fixtures {directory}: no manifest.json there")
    err.print(f"replaying {directory} on http://{host}:{port}")
    serve_replay(
        directory,
        host=host,
        port=port,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        rate_limit_per_min=rate_limit_per_min,
        require_key=require_key,
        hold_results=hold_results,
        slow_s=slow_s,
    )


@app.command("import-json")
def import_json(
    paths: Annotated[list[Path], typer.Argument(help="Envelope files or folders of them.")],
) -> None:
    """Import saved RaceDetailResult envelopes (one race per file) as a job."""
    from kra_graphql.collection.local import run_import

    settings = settings_or_exit()
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        fail(f"no such file: {', '.join(missing)}")
    checked(lambda: asyncio.run(check_all(settings)))
    status = asyncio.run(run_import(settings, [str(path.resolve()) for path in paths], err))
    raise typer.Exit(0 if status == "COMPLETED" else 3 if status == "PARTIAL" else 1)


keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who uses the key; recorded on the jobs it submits.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: read, collect, predict, admin.")
    ] = "read",
) -> None:
    """Create a key and print it once on stdout; only its hash is stored."""
    from kra_graphql.access.keys import create_key, parse_env_keys, parse_scopes
    from kra_graphql.errors import AppError

    settings = settings_or_exit()
    checked(lambda: asyncio.run(check_all(settings, redis=False)))
    try:
        chosen = parse_scopes(scopes.split(","))
    except ValueError as error:
        fail(f"--scopes: {error}")
    env = settings.api_keys.get_secret_value() if settings.api_keys else ""
    taken = {p.name for p in parse_env_keys(env).values() if p.name}

    async def create() -> str:
        async with _sessions(settings) as sessions:
            created = await create_key(sessions, name, chosen, taken=taken)
            return created.key

    try:
        key = asyncio.run(create())
    except AppError as error:
        fail(f"--{error.field or 'name'}: {error.message}")
    sys.stdout.write(key + "\n")
    err.print(
        f"key {name!r} ({', '.join(sorted(s.value for s in chosen))}) created; it is shown "
        "only now. Send it as `Authorization: Bearer <key>`.",
        highlight=False,
    )


@keys_app.command("list")
def keys_list() -> None:
    """Every key: name, first characters, scopes, last use, revocation."""
    from rich.table import Table

    from kra_graphql.access.keys import list_keys, parse_env_keys

    settings = settings_or_exit()
    checked(lambda: asyncio.run(check_all(settings, redis=False)))

    async def rows() -> list[tuple[str, ...]]:
        async with _sessions(settings) as sessions:
            found = await list_keys(sessions)
        return [
            (
                row.name,
                row.prefix + "…",
                ",".join(row.scopes),
                _when(row.created_at),
                _when(row.last_used_at),
                _when(row.revoked_at) if row.revoked_at else "",
                "database",
            )
            for row in found
        ]

    table = Table("name", "key", "scopes", "created", "last used", "revoked", "source")
    for column in table.columns[:3]:
        column.no_wrap = True
    for row in asyncio.run(rows()):
        table.add_row(*row)
    env = settings.api_keys.get_secret_value() if settings.api_keys else ""
    for principal in parse_env_keys(env).values():
        scopes = ",".join(sorted(s.value for s in principal.scopes))
        table.add_row(principal.name or "", "", scopes, "", "", "", "API_KEYS")
    out = Console()
    if not out.is_terminal:
        # Piped or captured: keep rows whole rather than fitting 80 columns.
        out = Console(width=200)
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key; API processes stop accepting it within API_KEY_CACHE_S seconds."""
    from kra_graphql.access.keys import revoke_key
    from kra_graphql.errors import AppError

    settings = settings_or_exit()
    checked(lambda: asyncio.run(check_all(settings, redis=False)))

    async def revoke() -> None:
        async with _sessions(settings) as sessions:
            await revoke_key(sessions, name)

    try:
        asyncio.run(revoke())
    except AppError as error:
        fail(error.message)
    err.print(f"key {name!r} revoked", highlight=False)


@asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from kra_graphql.db import create_engine, create_sessionmaker

    engine = create_engine(settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


register_client_commands(app)


def main() -> None:
    app()
