"""Client commands of `kra-graphql`: submit jobs to a running server and follow them.

They talk to the server only through its public GraphQL API, so they work against any
deployment; nothing here reads the server's own settings.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# The schema's enums, so a typo is a usage error here rather than a server round trip.
from kra_graphql.jobs.states import JobKind, JobStatus

if TYPE_CHECKING:
    from kra_graphql.client.graphql import GraphQLClient

# Exit code when the request itself fails: unreachable server, rejected key, bad input.
EXIT_REQUEST = 2


Url = Annotated[
    str,
    typer.Option(
        envvar="KRA_GRAPHQL_URL", help="GraphQL endpoint of the server.", show_default=True
    ),
]
Key = Annotated[
    str | None,
    typer.Option(envvar="KRA_GRAPHQL_KEY", help="API key, sent as a Bearer token."),
]
Detach = Annotated[bool, typer.Option("--detach", help="Print the job id and return at once.")]
DEFAULT_URL = "http://127.0.0.1:8000/graphql"


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return items or None


def _race_numbers(text: str | None) -> list[int] | None:
    items = _split(text)
    if items is None:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise typer.BadParameter("race numbers separated by commas, like 1,2,5") from None


def _run(url: str, key: str | None, body: Callable[[GraphQLClient], Awaitable[int]]) -> None:
    """Run one client command; a failed request is one line on stderr and exit code 2."""
    from rich.console import Console
    from rich.markup import escape

    from kra_graphql.client.graphql import ClientError, GraphQLClient

    async def main() -> int:
        async with GraphQLClient(url, key=key) as client:
            return await body(client)

    try:
        code = asyncio.run(main())
    except ClientError as error:
        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(error.line())}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(EXIT_REQUEST) from None
    raise typer.Exit(code)


def _submit(
    url: str, key: str | None, document: str, field: str, variables: dict[str, Any], detach: bool
) -> None:
    from rich.console import Console

    from kra_graphql.client.follow import follow_job

    async def body(client: GraphQLClient) -> int:
        job = (await client.execute(document, variables))[field]
        if detach:
            print(job["id"])
            return 0
        return await follow_job(client, Console(), job, interactive=sys.stdin.isatty())

    _run(url, key, body)


def collect(
    date: Annotated[str, typer.Option(help="Race day, YYYYMMDD or ISO.")],
    meet: Annotated[int, typer.Option(help="1 Seoul, 2 Jeju, 3 Busan-Gyeongnam.")],
    races: Annotated[str | None, typer.Option(help="Only these race numbers: 1,2,5.")] = None,
    enrich: Annotated[bool, typer.Option(help="Fetch horse, jockey, trainer details.")] = True,
    with_results: Annotated[
        bool, typer.Option("--with-results/--no-results", help="Store results once out.")
    ] = True,
    url: Url = DEFAULT_URL,
    key: Key = None,
    detach: Detach = False,
) -> None:
    """Collect a race day on the server and follow the job (collectRaces)."""
    from kra_graphql.client import operations

    payload = {
        "date": date,
        "meet": meet,
        "raceNumbers": _race_numbers(races),
        "enrich": enrich,
        "withResults": with_results,
    }
    _submit(url, key, operations.COLLECT, "collectRaces", {"input": payload}, detach)


def backfill(
    date_from: Annotated[str, typer.Option("--from", help="First race day, YYYYMMDD or ISO.")],
    date_to: Annotated[str, typer.Option("--to", help="Last race day (at most 400 days).")],
    meet: Annotated[
        list[int] | None,
        typer.Option(help="1 Seoul, 2 Jeju, 3 Busan-Gyeongnam (repeatable); all when omitted."),
    ] = None,
    enrich: Annotated[bool, typer.Option(help="Fetch horse, jockey, trainer details.")] = True,
    with_results: Annotated[
        bool, typer.Option("--with-results/--no-results", help="Store results once out.")
    ] = True,
    force: Annotated[
        bool, typer.Option(help="Collect days again that are already collected completely.")
    ] = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    detach: Detach = False,
) -> None:
    """Collect every race day of a range and follow the backfill (backfillRaces)."""
    from kra_graphql.client import operations

    payload = {
        "dateFrom": date_from,
        "dateTo": date_to,
        "meets": meet or None,
        "enrich": enrich,
        "withResults": with_results,
        "force": force,
    }
    _submit(url, key, operations.BACKFILL, "backfillRaces", {"input": payload}, detach)


def evaluate(
    prompt: Annotated[str, typer.Option(help="Prompt id, like form-weights-v1.0.")],
    races: Annotated[str | None, typer.Option(help="Race ids separated by commas.")] = None,
    date_from: Annotated[str | None, typer.Option(help="First race day.")] = None,
    date_to: Annotated[str | None, typer.Option(help="Last race day.")] = None,
    parallelism: Annotated[int, typer.Option(help="Predictions at once, 1-64.")] = 4,
    use_final_odds: Annotated[bool, typer.Option(help="Let the predictor see final odds.")] = False,
    confidence_threshold: Annotated[int, typer.Option(help="Defer below this, 0-100.")] = 0,
    sample_size: Annotated[
        int | None, typer.Option(help="Score a sample of this many of the races, 1-5000.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same races: the sample's seed.")] = 0,
    url: Url = DEFAULT_URL,
    key: Key = None,
    detach: Detach = False,
) -> None:
    """Score a prompt over races with results and follow the job (evaluatePrompt)."""
    from kra_graphql.client import operations

    payload = {
        "promptId": prompt,
        "raceIds": _split(races),
        "dateFrom": date_from,
        "dateTo": date_to,
        "parallelism": parallelism,
        "useFinalOdds": use_final_odds,
        "confidenceThreshold": confidence_threshold,
        "sampleSize": sample_size,
        "seed": seed,
    }
    _submit(url, key, operations.EVALUATE, "evaluatePrompt", {"input": payload}, detach)


def improve(
    prompt: Annotated[str, typer.Option(help="FORM, LLM or LEARNED prompt id to improve.")],
    iterations: Annotated[int, typer.Option(help="Candidates to try, 1-100.")] = 10,
    sample_size: Annotated[int, typer.Option(help="Earlier races per candidate, 10-5000.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same data: same result.")] = 0,
    train_share: Annotated[float, typer.Option(help="Share of races used for tuning.")] = 0.7,
    date_from: Annotated[str | None, typer.Option(help="First race day.")] = None,
    date_to: Annotated[str | None, typer.Option(help="Last race day.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    detach: Detach = False,
) -> None:
    """Tune a prompt on earlier races and follow the job (improvePrompt)."""
    from kra_graphql.client import operations

    payload = {
        "promptId": prompt,
        "iterations": iterations,
        "sampleSize": sample_size,
        "seed": seed,
        "trainShare": train_share,
        "dateFrom": date_from,
        "dateTo": date_to,
    }
    _submit(url, key, operations.IMPROVE, "improvePrompt", {"input": payload}, detach)


def train(
    date_from: Annotated[str, typer.Option(help="First race day.")],
    date_to: Annotated[str, typer.Option(help="Last race day.")],
    seed: Annotated[int, typer.Option(help="Recorded with the model.")] = 0,
    c: Annotated[float | None, typer.Option("--c", help="Inverse L2 strength (0.1).")] = None,
    target: Annotated[str | None, typer.Option(help="win (default) or top3.")] = None,
    folds: Annotated[int | None, typer.Option(help="Blocks of days for calibration (4).")] = None,
    validation_share: Annotated[
        float | None, typer.Option(help="Later share of the races that validates (0.25).")
    ] = None,
    name: Annotated[str, typer.Option(help="Name of the stored versions.")] = "learned-logit",
    url: Url = DEFAULT_URL,
    key: Key = None,
    detach: Detach = False,
) -> None:
    """Train a LEARNED model on earlier races and follow the job (trainModel)."""
    from kra_graphql.client import operations

    given = {"C": c, "target": target, "folds": folds, "validationShare": validation_share}
    payload = {
        "dateFrom": date_from,
        "dateTo": date_to,
        "seed": seed,
        "params": {k: v for k, v in given.items() if v is not None},
        "name": name,
    }
    _submit(url, key, operations.TRAIN, "trainModel", {"input": payload}, detach)


def watch(
    job_id: Annotated[str, typer.Argument(help="The job to follow.")],
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Follow a job until it ends (again, after a detach)."""
    from rich.console import Console

    from kra_graphql.client import operations
    from kra_graphql.client.follow import follow_job
    from kra_graphql.client.graphql import ClientError

    async def body(client: GraphQLClient) -> int:
        job = (await client.execute(operations.JOB, {"id": job_id}))["job"]
        if job is None:
            raise ClientError(f"no job with id {job_id}", code="NOT_FOUND")
        return await follow_job(client, Console(), job, interactive=sys.stdin.isatty())

    _run(url, key, body)


def jobs(
    status: Annotated[
        list[JobStatus] | None,
        typer.Option(case_sensitive=False, help="Only jobs in this status (repeatable)."),
    ] = None,
    kind: Annotated[
        list[JobKind] | None,
        typer.Option(case_sensitive=False, help="Only jobs of this kind (repeatable)."),
    ] = None,
    first: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """List recent jobs in a table."""
    from rich.console import Console

    from kra_graphql.client import operations
    from kra_graphql.client.table import jobs_table

    job_filter = {
        "status": [s.value for s in status] if status else None,
        "kind": [k.value for k in kind] if kind else None,
    }

    async def body(client: GraphQLClient) -> int:
        data = await client.execute(operations.JOBS, {"filter": job_filter, "first": first})
        nodes = [edge["node"] for edge in data["jobs"]["edges"]]
        Console().print(jobs_table(nodes, data["jobs"]["totalCount"]))
        return 0

    _run(url, key, body)


def register(app: typer.Typer) -> None:
    for command in (collect, backfill, evaluate, improve, train, watch, jobs, export):
        app.command(rich_help_panel="Client (talks to a running server)")(command)


def export(
    date_from: Annotated[str, typer.Option("--from", help="First race day, YYYYMMDD or ISO.")],
    date_to: Annotated[str, typer.Option("--to", help="Last race day (at most 400 days).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to download the files into.")
    ],
    export_format: Annotated[
        str, typer.Option("--format", help="parquet or csv.", case_sensitive=False)
    ] = "parquet",
    meet: Annotated[
        list[int] | None,
        typer.Option(help="1 Seoul, 2 Jeju, 3 Busan-Gyeongnam (repeatable); all when omitted."),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            help="races, entries, results, predictions, horses, jockeys, trainers "
            "(repeatable); all when omitted."
        ),
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Export races of a range (exportDataset), follow the job, then download and verify
    its files against the manifest: exit 4 when one differs."""
    from rich.console import Console

    from kra_graphql.client import operations
    from kra_graphql.client.download import download_export
    from kra_graphql.client.follow import follow_job

    if export_format.lower() not in {"parquet", "csv"}:
        raise typer.BadParameter("parquet or csv", param_hint="--format")
    payload = {
        "dateFrom": date_from,
        "dateTo": date_to,
        "meets": meet or None,
        "format": export_format.upper(),
        "tables": [name.upper() for name in table] if table else None,
    }

    async def body(client: GraphQLClient) -> int:
        console = Console()
        job = (await client.execute(operations.EXPORT, {"input": payload}))["exportDataset"]
        code = await follow_job(client, console, job, interactive=sys.stdin.isatty())
        if code != 0:
            return code
        final = (await client.execute(operations.JOB, {"id": job["id"]}))["job"]
        return await download_export(client.url, client.key, final, output, console)

    _run(url, key, body)
