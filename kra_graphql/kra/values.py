"""Lenient readers for single KRA field values.

The API mixes JSON types for the same field (`"0051228"` next to `1411530`), uses `"-"`
for "unknown" and packs several facts into one string (`"488(-6)"`). Each reader returns
None for anything it cannot read and never raises.
"""

from __future__ import annotations

import math
import re
from datetime import date, time

SENTINELS = frozenset({"", "-", "--", "null", "none", "nan"})

MEET_NAMES: dict[str, int] = {
    "서울": 1,
    "제주": 2,
    "부경": 3,
    "부산경남": 3,
    "부산": 3,
}
MEET_LABELS: dict[int, str] = {1: "서울", 2: "제주", 3: "부경"}

_BODY_WEIGHT = re.compile(r"^(\d+)?\s*(?:\(\s*([+-]?)\s*(\d+)?\s*\))?$")
_HOME_PREFIX = re.compile(r"^\[([^\]]*)\]\s*(.*)$", re.DOTALL)
_MOISTURE = re.compile(r"\(\s*(\d+(?:\.\d+)?)\s*%\s*\)")
_AMOUNT = re.compile(r"^\s*([\d,]+(?:\.\d+)?)\s*(천원|만원|억원|원)")
_AMOUNT_UNITS = {"원": 1, "천원": 1_000, "만원": 10_000, "억원": 100_000_000}
_CLOCK = re.compile(r"^(\d{1,2})[:시]?\s*(\d{2})(?:[:분]?\s*(\d{2}))?")


def text(value: object) -> str | None:
    """A trimmed string; None for sentinels, containers and booleans."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped.lower() in SENTINELS else stripped
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    return None


def number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        cleaned = value.strip().replace(",", "")
        if cleaned.lower() in SENTINELS:
            return None
        try:
            result = float(cleaned)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def integer(value: object) -> int | None:
    """Whole numbers only: `12`, `"12"`, `12.0`, `"+3"`; `53.5` is not one."""
    result = number(value)
    if result is None or not result.is_integer():
        return None
    return int(result)


def positive_number(value: object) -> float | None:
    """KRA writes 0 for "not published" in odds, times and weights."""
    result = number(value)
    return result if result is not None and result > 0 else None


def positive_integer(value: object) -> int | None:
    result = integer(value)
    return result if result is not None and result > 0 else None


def identifier(value: object, width: int) -> str | None:
    """Digits, zero-padded to `width` as the API prints them when they start with 0."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return str(value).zfill(width) if value >= 0 else None
    if isinstance(value, str):
        stripped = value.strip()
        return stripped.zfill(width) if stripped.isdigit() and stripped.isascii() else None
    return None


def yyyymmdd(value: object) -> date | None:
    """`20250503`, `"20250503"` or `"2025-05-03"`; None for `"-"`, 0 and impossible dates."""
    if isinstance(value, date):
        return value
    raw = text(value)
    if raw is None:
        return None
    digits = raw.replace("-", "").replace(".", "").replace("/", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def meet_code(value: object) -> int | None:
    """1, "1", "서울" -> 1; "제주" -> 2; "부경", "부산경남" -> 3."""
    number_value = integer(value) if not isinstance(value, str) else None
    if number_value is not None:
        return number_value if number_value in MEET_LABELS else None
    raw = text(value)
    if raw is None:
        return None
    if raw.isdigit():
        return int(raw) if int(raw) in MEET_LABELS else None
    if raw in MEET_NAMES:
        return MEET_NAMES[raw]
    for name, code in MEET_NAMES.items():
        if raw.startswith(name):
            return code
    return None


def body_weight(value: object) -> tuple[int | None, int | None]:
    """`"488(-6)"` -> (488, -6); `"499()"` -> (499, None); `"()"`, `"0()"` -> (None, None)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        weight = positive_integer(value)
        return weight, None
    if not isinstance(value, str):
        return None, None
    match = _BODY_WEIGHT.match(value.strip())
    if match is None:
        return None, None
    weight_text, sign, change_text = match.groups()
    weight = int(weight_text) if weight_text else None
    if not weight:
        # A change without a weight is meaningless ("0()" before weights are announced).
        return None, None
    change = None
    if change_text is not None:
        change = -int(change_text) if sign == "-" else int(change_text)
    return weight, change


def split_home_meet(name: object) -> tuple[str | None, int | None]:
    """`"[부산경남]오아시스블루"` -> ("오아시스블루", 3); names without a meet prefix unchanged."""
    raw = text(name)
    if raw is None:
        return None, None
    match = _HOME_PREFIX.match(raw)
    if match is None:
        return raw, None
    home = meet_code(match.group(1))
    if home is None:
        return raw, None
    rest = match.group(2).strip()
    return (rest or None), home


def track(value: object) -> tuple[str | None, int | None]:
    """`"건조 (2%)"` -> ("건조 (2%)", 2); the pre-race `" (0%)"` and `""` -> (None, None)."""
    raw = text(value)
    if raw is None:
        return None, None
    condition = _MOISTURE.sub("", raw).strip()
    if not condition:
        return None, None
    match = _MOISTURE.search(raw)
    moisture = round(float(match.group(1))) if match else None
    return raw, moisture


def clock(value: object) -> time | None:
    """Start times as `1035`, `"1035"`, `"10:35"` or `"10:35:00"`."""
    raw = text(value)
    if raw is None:
        return None
    if raw.isdigit() and len(raw) in (3, 4):
        raw = raw.zfill(4)
        raw = f"{raw[:2]}:{raw[2:]}"
    match = _CLOCK.match(raw)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3)) if match.group(3) else 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def amount_krw(value: object) -> int | None:
    """`"30,000천원(경매)"` -> 30_000_000; `"자가생산"` (home-bred) -> None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return integer(value)
    raw = text(value)
    if raw is None:
        return None
    match = _AMOUNT.match(raw)
    if match is None:
        return None
    amount = number(match.group(1))
    if amount is None:
        return None
    return round(amount * _AMOUNT_UNITS[match.group(2)])
