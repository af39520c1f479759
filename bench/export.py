"""Export a synthetic season as Parquet and as CSV; print rows/s and peak memory.

    python -m bench.export [--days 365]

Fills a fresh PostgreSQL database (`kra_bench_<id>`, TEST_POSTGRES_URL and TEST_REDIS_URL
as for the tests) with generated races: three meets racing Friday to Sunday, 10 races a
day with 8 to 14 runners, their results, one prediction per race, and the horses,
jockeys and trainers they name. Then it runs `exportDataset` (every table) as a job in
this process, for a quarter of the range and for all of it, in each format, and prints
rows written per second and the peak of Python's heap during each run (tracemalloc);
the two ranges show it does not grow with the rows. Arrow's own memory pool (outside
Python's heap) and the process's maximum resident size, data generation included, are
printed once at the end. Everything it creates is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa

from bench.scratch import run_here, scratch_runtime
from kra_graphql.export.params import ExportFormat, ExportParams
from kra_graphql.export.service import export_dataset
from kra_graphql.jobs.models import JobKind
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.models import race_id
from kra_graphql.runtime import Runtime

START = date(2025, 1, 3)
RACE_DAYS = {4, 5, 6}  # Friday to Sunday
HORSES, JOCKEYS, TRAINERS = 4000, 160, 120
PROMPT = "form-weights-v1.0"


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    rows: int
    seconds: float
    python_peak: int
    bytes: int


def _asyncpg_url(runtime: Runtime) -> str:
    return runtime.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def fill(runtime: Runtime, days: int, seed: int = 7) -> dict[str, int]:
    """Generated rows straight into the tables (COPY): no KRA, no collection."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    people = [
        ("horses", "horse_no", HORSES, "말"),
        ("jockeys", "jockey_no", JOCKEYS, "기수"),
        ("trainers", "trainer_no", TRAINERS, "조교사"),
    ]
    races: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    predictions: list[tuple[Any, ...]] = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        if day.isoweekday() not in RACE_DAYS:
            continue
        for meet in (1, 2, 3):
            for number in range(1, 11):
                rid = race_id(meet, day, number)
                races.append((rid, day, meet, number, f"제{number}경주", rng.choice([1000, 1200,
                              1400, 1800]), "국6등급", "COLLECTED", "ENRICHED", "RESULTED",
                              0.9, now, now, now, "[]", "[]", now, now))  # fmt: skip
                field = rng.randint(8, 14)
                order = rng.sample(range(1, field + 1), field)
                for gate in range(1, field + 1):
                    odds = round(rng.uniform(1.2, 80.0), 1)
                    entries.append((rid, gate, f"H{rng.randrange(HORSES):06d}", f"말{gate}",
                                    f"J{rng.randrange(JOCKEYS):05d}",
                                    f"T{rng.randrange(TRAINERS):05d}", 4, "수", 54.0 + gate % 4,
                                    470 + gate, gate % 5 - 2, 60, odds, round(odds / 3, 1),
                                    False, order[gate - 1], 1, 70.0 + rng.random() * 10, "1",
                                    "{}", now, now))  # fmt: skip
                picks = rng.sample(range(1, field + 1), 3)
                correct = sum(p in order[:3] for p in picks)
                predictions.append((rid, PROMPT, "direct", *picks, rng.randint(0, 100), False,
                                    True, False, correct, now))  # fmt: skip
    connection = await asyncpg.connect(_asyncpg_url(runtime))
    try:
        for table, key, count, name in people:
            await connection.copy_records_to_table(
                table,
                records=[(f"{key[0].upper()}{n:0{6 if table == 'horses' else 5}d}", f"{name}{n}",
                          now, now) for n in range(count)],
                columns=[key, "name", "created_at", "updated_at"],
            )  # fmt: skip
        await connection.copy_records_to_table(
            "races",
            records=races,
            columns=["id", "race_date", "meet", "race_number", "name", "distance",
                     "race_class", "collection_status", "enrichment_status", "result_status",
                     "quality_score", "collected_at", "enriched_at", "resulted_at",
                     "quality_warnings", "raw", "created_at", "updated_at"],
        )  # fmt: skip
        await connection.copy_records_to_table(
            "entries",
            records=entries,
            columns=["race_id", "gate_number", "horse_no", "horse_name", "jockey_no",
                     "trainer_no", "age", "sex", "carried_weight", "body_weight",
                     "body_weight_change", "rating", "win_odds", "place_odds", "scratched",
                     "finish_position", "finish_code", "finish_time", "margin", "raw",
                     "created_at", "updated_at"],
        )  # fmt: skip
        await connection.copy_records_to_table(
            "predictions",
            records=predictions,
            columns=["race_id", "prompt_id", "run_key", "first_pick", "second_pick",
                     "third_pick", "confidence", "deferred", "valid_answer", "used_final_odds",
                     "correct_count", "created_at"],
        )  # fmt: skip
    finally:
        await connection.close()
    return {"races": len(races), "entries": len(entries), "predictions": len(predictions)}


async def _handler(runtime: Runtime, progress: Progress, data: dict[str, Any]) -> JobOutcome:
    return await export_dataset(runtime, progress, ExportParams.from_json(data))


async def measure(runtime: Runtime, label: str, params: ExportParams) -> Run:
    """Timed on its own, then run again under tracemalloc (which slows Python down) for
    the peak of its heap."""
    started = time.perf_counter()
    job = await run_here(runtime, JobKind.EXPORT, params.to_json(), _handler)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    await run_here(runtime, JobKind.EXPORT, params.to_json(), _handler)
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = job.result or {}
    size = sum(int(file["bytes"]) for file in result.get("files", []))
    return Run(label, int(result.get("rows", 0)), seconds, python_peak, size)


def show(run: Run) -> None:
    print(
        f"{run.label:>16}: {run.rows:>8,} rows in {run.seconds:6.2f} s = "
        f"{run.rows / run.seconds:>7,.0f} rows/s; files {run.bytes / 1e6:5.1f} MB; "
        f"peak Python heap {run.python_peak / 1e6:5.1f} MB"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kra-bench-export-") as folder:
        async with scratch_runtime(export_dir=Path(folder)) as runtime:
            started = time.perf_counter()
            counts = await fill(runtime, args.days)
            print(
                f"generated {args.days} days in {time.perf_counter() - started:.1f} s: "
                + ", ".join(f"{count:,} {name}" for name, count in counts.items())
            )
            end = START + timedelta(days=args.days - 1)
            quarter = START + timedelta(days=args.days // 4 - 1)
            for export_format in (ExportFormat.PARQUET, ExportFormat.CSV):
                for label, last in (("quarter", quarter), ("year", end)):
                    params = ExportParams(date_from=START, date_to=last, format=export_format)
                    show(await measure(runtime, f"{export_format.value} {label}", params))
    arrow_mb = (pa.default_memory_pool().max_memory() or 0) / 1e6
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Arrow memory pool peak over all runs {arrow_mb:.1f} MB")
    print(f"process max RSS {maxrss_mb:.0f} MB (data generation included)")


if __name__ == "__main__":
    asyncio.run(main())
