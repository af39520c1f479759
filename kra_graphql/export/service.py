"""The export job: stream each table from one database snapshot into its file, then the
manifest, then publish the folder."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kra_graphql.db import utcnow
from kra_graphql.export import storage
from kra_graphql.export.params import ExportParams
from kra_graphql.export.tables import SPECS, TableSpec
from kra_graphql.export.writers import digest, open_writer
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime

# Rows read and written at a time: what the job holds in memory, whatever the range.
CHUNK_ROWS = 5000
# The layout of the folder and manifest; a change that breaks readers bumps it.
EXPORT_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class WrittenFile:
    spec: TableSpec
    name: str
    rows: int
    sha256: str
    bytes: int


def download_path(job_id: str, name: str) -> str:
    return f"/exports/{job_id}/{name}"


async def export_dataset(runtime: Runtime, progress: Progress, params: ExportParams) -> JobOutcome:
    root = Path(runtime.settings.export_dir)
    final = storage.job_folder(root, progress.job_id)
    assert final is not None, "job ids are folder names"
    temp = await asyncio.to_thread(storage.new_temp_folder, root, progress.job_id)
    try:
        written, schema_version = await _write_tables(runtime, progress, params, temp)
        await progress.step("writing the manifest")
        manifest = _manifest(progress.job_id, params, written, schema_version)
        manifest_path = temp / storage.MANIFEST
        await asyncio.to_thread(
            manifest_path.write_text,
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
            "utf-8",
        )
        manifest_sha, manifest_bytes = await asyncio.to_thread(digest, manifest_path)
        await progress.check_cancelled()
        await asyncio.to_thread(storage.publish, temp, final)
        await progress.advance()
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, temp, True)
        raise
    files: list[dict[str, Any]] = [
        {
            "name": file.name,
            "table": file.spec.table.value,
            "rows": file.rows,
            "bytes": file.bytes,
            "sha256": file.sha256,
            "url": download_path(progress.job_id, file.name),
        }
        for file in written
    ]
    files.append(
        {
            "name": storage.MANIFEST,
            "table": None,
            "rows": None,
            "bytes": manifest_bytes,
            "sha256": manifest_sha,
            "url": download_path(progress.job_id, storage.MANIFEST),
        }
    )
    rows = sum(file.rows for file in written)
    await progress.log(f"{rows} row(s) in {len(written)} file(s)")
    return JobOutcome(result={"format": params.format.value, "rows": rows, "files": files})


async def _write_tables(
    runtime: Runtime, progress: Progress, params: ExportParams, folder: Path
) -> tuple[list[WrittenFile], str | None]:
    """Every table from one snapshot, so the files agree with one another (an entry's
    race is in races) even while collection writes meanwhile."""
    isolation = "SERIALIZABLE" if runtime.settings.is_sqlite else "REPEATABLE READ"
    async with runtime.engine.connect() as plain:
        connection = await plain.execution_options(isolation_level=isolation)
        async with connection.begin():
            schema_version = await connection.scalar(
                text("SELECT version_num FROM alembic_version")
            )
            specs = [SPECS[table] for table in params.tables]
            counts = [int(await connection.scalar(spec.count(params)) or 0) for spec in specs]
            chunks = [max(1, math.ceil(count / CHUNK_ROWS)) for count in counts]
            await progress.set_total(sum(chunks) + 1, step="counting rows")
            written = []
            for spec, steps in zip(specs, chunks, strict=True):
                written.append(
                    await _write_table(connection, progress, params, spec, folder, steps)
                )
    return written, schema_version


async def _write_table(
    connection: AsyncConnection,
    progress: Progress,
    params: ExportParams,
    spec: TableSpec,
    folder: Path,
    steps: int,
) -> WrittenFile:
    name = spec.table.file_name(params.format)
    await progress.step(f"writing {name}")
    path = folder / name
    writer = await asyncio.to_thread(open_writer, params.format, path, spec.schema)
    rows = advanced = 0
    try:
        result = await connection.stream(spec.query(params).execution_options(yield_per=CHUNK_ROWS))
        async for chunk in result.partitions(CHUNK_ROWS):
            await asyncio.to_thread(writer.write, chunk)
            rows += len(chunk)
            if advanced < steps:
                advanced += 1
                await progress.advance()
            await progress.check_cancelled()
    finally:
        await asyncio.to_thread(writer.close)
    if advanced < steps:
        await progress.advance(steps - advanced)
    sha256, size = await asyncio.to_thread(digest, path)
    return WrittenFile(spec=spec, name=name, rows=rows, sha256=sha256, bytes=size)


def _manifest(
    job_id: str, params: ExportParams, written: list[WrittenFile], schema_version: str | None
) -> dict[str, Any]:
    return {
        "exportFormatVersion": EXPORT_FORMAT_VERSION,
        "jobId": job_id,
        "createdAt": utcnow().isoformat(),
        # The database migration the rows were read under (Alembic revision).
        "schemaVersion": schema_version,
        "format": params.format.value,
        "filters": {
            "dateFrom": params.date_from.isoformat(),
            "dateTo": params.date_to.isoformat(),
            "meets": list(params.meets),
            "tables": [table.value for table in params.tables],
        },
        "files": [
            {
                "name": file.name,
                "table": file.spec.table.value,
                "rows": file.rows,
                "bytes": file.bytes,
                "sha256": file.sha256,
                "columns": [
                    {"name": field.name, "type": str(field.type), "nullable": field.nullable}
                    for field in file.spec.schema
                ],
            }
            for file in written
        ],
    }
