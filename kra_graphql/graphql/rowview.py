"""GraphQL objects that are views of one row."""

from __future__ import annotations

from typing import Any, ClassVar


class RowView:
    """A GraphQL object that is a view of one row.

    A field whose value is the row's column of the same name is read from the row when
    the query asks for it; only the values named in `OWN` (ids, formatted dates, an
    entry's people) are set on the object. A page of 200 entries with their horses built
    400 objects of twenty copied values each, a fifth of the page's CPU, and most of
    those values were never asked for. Completion plans read the row's values straight
    from `row` (see `plans.py`); any other reader goes through `__getattr__`.

    Each subclass declares `row` as a private field, sets it in its own `__init__` (which
    takes the place of the generated one) and lists in `OWN` what else it sets."""

    OWN: ClassVar[frozenset[str]] = frozenset()

    def __getattr__(self, name: str) -> Any:
        # Reached only for names the object itself lacks.
        row = self.__dict__.get("row") if not name.startswith("__") else None
        if row is None:
            raise AttributeError(name)
        return getattr(row, name)


def row_attribute(origin: type, attribute: str) -> str:
    """Where a plain field's value is read from: the row for a row's column, the object
    itself otherwise."""
    if isinstance(origin, type) and issubclass(origin, RowView) and attribute not in origin.OWN:
        return f"row.{attribute}"
    return attribute
