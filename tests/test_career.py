"""Career figures are declared once per layer: the parsed record and the table agree."""

from __future__ import annotations

from dataclasses import fields

from kra_graphql.kra.records import Career
from kra_graphql.races.models import CAREER_COUNTS


def test_parsed_details_carry_every_career_column() -> None:
    assert tuple(field.name for field in fields(Career)) == CAREER_COUNTS
