"""The `kra-graphql` command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

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


def main() -> None:
    app()
