"""Single-field readers: every value shape seen in the recorded data, and garbage."""

from __future__ import annotations

from datetime import date, time

import pytest

from kra_graphql.kra import values as v


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("488(-6)", (488, -6)),
        ("486(+11)", (486, 11)),
        ("499()", (499, None)),
        ("()", (None, None)),
        ("0()", (None, None)),
        ("510(0)", (510, 0)),
        ("510", (510, None)),
        (" 470( -15 ) ", (470, -15)),
        (512, (512, None)),
        ("", (None, None)),
        ("abc", (None, None)),
        (None, (None, None)),
        ({"x": 1}, (None, None)),
    ],
)
def test_body_weight(raw: object, expected: tuple[int | None, int | None]) -> None:
    assert v.body_weight(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("서울", 1),
        ("제주", 2),
        ("부경", 3),
        ("부산경남", 3),
        (1, 1),
        ("3", 3),
        (2.0, 2),
        (7, None),
        ("영천", None),
        ("-", None),
        (None, None),
        (True, None),
    ],
)
def test_meet_code(raw: object, expected: int | None) -> None:
    assert v.meet_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "width", "expected"),
    [
        ("0051228", 7, "0051228"),
        (1411530, 7, "1411530"),
        (51228, 7, "0051228"),
        ("080405", 6, "080405"),
        (80405, 6, "080405"),
        (118011.0, 6, "118011"),
        ("-", 7, None),
        ("H123", 7, None),
        (-5, 7, None),
        (True, 7, None),
        (None, 7, None),
    ],
)
def test_identifier(raw: object, width: int, expected: str | None) -> None:
    assert v.identifier(raw, width) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (20250503, date(2025, 5, 3)),
        ("20250503", date(2025, 5, 3)),
        ("2025-05-03", date(2025, 5, 3)),
        ("-", None),
        (0, None),
        (20251341, None),
        ("2025053", None),
    ],
)
def test_yyyymmdd(raw: object, expected: date | None) -> None:
    assert v.yyyymmdd(raw) == expected


def test_numbers_read_ints_floats_and_strings_and_nothing_else() -> None:
    assert v.number(53.5) == 53.5
    assert v.number("1,200") == 1200.0
    assert v.number(float("nan")) is None
    assert v.number("-") is None
    assert v.number([1]) is None
    assert v.integer(55) == 55
    assert v.integer(53.5) is None
    assert v.integer("+3") == 3
    assert v.integer(False) is None
    assert v.positive_number(0) is None
    assert v.positive_number(7.1) == 7.1
    assert v.positive_integer("0") is None


def test_text_drops_sentinels_and_keeps_numbers_as_text() -> None:
    assert v.text("  포화 (18%) ") == "포화 (18%)"
    assert v.text("-") is None
    assert v.text("") is None
    assert v.text(15) == "15"
    assert v.text(7.0) == "7"
    assert v.text({"a": 1}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[부산경남]오아시스블루", ("오아시스블루", 3)),
        ("[서울]라이징모", ("라이징모", 1)),
        ("[제주] 한라", ("한라", 2)),
        ("최강스피드", ("최강스피드", None)),
        ("[미국]스타", ("[미국]스타", None)),
        ("-", (None, None)),
    ],
)
def test_split_home_meet(raw: object, expected: tuple[str | None, int | None]) -> None:
    assert v.split_home_meet(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("건조 (2%)", ("건조 (2%)", 2)),
        ("포화 (18%)", ("포화 (18%)", 18)),
        (" (0%)", (None, None)),
        ("", (None, None)),
        ("양호", ("양호", None)),
    ],
)
def test_track(raw: object, expected: tuple[str | None, int | None]) -> None:
    assert v.track(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1035, time(10, 35)),
        ("935", time(9, 35)),
        ("16:40", time(16, 40)),
        ("16:40:30", time(16, 40, 30)),
        ("2575", None),
        ("-", None),
    ],
)
def test_clock(raw: object, expected: time | None) -> None:
    assert v.clock(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30,000천원(경매)", 30_000_000),
        ("67,946천원(개별)", 67_946_000),
        ("자가생산", None),
        ("-", None),
        (1500000, 1_500_000),
    ],
)
def test_amount_krw(raw: object, expected: int | None) -> None:
    assert v.amount_krw(raw) == expected
