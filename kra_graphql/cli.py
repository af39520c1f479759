"""The `kra-graphql` command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from kra_graphql.client.commands import register as register_client_commands
from kra_graphql.config import Settings, SettingsError, load_settings
from kra_graphql.preflight import PreflightError, check_all

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
    uvicorn.run(
        "kra_graphql.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


@app.command()
def worker() -> None:
    """Run an ARQ worker that executes queued jobs."""
    from kra_graphql.logging import configure_logging
    from workers.settings import run_worker

    settings = settings_or_exit()
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


register_client_commands(app)


def main() -> None:
    app()
