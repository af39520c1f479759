"""Race dates travel as YYYYMMDD (the KRA convention); ISO dates are accepted too."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from kra_graphql.errors import BadUserInput


def parse_race_date(value: str, *, field: str) -> date:
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text)
    except ValueError:
        raise BadUserInput(f"'{value}' is not a real calendar date", field=field) from None
    raise BadUserInput(f"'{value}' is not a date (use YYYYMMDD or YYYY-MM-DD)", field=field)


def format_race_date(value: date) -> str:
    return value.strftime("%Y%m%d")


SEOUL = ZoneInfo("Asia/Seoul")


def seoul_today() -> date:
    """Race days are local calendar days in Korea."""
    return datetime.now(SEOUL).date()


def parse_date_range(
    date_from: str | None, date_to: str | None, *, field: str
) -> tuple[date | None, date | None]:
    """An optional inclusive range; `field` is the object holding dateFrom and dateTo."""
    start = parse_race_date(date_from, field=f"{field}.dateFrom") if date_from else None
    end = parse_race_date(date_to, field=f"{field}.dateTo") if date_to else None
    if start and end and start > end:
        raise BadUserInput("dateFrom is after dateTo", field=f"{field}.dateFrom")
    return start, end
