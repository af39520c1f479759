"""exportDataset: a recorded month exported through the real server and worker, downloaded
over HTTP with the key that asked, read back with pyarrow and the csv module."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from rich.console import Console
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from kra_graphql.access.keys import Scope
from kra_graphql.client.download import EXIT_MISMATCH, download_export, verify_folder
from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.db import utcnow
from kra_graphql.export import storage
from kra_graphql.export.params import ExportFormat, ExportParams
from kra_graphql.export.service import export_dataset
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.retention import apply_retention
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.access_support import bearer, new_key
from tests.conftest import API_KEY
from tests.jobs_support import run_to_end, wait_job
from tests.support import CLI, ROOT, child_env

pytestmark = pytest.mark.usefixtures("worker_process")

# Seoul's January race days of the recorded data (the `january` fixture's month), collected
# with details so horses, jockeys and trainers have rows.
SEOUL_DAYS = ("20250104", "20250105", "20250111")
FROM, TO, MEET = "20250101", "20250131", 1
PREDICTED_RACE = "race_1_20250105_1"

EXPORT = """
mutation E($input: ExportDatasetInput!) {
  exportDataset(input: $input) { id kind status requestedBy }
}
"""
JOB = "query J($id: ID!) { job(id: $id) { id status result error } }"
TOTALS = """
query T($from: String!, $to: String!, $meet: Int!) {
  races(filter: {dateFrom: $from, dateTo: $to, meet: $meet}, first: 100) {
    totalCount
    edges { node {
      id resultStatus predictions { id }
      entries { gateNumber horse { horseNo } jockey { jockeyNo } trainer { trainerNo } }
    } }
  }
}
"""
PREDICT = """
mutation P($race: ID!) { predictRace(input: {raceId: $race, promptId: "form-weights-v1.0"}) { id } }
"""


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


@pytest.fixture(scope="module")
async def month(
    runtime: Runtime, job_queue: JobQueue, replay_url: str, api_url: str, api_key: str
) -> dict[str, int]:
    """Seoul's January, collected with details and one race predicted; the totals GraphQL
    gives for it, table by table."""
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    for day in SEOUL_DAYS:
        params = CollectParams(race_date=parse_race_date(day, field="d"), meet=MEET, enrich=True)
        job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, params.to_json())
        assert job.status == JobStatus.COMPLETED, job.error
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(api_key), timeout=30) as http:
        answer = await http.post(
            "/graphql", json={"query": PREDICT, "variables": {"race": PREDICTED_RACE}}
        )
        assert "errors" not in answer.json(), answer.text
        answer = await http.post(
            "/graphql", json={"query": TOTALS, "variables": {"from": FROM, "to": TO, "meet": MEET}}
        )
    races = answer.json()["data"]["races"]
    nodes = [edge["node"] for edge in races["edges"]]
    assert races["totalCount"] == len(nodes) > 20
    entries = [entry for node in nodes for entry in node["entries"]]

    def distinct(kind: str, key: str) -> int:
        return len({e[kind][key] for e in entries if e[kind] is not None})

    return {
        "RACES": races["totalCount"],
        "ENTRIES": len(entries),
        "RESULTS": sum(len(n["entries"]) for n in nodes if n["resultStatus"] == "RESULTED"),
        "PREDICTIONS": sum(len(node["predictions"]) for node in nodes),
        "HORSES": distinct("horse", "horseNo"),
        "JOCKEYS": distinct("jockey", "jockeyNo"),
        "TRAINERS": distinct("trainer", "trainerNo"),
    }


async def export(session: AsyncClientSession, **input_: Any) -> dict[str, Any]:
    fields = {"dateFrom": FROM, "dateTo": TO, "meets": [MEET], **input_}
    job: dict[str, Any] = (await session.execute(request(EXPORT, input=fields)))["exportDataset"]
    return job


async def finished(session: AsyncClientSession, job_id: str, runtime: Runtime) -> dict[str, Any]:
    row = await wait_job(runtime, job_id, within_s=90)
    assert row.status == JobStatus.COMPLETED, row.error
    found: dict[str, Any] = (await session.execute(request(JOB, id=job_id)))["job"]
    return found


@pytest.fixture
async def http(api_url: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(api_key), timeout=30) as client:
        yield client


async def download_all(http: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, bytes]:
    """Every listed file, with its Content-Length checked against what arrived."""
    files = {}
    for file in job["result"]["files"]:
        response = await http.get(file["url"])
        assert response.status_code == 200, (file, response.text)
        assert int(response.headers["content-length"]) == len(response.content) == file["bytes"]
        assert hashlib.sha256(response.content).hexdigest() == file["sha256"]
        files[file["name"]] = response.content
    return files


def check_manifest(files: dict[str, bytes], export_format: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(files["manifest.json"])
    assert manifest["format"] == export_format
    assert manifest["filters"] == {
        "dateFrom": "2025-01-01", "dateTo": "2025-01-31", "meets": [MEET],
        "tables": ["RACES", "ENTRIES", "RESULTS", "PREDICTIONS", "HORSES", "JOCKEYS", "TRAINERS"],
    }  # fmt: skip
    assert manifest["schemaVersion"]
    assert manifest["createdAt"]
    suffix = ".parquet" if export_format == "PARQUET" else ".csv"
    assert [f["name"] for f in manifest["files"]] == [
        f"{table.lower()}{suffix}" for table in manifest["filters"]["tables"]
    ]
    for entry in manifest["files"]:
        content = files[entry["name"]]
        assert entry["bytes"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    return manifest


def assert_win_probabilities(rows: Any) -> None:
    """The predicted race's FORM prediction carries its starters' probabilities as JSON
    text, {"<gate>": probability}, summing to 1."""
    predicted = [row for row in rows if row["race_id"] == PREDICTED_RACE]
    assert predicted
    for row in predicted:
        probabilities = json.loads(row["win_probabilities"])
        assert all(gate.isdigit() for gate in probabilities)
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-5)


def columns(manifest: dict[str, Any], table: str) -> dict[str, str]:
    entry = next(f for f in manifest["files"] if f["table"] == table)
    return {column["name"]: column["type"] for column in entry["columns"]}


async def test_a_month_as_parquet_matches_the_api_in_rows_types_and_checksums(
    gql_session: AsyncClientSession, http: httpx.AsyncClient, runtime: Runtime,
    month: dict[str, int],
) -> None:  # fmt: skip
    job = await export(gql_session, format="PARQUET")
    assert (job["kind"], job["status"], job["requestedBy"]) == ("EXPORT", "QUEUED", "tests")
    done = await finished(gql_session, job["id"], runtime)
    files = await download_all(http, done)
    manifest = check_manifest(files, "PARQUET")

    tables = {
        entry["table"]: pq.read_table(io.BytesIO(files[entry["name"]]))
        for entry in manifest["files"]
    }
    assert {name: table.num_rows for name, table in tables.items()} == month
    assert {e["table"]: e["rows"] for e in manifest["files"]} == month
    assert done["result"]["rows"] == sum(month.values())
    assert month["PREDICTIONS"] >= 1
    races, entries, results = tables["RACES"], tables["ENTRIES"], tables["RESULTS"]
    assert races.schema.field("race_date").type == pa.date32()
    assert entries.schema.field("race_date").type == pa.date32()
    assert entries.schema.field("win_odds").type == pa.float64()
    assert entries.schema.field("carried_weight").type == pa.float64()
    assert results.schema.field("finish_position").type == pa.int32()
    assert results.schema.field("finish_position").nullable
    assert tables["HORSES"].schema.field("birth_date").type == pa.date32()
    assert tables["PREDICTIONS"].schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    # The manifest names the same types the file has.
    for entry in manifest["files"]:
        schema = tables[entry["table"]].schema
        assert columns(manifest, entry["table"]) == {f.name: str(f.type) for f in schema}
    days = set(races.column("race_date").to_pylist())
    assert days == {parse_race_date(day, field="d") for day in SEOUL_DAYS}
    assert set(races.column("meet").to_pylist()) == {MEET}
    positions = [p for p in results.column("finish_position").to_pylist() if p is not None]
    assert positions
    assert all(isinstance(p, int) for p in positions)
    assert PREDICTED_RACE in tables["PREDICTIONS"].column("race_id").to_pylist()
    assert tables["PREDICTIONS"].schema.field("win_probabilities").type == pa.string()
    assert_win_probabilities(tables["PREDICTIONS"].to_pylist())


async def test_a_month_as_csv_reads_back_with_a_header_and_the_same_counts(
    gql_session: AsyncClientSession, http: httpx.AsyncClient, runtime: Runtime,
    month: dict[str, int],
) -> None:  # fmt: skip
    job = await export(gql_session, format="CSV")
    done = await finished(gql_session, job["id"], runtime)
    files = await download_all(http, done)
    manifest = check_manifest(files, "CSV")

    for entry in manifest["files"]:
        text = files[entry["name"]].decode("utf-8")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
        assert list(reader.fieldnames or []) == list(columns(manifest, entry["table"]))
        assert len(rows) == entry["rows"] == month[entry["table"]]
    assert_win_probabilities(
        csv.DictReader(io.StringIO(files["predictions.csv"].decode(), newline=""))
    )
    entries = list(csv.DictReader(io.StringIO(files["entries.csv"].decode(), newline="")))
    assert {date.fromisoformat(row["race_date"]) for row in entries} == {
        parse_race_date(day, field="d") for day in SEOUL_DAYS
    }
    odds = [float(row["win_odds"]) for row in entries if row["win_odds"]]
    assert odds
    assert all(o > 0 for o in odds)
    assert {row["scratched"] for row in entries} <= {"true", "false"}
    horses = files["horses.csv"].decode("utf-8")
    # Korean names stay readable: UTF-8, not escapes.
    assert any("\uac00" <= ch <= "\ud7a3" for ch in horses)


async def test_only_the_key_that_asked_or_an_admin_downloads(
    gql_session: AsyncClientSession, runtime: Runtime, api_url: str,
    sessions: async_sessionmaker[AsyncSession], month: dict[str, int],
) -> None:  # fmt: skip
    job = await export(gql_session, format="CSV", tables=["RACES"])
    done = await finished(gql_session, job["id"], runtime)
    _, reader = await new_key(sessions, Scope.READ)
    _, admin = await new_key(sessions, Scope.ADMIN)
    base = f"/exports/{job['id']}"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        other = await client.get(f"{base}/races.csv", headers=bearer(reader))
        anonymous = await client.get(f"{base}/races.csv")
        by_admin = await client.get(f"{base}/races.csv", headers=bearer(admin))
        wrong_key = await client.get(f"{base}/races.csv", headers=bearer("kra_" + "x" * 40))
        assert (other.status_code, anonymous.status_code, by_admin.status_code) == (404, 404, 200)
        assert wrong_key.status_code == 401
        assert by_admin.content.decode().startswith("id,race_date,meet,")
        assert by_admin.headers["content-type"].startswith("text/csv")
        # Another key's export answers as a missing one would.
        missing = await client.get("/exports/job_0123456789abcdef/races.csv", headers=bearer(admin))
        assert other.content == missing.content

        assert done["result"]["files"]
        with_key = bearer(API_KEY)
        for path in (
            f"{base}/entries.csv",  # not written: only RACES was asked for
            f"{base}/races.parquet",
            f"{base}/..%2F..%2Fkra.db",
            f"{base}/%2e%2e",
            f"{base}/.%2Fraces.csv",
            f"/exports/..%2F{job['id']}/races.csv",
            f"/exports/{job['id']}%2F..%2F{job['id']}/races.csv",
            "/exports/job_0123456789abcdef/manifest.json",
            f"/exports/{job['id']}/%2Fetc%2Fpasswd",
        ):
            response = await client.get(path, headers=with_key)
            assert response.status_code == 404, path
        assert (await client.get(f"{base}/races.csv", headers=with_key)).status_code == 200


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"dateFrom": "20250131", "dateTo": "20250101"}, "input.dateFrom"),
        ({"dateFrom": "20240101", "dateTo": "20250205"}, "input.dateTo"),
        ({"dateFrom": "2025-13-01"}, "input.dateFrom"),
        ({"tables": []}, "input.tables"),
        ({"tables": ["RACES", "RACES"]}, "input.tables"),
        ({"meets": []}, "input.meets"),
        ({"meets": [4]}, "input.meets"),
    ],
)
async def test_bad_input_names_the_field_and_makes_no_job(
    gql_session: AsyncClientSession, runtime: Runtime, input_: dict[str, Any], field: str
) -> None:
    before = await job_count(runtime)
    with pytest.raises(TransportQueryError) as raised:
        await export(gql_session, **input_)
    error = raised.value.errors[0]  # type: ignore[index]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert await job_count(runtime) == before


async def job_count(runtime: Runtime) -> int:
    from sqlalchemy import func, select

    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Job)) or 0)


class Steps:
    """A run's reporter: counts its steps and, if told, asks to stop at one of them."""

    def __init__(self, job_id: str, cancel_at: int | None = None) -> None:
        self.job_id = job_id
        self.cancel_at = cancel_at
        self.checks = 0

    async def set_total(self, total_steps: int, *, step: str | None = None) -> None:
        pass

    async def step(self, name: str) -> None:
        await self.check_cancelled()

    async def advance(self, steps: int = 1) -> None:
        pass

    async def log(self, message: str, *, level: str = "INFO") -> None:
        pass

    async def check_cancelled(self) -> None:
        self.checks += 1
        if self.cancel_at is not None and self.checks >= self.cancel_at:
            raise RuntimeError("stopped")


async def test_a_rerun_replaces_the_folder_whole_and_a_stopped_one_leaves_it_untouched(
    gql_session: AsyncClientSession, runtime: Runtime, settings: Settings, month: dict[str, int]
) -> None:
    job = await export(gql_session, format="PARQUET", tables=["RACES", "ENTRIES"])
    await finished(gql_session, job["id"], runtime)
    folder = Path(settings.export_dir) / job["id"]
    first = json.loads((folder / "manifest.json").read_text())
    params = ExportParams.from_json(
        {"dateFrom": FROM, "dateTo": TO, "meets": [MEET], "format": ExportFormat.CSV,
         "tables": ["RACES"]}
    )  # fmt: skip

    # Stopped halfway: the published files stay as they were, and nothing is left over.
    with pytest.raises(RuntimeError, match="stopped"):
        await export_dataset(runtime, Steps(job["id"], cancel_at=2), params)
    assert json.loads((folder / "manifest.json").read_text()) == first
    assert verify_folder(folder, first) == []
    assert leftovers(settings) == []

    # Run again to its end: the folder now holds exactly the new run's files.
    outcome = await export_dataset(runtime, Steps(job["id"]), params)
    second = json.loads((folder / "manifest.json").read_text())
    assert second["createdAt"] != first["createdAt"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "races.csv"]
    assert verify_folder(folder, second) == []
    assert [f["name"] for f in outcome.result["files"]] == ["races.csv", "manifest.json"]
    assert leftovers(settings) == []


def leftovers(settings: Settings) -> list[str]:
    return [p.name for p in Path(settings.export_dir).iterdir() if p.name.startswith(".")]


async def test_retention_removes_the_folder_with_its_job(
    gql_session: AsyncClientSession, runtime: Runtime, settings: Settings, month: dict[str, int]
) -> None:
    kept = await export(gql_session, format="CSV", tables=["RACES"])
    old = await export(gql_session, format="CSV", tables=["RACES"])
    for job in (kept, old):
        await finished(gql_session, job["id"], runtime)
    root = Path(settings.export_dir)
    assert (root / old["id"]).is_dir()
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Job)
            .where(col(Job.id) == old["id"])
            .values(finished_at=utcnow() - timedelta(days=settings.job_retention_days + 1))
        )

    pruned = await apply_retention(runtime)

    assert pruned.exports >= 1
    assert not (root / old["id"]).exists()
    assert (root / kept["id"] / "races.csv").is_file()
    assert storage.export_file(root, old["id"], "races.csv") is None


async def test_the_cli_exports_waits_downloads_and_verifies(
    api_url: str, api_key: str, gql_session: AsyncClientSession, tmp_path: Path,
    month: dict[str, int],
) -> None:  # fmt: skip
    out = tmp_path / "out"
    env = child_env({"KRA_GRAPHQL_URL": f"{api_url}/graphql", "KRA_GRAPHQL_KEY": api_key,
                     "COLUMNS": "200"})  # fmt: skip
    args = [*CLI, "export", "--from", FROM, "--to", TO, "--format", "csv", "--meet", str(MEET),
            "--table", "races", "--table", "results", "-o", str(out)]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, args, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "COMPLETED" in done.stdout
    assert "verified 2 file(s)" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert verify_folder(out, manifest) == []
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8", newline="")))
    assert len(rows) == month["RESULTS"]

    # A file that no longer matches its manifest is reported, with its name.
    (out / "races.csv").write_text("id\n", encoding="utf-8")
    assert [p.split(":")[0] for p in verify_folder(out, manifest)] == ["races.csv"]

    # A download that does not match what the job listed is a failure (exit 4).
    job_id = manifest["jobId"]
    job = (await gql_session.execute(request(JOB, id=job_id)))["job"]
    for file in job["result"]["files"]:
        file["sha256"] = "0" * 64
    console = Console(file=io.StringIO())
    code = await download_export(f"{api_url}/graphql", api_key, job, tmp_path / "again", console)
    assert code == EXIT_MISMATCH
    assert "mismatch" in console.file.getvalue()  # type: ignore[attr-defined]
