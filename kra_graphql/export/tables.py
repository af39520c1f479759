"""Each exported table: its columns with their Arrow types, and the query that reads it.

Every table is limited to the races of the export's range and meets: entries, results
and predictions of those races, and the horses, jockeys and trainers that ran in them.
Columns are named as in the database, with the race's date, meet and number copied onto
the rows that belong to a race, so each file can be read on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import ColumnElement, Select, Text, cast, func, select
from sqlmodel import col

from kra_graphql.export.params import ExportParams, ExportTable
from kra_graphql.prediction.models import Prediction
from kra_graphql.races.models import Entry, Horse, Jockey, Race, ResultStatus, Trainer

TIMESTAMP = pa.timestamp("us", tz="UTC")
DATE = pa.date32()
TEXT = pa.string()
INT = pa.int32()
BIG = pa.int64()
FLOAT = pa.float64()
BOOL = pa.bool_()
# A model's column as `col()` gives it (typed as Mapped) or any SQL expression.
Sql = Any


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    expression: Sql


@dataclass(frozen=True, slots=True)
class TableSpec:
    table: ExportTable
    columns: tuple[Column, ...]
    # One stable order, so the same data gives the same file (and sha256).
    order_by: tuple[Sql, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=True) for c in self.columns])

    def query(self, params: ExportParams) -> Select[Any]:
        statement = select(*(c.expression.label(c.name) for c in self.columns))
        return self._filtered(statement, params).order_by(*self.order_by)

    def count(self, params: ExportParams) -> Select[Any]:
        return self._filtered(select(func.count()), params)

    def _filtered(self, statement: Select[Any], params: ExportParams) -> Select[Any]:
        if self.table is ExportTable.RACES:
            return statement.select_from(Race).where(*_in_range(params))
        if self.table in PEOPLE:
            model, key, entry_key = PEOPLE[self.table]
            ran = (
                select(entry_key)
                .join(Race, col(Race.id) == col(Entry.race_id))
                .where(*_in_range(params))
            )
            return statement.select_from(model).where(key.in_(ran))
        source = Prediction if self.table is ExportTable.PREDICTIONS else Entry
        statement = statement.select_from(source).join(Race, col(Race.id) == col(source.race_id))
        statement = statement.where(*_in_range(params))
        if self.table is ExportTable.RESULTS:
            statement = statement.where(col(Race.result_status) == ResultStatus.RESULTED)
        return statement


def _in_range(params: ExportParams) -> list[ColumnElement[bool]]:
    return [
        col(Race.race_date) >= params.date_from,
        col(Race.race_date) <= params.date_to,
        col(Race.meet).in_(params.meets),
    ]


def _c(name: str, type_: pa.DataType, expression: Any) -> Column:
    return Column(name, type_, col(expression))


RACE_KEY = (
    _c("race_id", TEXT, Race.id),
    _c("race_date", DATE, Race.race_date),
    _c("meet", INT, Race.meet),
    _c("race_number", INT, Race.race_number),
)

CAREER = (
    ("starts_total", INT), ("wins_total", INT), ("seconds_total", INT), ("thirds_total", INT),
    ("starts_year", INT), ("wins_year", INT), ("seconds_year", INT), ("thirds_year", INT),
)  # fmt: skip


def _career(model: Any) -> tuple[Column, ...]:
    return (
        *(_c(name, type_, getattr(model, name)) for name, type_ in CAREER),
        _c("details_fetched_at", TIMESTAMP, model.details_fetched_at),
    )


SPECS: dict[ExportTable, TableSpec] = {
    spec.table: spec
    for spec in (
        TableSpec(
            ExportTable.RACES,
            (
                _c("id", TEXT, Race.id),
                _c("race_date", DATE, Race.race_date),
                _c("meet", INT, Race.meet),
                _c("race_number", INT, Race.race_number),
                _c("name", TEXT, Race.name),
                _c("distance", INT, Race.distance),
                _c("race_class", TEXT, Race.race_class),
                _c("age_condition", TEXT, Race.age_condition),
                _c("prize_condition", TEXT, Race.prize_condition),
                _c("track_condition", TEXT, Race.track_condition),
                _c("weather", TEXT, Race.weather),
                _c("collection_status", TEXT, Race.collection_status),
                _c("enrichment_status", TEXT, Race.enrichment_status),
                _c("result_status", TEXT, Race.result_status),
                _c("quality_score", FLOAT, Race.quality_score),
                _c("collected_at", TIMESTAMP, Race.collected_at),
                _c("enriched_at", TIMESTAMP, Race.enriched_at),
                _c("resulted_at", TIMESTAMP, Race.resulted_at),
            ),
            (col(Race.race_date), col(Race.meet), col(Race.race_number)),
        ),
        TableSpec(
            ExportTable.ENTRIES,
            (
                *RACE_KEY,
                _c("gate_number", INT, Entry.gate_number),
                _c("horse_no", TEXT, Entry.horse_no),
                _c("horse_name", TEXT, Entry.horse_name),
                _c("jockey_no", TEXT, Entry.jockey_no),
                _c("trainer_no", TEXT, Entry.trainer_no),
                _c("owner_no", TEXT, Entry.owner_no),
                _c("owner_name", TEXT, Entry.owner_name),
                _c("age", INT, Entry.age),
                _c("sex", TEXT, Entry.sex),
                _c("horse_class", TEXT, Entry.horse_class),
                _c("carried_weight", FLOAT, Entry.carried_weight),
                _c("body_weight", INT, Entry.body_weight),
                _c("body_weight_change", INT, Entry.body_weight_change),
                _c("rating", INT, Entry.rating),
                _c("win_odds", FLOAT, Entry.win_odds),
                _c("place_odds", FLOAT, Entry.place_odds),
                _c("scratched", BOOL, Entry.scratched),
            ),
            (col(Race.race_date), col(Race.meet), col(Race.race_number), col(Entry.gate_number)),
        ),
        TableSpec(
            ExportTable.RESULTS,
            (
                *RACE_KEY,
                _c("gate_number", INT, Entry.gate_number),
                _c("horse_no", TEXT, Entry.horse_no),
                _c("finish_position", INT, Entry.finish_position),
                _c("finish_code", INT, Entry.finish_code),
                _c("finish_time", FLOAT, Entry.finish_time),
                _c("margin", TEXT, Entry.margin),
                _c("win_odds", FLOAT, Entry.win_odds),
                _c("place_odds", FLOAT, Entry.place_odds),
                _c("scratched", BOOL, Entry.scratched),
            ),
            (col(Race.race_date), col(Race.meet), col(Race.race_number), col(Entry.gate_number)),
        ),
        TableSpec(
            ExportTable.PREDICTIONS,
            (
                _c("id", BIG, Prediction.id),
                *RACE_KEY,
                _c("prompt_id", TEXT, Prediction.prompt_id),
                _c("run_id", TEXT, Prediction.run_id),
                _c("evaluation_id", BIG, Prediction.evaluation_id),
                _c("first_pick", INT, Prediction.first_pick),
                _c("second_pick", INT, Prediction.second_pick),
                _c("third_pick", INT, Prediction.third_pick),
                _c("confidence", INT, Prediction.confidence),
                # JSON text, {"<gate>": probability}: one column whatever the field size.
                Column("win_probabilities", TEXT, cast(col(Prediction.win_probabilities), Text)),
                _c("deferred", BOOL, Prediction.deferred),
                _c("valid_answer", BOOL, Prediction.valid_answer),
                _c("used_final_odds", BOOL, Prediction.used_final_odds),
                _c("model_version", TEXT, Prediction.model_version),
                _c("execution_ms", INT, Prediction.execution_ms),
                _c("correct_count", INT, Prediction.correct_count),
                _c("created_at", TIMESTAMP, Prediction.created_at),
            ),
            (col(Prediction.id),),
        ),
        TableSpec(
            ExportTable.HORSES,
            (
                _c("horse_no", TEXT, Horse.horse_no),
                _c("name", TEXT, Horse.name),
                _c("sex", TEXT, Horse.sex),
                _c("birth_date", DATE, Horse.birth_date),
                _c("home_meet", INT, Horse.home_meet),
                _c("sire_no", TEXT, Horse.sire_no),
                _c("sire_name", TEXT, Horse.sire_name),
                _c("dam_no", TEXT, Horse.dam_no),
                _c("dam_name", TEXT, Horse.dam_name),
                _c("rating", INT, Horse.rating),
                _c("prize_total", BIG, Horse.prize_total),
                _c("last_price", BIG, Horse.last_price),
                *_career(Horse),
            ),
            (col(Horse.horse_no),),
        ),
        TableSpec(
            ExportTable.JOCKEYS,
            (
                _c("jockey_no", TEXT, Jockey.jockey_no),
                _c("name", TEXT, Jockey.name),
                _c("birth_date", DATE, Jockey.birth_date),
                _c("debut_date", DATE, Jockey.debut_date),
                _c("affiliation", TEXT, Jockey.affiliation),
                _c("home_meet", INT, Jockey.home_meet),
                *_career(Jockey),
            ),
            (col(Jockey.jockey_no),),
        ),
        TableSpec(
            ExportTable.TRAINERS,
            (
                _c("trainer_no", TEXT, Trainer.trainer_no),
                _c("name", TEXT, Trainer.name),
                _c("home_meet", INT, Trainer.home_meet),
                _c("affiliation", TEXT, Trainer.affiliation),
                _c("start_date", DATE, Trainer.start_date),
                _c("win_rate_total", FLOAT, Trainer.win_rate_total),
                _c("place_rate_total", FLOAT, Trainer.place_rate_total),
                *_career(Trainer),
            ),
            (col(Trainer.trainer_no),),
        ),
    )
}

# People are those who ran in the export's races: model, its key, the entry's column.
PEOPLE: dict[ExportTable, tuple[Any, Sql, Sql]] = {
    ExportTable.HORSES: (Horse, col(Horse.horse_no), col(Entry.horse_no)),
    ExportTable.JOCKEYS: (Jockey, col(Jockey.jockey_no), col(Entry.jockey_no)),
    ExportTable.TRAINERS: (Trainer, col(Trainer.trainer_no), col(Entry.trainer_no)),
}
