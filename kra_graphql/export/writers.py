"""File writers fed a chunk of rows at a time: what they hold is one chunk, never a table."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from kra_graphql.export.params import ExportFormat

READ_BLOCK = 1 << 20


class TableWriter(Protocol):
    def write(self, rows: Sequence[Sequence[Any]]) -> None: ...

    def close(self) -> None: ...


class ParquetWriter:
    """One row group per chunk; Arrow converts dates to date32, floats to float64, and
    a None in an integer column to a null, not a float."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._schema = schema
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        columns = [
            pa.array([row[i] for row in rows], type=field.type)
            for i, field in enumerate(self._schema)
        ]
        self._writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


class CsvWriter:
    """UTF-8 with a header row; an empty field is a null, dates are ISO (YYYY-MM-DD),
    timestamps ISO 8601 in UTC, booleans `true`/`false`."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(schema.names)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        self._csv.writerows([[_text(value) for value in row] for row in rows])

    def close(self) -> None:
        self._file.close()


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def open_writer(export_format: ExportFormat, path: Path, schema: pa.Schema) -> TableWriter:
    if export_format is ExportFormat.PARQUET:
        return ParquetWriter(path, schema)
    return CsvWriter(path, schema)


def digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, bytes) of a written file."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while block := file.read(READ_BLOCK):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size
