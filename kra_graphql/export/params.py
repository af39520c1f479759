"""What an export covers: a date range, meets, a format and tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from kra_graphql.collection.params import ALL_MEETS, check_day_range, check_meets
from kra_graphql.errors import BadUserInput
from kra_graphql.races.dates import format_race_date, parse_race_date

# A season and a bit, as a backfill: a bigger range is several exports.
MAX_EXPORT_DAYS = 400


class ExportFormat(StrEnum):
    PARQUET = "PARQUET"
    CSV = "CSV"

    @property
    def suffix(self) -> str:
        return ".parquet" if self is ExportFormat.PARQUET else ".csv"


class ExportTable(StrEnum):
    RACES = "RACES"
    ENTRIES = "ENTRIES"
    RESULTS = "RESULTS"
    PREDICTIONS = "PREDICTIONS"
    HORSES = "HORSES"
    JOCKEYS = "JOCKEYS"
    TRAINERS = "TRAINERS"

    def file_name(self, export_format: ExportFormat) -> str:
        return self.value.lower() + export_format.suffix


ALL_TABLES = tuple(ExportTable)


@dataclass(frozen=True, slots=True)
class ExportParams:
    date_from: date
    date_to: date
    meets: tuple[int, ...] = ALL_MEETS
    format: ExportFormat = ExportFormat.PARQUET
    tables: tuple[ExportTable, ...] = ALL_TABLES

    def to_json(self) -> dict[str, Any]:
        return {
            "dateFrom": format_race_date(self.date_from),
            "dateTo": format_race_date(self.date_to),
            "meets": list(self.meets),
            "format": self.format.value,
            "tables": [table.value for table in self.tables],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportParams:
        return cls(
            date_from=parse_race_date(data["dateFrom"], field="dateFrom"),
            date_to=parse_race_date(data["dateTo"], field="dateTo"),
            meets=tuple(int(meet) for meet in data.get("meets") or ALL_MEETS),
            format=ExportFormat(data.get("format", ExportFormat.PARQUET)),
            tables=tuple(ExportTable(t) for t in data.get("tables") or ALL_TABLES),
        )


def check_export(
    date_from: str,
    date_to: str,
    meets: list[int] | None,
    export_format: ExportFormat,
    tables: list[ExportTable] | None,
    *,
    prefix: str = "input",
) -> ExportParams:
    start, end = check_day_range(
        date_from, date_to, most_days=MAX_EXPORT_DAYS, what="an export", prefix=prefix
    )
    chosen_meets = check_meets(meets, field=f"{prefix}.meets")
    chosen_tables = ALL_TABLES if tables is None else tuple(tables)
    if not chosen_tables:
        raise BadUserInput(
            "give at least one table, or leave it out for all", field=f"{prefix}.tables"
        )
    if len(set(chosen_tables)) != len(chosen_tables):
        raise BadUserInput("tables must not repeat", field=f"{prefix}.tables")
    return ExportParams(
        date_from=start,
        date_to=end,
        meets=chosen_meets,
        format=export_format,
        # In the declared order, so files and manifest do not depend on how they were asked.
        tables=tuple(table for table in ALL_TABLES if table in chosen_tables),
    )
