"""Keyset cursors: what they hold, what they refuse, and where the next page starts."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import column

from kra_graphql.errors import BadUserInput
from kra_graphql.pagination import Key, Keyset

ORDER = Keyset(
    Key(column("day"), descending=True, parse=date.fromisoformat),
    Key(column("number"), parse=int),
)


class Row:
    day = date(2025, 5, 3)
    number = 7


def test_a_cursor_reads_back_as_the_keys_of_its_row() -> None:
    assert ORDER.decode(ORDER.cursor_of(Row())) == [date(2025, 5, 3), 7]


@pytest.mark.parametrize("cursor", ["", "!!", ORDER.cursor("2025-05-03"), ORDER.cursor("x", 1)])
def test_anything_else_is_bad_input_on_after(cursor: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        ORDER.decode(cursor)
    assert refused.value.field == "after"


def test_the_next_page_starts_after_the_keys_in_their_directions() -> None:
    after = ORDER.after([date(2025, 5, 3), 7])
    assert str(after) == "day < :day_1 OR day = :day_2 AND number > :number_1"
    assert [str(term) for term in ORDER.order_by()] == ["day DESC", "number"]
