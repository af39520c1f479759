"""Typed records parsed from KRA envelopes, in the application's own vocabulary.

Only this package knows the KRA field names. Every record keeps the untouched item(s) in
`raw` for audit; `raw` takes no part in equality or hashing.

Meets: 1 Seoul (서울), 2 Jeju (제주), 3 Busan-Gyeongnam (부경 / 부산경남).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

SEOUL = 1
JEJU = 2
BUSAN_GYEONGNAM = 3

# Non-finishing codes in the finish position field. The recorded material does not define
# them; 93-95 come with zero odds (the runner did not start), 92 and 99 with odds.
NOT_STARTED_CODES = frozenset({93, 94, 95})
FIRST_CODE = 90


@dataclass(frozen=True, slots=True, kw_only=True)
class Runner:
    """One horse in one race: the entry and, once published, its result."""

    race_date: date
    meet: int
    race_number: int
    gate_number: int
    horse_no: str
    horse_name: str | None
    # Home meet of a horse running away from home, from a name prefix like "[부산경남]".
    visiting_from_meet: int | None = None
    jockey_no: str | None = None
    jockey_name: str | None = None
    trainer_no: str | None = None
    trainer_name: str | None = None
    owner_no: str | None = None
    owner_name: str | None = None
    age: int | None = None
    sex: str | None = None
    horse_class: str | None = None
    carried_weight: float | None = None
    body_weight: int | None = None
    body_weight_change: int | None = None
    # 0 in the source means "no rating yet" and becomes None.
    rating: int | None = None
    # Odds of 0 mean "not published" (pre-race, or the runner did not start).
    win_odds: float | None = None
    place_odds: float | None = None
    finish_position: int | None = None
    finish_code: int | None = None
    finish_time: float | None = None
    margin: str | None = None
    scratched: bool = False
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Race:
    """One race with its runners ordered by gate number."""

    race_date: date
    meet: int
    race_number: int
    name: str | None = None
    distance: int | None = None
    race_class: str | None = None
    age_condition: str | None = None
    prize_condition: str | None = None
    # As published, e.g. "건조 (2%)"; None while unknown (the pre-race " (0%)").
    track_condition: str | None = None
    track_moisture_pct: int | None = None
    weather: str | None = None
    runners: tuple[Runner, ...] = ()
    # At least one runner has a finish position.
    has_results: bool = False
    # The result is out but no runner was placed (every starter coded, e.g. 99 in fog).
    finished_without_placings: bool = False
    # Data problems found while parsing (an item without a gate number, ...).
    warnings: tuple[str, ...] = ()
    raw_items: tuple[dict[str, Any], ...] = field(default=(), hash=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Career:
    """Career counts that come with a horse's, jockey's or trainer's details."""

    starts_total: int | None = None
    wins_total: int | None = None
    seconds_total: int | None = None
    thirds_total: int | None = None
    starts_year: int | None = None
    wins_year: int | None = None
    seconds_year: int | None = None
    thirds_year: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HorseDetail(Career):
    horse_no: str
    name: str | None = None
    sire_no: str | None = None
    sire_name: str | None = None
    dam_no: str | None = None
    dam_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    home_meet: int | None = None
    origin: str | None = None
    horse_class: str | None = None
    owner_no: str | None = None
    owner_name: str | None = None
    trainer_no: str | None = None
    trainer_name: str | None = None
    # Career prize money in KRW.
    prize_total: int | None = None
    rating: int | None = None
    # As published, e.g. "30,000천원(경매)" or "자가생산"; the amount in KRW when it has one.
    last_price: str | None = None
    last_price_krw: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class JockeyDetail(Career):
    jockey_no: str
    name: str | None = None
    birth_date: date | None = None
    age: int | None = None
    home_meet: int | None = None
    affiliation: str | None = None
    debut_date: date | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainerDetail(Career):
    trainer_no: str
    name: str | None = None
    birth_date: date | None = None
    age: int | None = None
    home_meet: int | None = None
    affiliation: str | None = None
    start_date: date | None = None
    # Percentages as published (12 means 12 %).
    win_rate_total: float | None = None
    place_rate_total: float | None = None
    quinella_rate_total: float | None = None
    win_rate_year: float | None = None
    place_rate_year: float | None = None
    quinella_rate_year: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RacePlanEntry:
    """One scheduled race from the race plan."""

    race_date: date
    meet: int
    race_number: int
    name: str | None = None
    distance: int | None = None
    race_class: str | None = None
    age_condition: str | None = None
    prize_condition: str | None = None
    start_time: time | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scratching:
    """A runner withdrawn before its race."""

    race_date: date
    meet: int
    race_number: int
    gate_number: int | None = None
    horse_no: str | None = None
    horse_name: str | None = None
    reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
