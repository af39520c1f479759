"""Import saved RaceDetailResult envelopes (one race per file) as a job with progress."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from kra_graphql.collection import store
from kra_graphql.jobs.failures import describe
from kra_graphql.kra.parsing import parse_race
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime

# Older file-based collections name files race_{meet}_{yyyymmdd}_{number}_*.json.
_LEGACY_NAME = re.compile(r"race_(?P<meet>[123])_(?P<date>\d{8})_(?P<number>\d{1,2})(?:_|\.)")
# The fixture layout: API214_1/<yyyymmdd>/<meet>/<number>.json
_TREE_NAME = re.compile(r"(?P<date>\d{8})/(?P<meet>[123])/(?P<number>\d{1,2})\.json$")


def expand(paths: list[str]) -> list[Path]:
    """Files as given, and every *.json below a given directory, in a stable order."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return found


def _hints(path: Path) -> dict[str, Any]:
    match = _LEGACY_NAME.search(path.name) or _TREE_NAME.search(path.as_posix())
    if match is None:
        return {}
    day = match["date"]
    return {
        "race_date": date(int(day[:4]), int(day[4:6]), int(day[6:])),
        "meet": int(match["meet"]),
        "race_number": int(match["number"]),
    }


async def import_files(runtime: Runtime, progress: Progress, paths: list[str]) -> JobOutcome:
    files = expand(paths)
    await progress.set_total(len(files))
    imported: list[str] = []
    skipped: list[str] = []
    failures: list[dict[str, Any]] = []
    for path in files:
        await progress.step(f"importing {path.name}")
        try:
            payload = orjson.loads(await asyncio.to_thread(path.read_bytes))
            race = parse_race(payload, **_hints(path))
            if race is None:
                skipped.append(str(path))
            else:
                async with runtime.write() as session:
                    imported.append(await store.store_race(session, race))
        except Exception as error:
            failures.append({"file": str(path), "error": describe(error)})
        await progress.advance()
    if failures and not imported:
        raise ValueError(f"no file could be imported; first error: {failures[0]['error']}")
    return JobOutcome(result={"raceIds": imported, "skipped": skipped}, failures=failures)
