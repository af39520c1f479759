"""The input of `exportDataset`."""

from __future__ import annotations

import strawberry

from kra_graphql.export.params import (
    MAX_EXPORT_DAYS,
    ExportFormat,
    ExportParams,
    ExportTable,
    check_export,
)

strawberry.enum(ExportFormat, description="PARQUET (typed columns) or CSV (UTF-8, a header row).")
strawberry.enum(ExportTable, description="A table of an export: one file each.")


@strawberry.input(
    description=f"Races of a range (at most {MAX_EXPORT_DAYS} days) and what belongs to them, "
    "as one file per table and a manifest."
)
class ExportDatasetInput:
    date_from: str = strawberry.field(description="First day, inclusive, YYYYMMDD or ISO.")
    date_to: str = strawberry.field(description="Last day, inclusive.")
    meets: list[int] | None = strawberry.field(
        default=None, description="1 (Seoul), 2 (Jeju), 3 (Busan-Gyeongnam); all when omitted."
    )
    format: ExportFormat = strawberry.field(default=ExportFormat.PARQUET)
    tables: list[ExportTable] | None = strawberry.field(
        default=None, description="The files to write; all tables when omitted."
    )

    def to_params(self) -> ExportParams:
        return check_export(self.date_from, self.date_to, self.meets, self.format, self.tables)
