"""GraphQL objects that are views of their rows read what they do not set from the row."""

from __future__ import annotations

from datetime import date

from kra_graphql.graphql.rowview import row_attribute
from kra_graphql.graphql.types import CollectionStatus, Horse, Race
from kra_graphql.races.models import Horse as HorseModel
from kra_graphql.races.queries import _row_type


def _horse_row(**values: object) -> HorseModel:
    row_type = _row_type(HorseModel)
    fields = dict.fromkeys(row_type._fields)
    fields.update(horse_no="0051228", name="말", birth_date=date(2020, 3, 4), **values)
    row: HorseModel = row_type(**fields)
    return row


def test_a_view_reads_its_row_and_keeps_its_own_values() -> None:
    horse = Horse(_horse_row(prize_total=1200, sire_name="아비"))
    assert horse.name == "말"
    assert horse.sire_name == "아비"
    assert horse.sex is None
    # Its own values differ from the row's: the id, a formatted date, a float.
    assert horse.id == "horse_0051228"
    assert horse.birth_date == "20200304"
    assert horse.prize_total == 1200.0
    assert isinstance(horse.prize_total, float)


def test_a_view_without_a_row_has_no_attributes() -> None:
    empty = Horse.__new__(Horse)
    assert not hasattr(empty, "name")
    assert not hasattr(empty, "row")


def test_plans_read_row_columns_from_the_row_and_own_values_from_the_object() -> None:
    assert row_attribute(Horse, "name") == "row.name"
    assert row_attribute(Horse, "birth_date") == "birth_date"
    assert row_attribute(Race, "date") == "date"  # formatted: the view's own value
    assert row_attribute(CollectionStatus, "date") == "date"  # not a view: its values are its own
