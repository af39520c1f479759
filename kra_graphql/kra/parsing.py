"""Pure functions from decoded KRA envelopes to records.

An envelope looks like
`{"response": {"header": {"resultCode", "resultMsg"}, "body": {"items": {"item": ...},
"numOfRows", "pageNo", "totalCount"}}}` where `item` is a list, a single object when
exactly one item matches, or missing / `""` when nothing does.

A value that cannot be read becomes None and never raises; only an envelope whose
structure is broken raises `KraMalformedResponse`. Unknown fields stay in `raw`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from kra_graphql.kra import values as v
from kra_graphql.kra.errors import (
    RESULT_CODE_NAMES,
    KraError,
    KraMalformedResponse,
    KraNoData,
    error_for_result_code,
)
from kra_graphql.kra.records import (
    FIRST_CODE,
    NOT_STARTED_CODES,
    HorseDetail,
    JockeyDetail,
    Race,
    RacePlanEntry,
    Runner,
    Scratching,
    TrainerDetail,
)

Item = dict[str, Any]
T = TypeVar("T")

HORSE_NO_WIDTH = 7
PERSON_NO_WIDTH = 6


@dataclass(frozen=True, slots=True)
class Page:
    """One page of an envelope."""

    items: tuple[Item, ...]
    total_count: int | None
    page_no: int | None
    num_of_rows: int | None


# --- envelopes -----------------------------------------------------------------------------


def read_page(payload: object, *, endpoint: str | None = None) -> Page:
    """Check the result code and return the page's items.

    Raises `KraNoData` for resultCode 03, the mapped `KraError` for other error codes and
    `KraMalformedResponse` when the structure is not an envelope.
    """
    response = _mapping(payload, "response", endpoint)
    header = response.get("header")
    if not isinstance(header, Mapping):
        raise KraMalformedResponse("envelope without a header", endpoint=endpoint)
    code = header.get("resultCode")
    if code is None:
        raise KraMalformedResponse("header without a resultCode", endpoint=endpoint)
    error = error_for_result_code(code, v.text(header.get("resultMsg")), endpoint=endpoint)
    if error is not None:
        raise error
    body = response.get("body")
    if not isinstance(body, Mapping):
        raise KraMalformedResponse("envelope without a body", endpoint=endpoint)
    return Page(
        items=tuple(_items(body.get("items"), endpoint)),
        total_count=v.integer(body.get("totalCount")),
        page_no=v.integer(body.get("pageNo")),
        num_of_rows=v.integer(body.get("numOfRows")),
    )


def envelope_items(payload: object, *, endpoint: str | None = None) -> list[Item]:
    """The items of an envelope as a list, whatever shape `item` has."""
    return list(read_page(payload, endpoint=endpoint).items)


def _mapping(payload: object, key: str, endpoint: str | None) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise KraMalformedResponse("envelope is not a JSON object", endpoint=endpoint)
    inner = payload.get(key)
    if not isinstance(inner, Mapping):
        raise KraMalformedResponse(f"envelope without {key!r}", endpoint=endpoint)
    return inner


def _items(items: object, endpoint: str | None) -> list[Item]:
    if items is None or items == "" or items == [] or items == {}:
        return []
    if not isinstance(items, Mapping):
        raise KraMalformedResponse("'items' is neither an object nor empty", endpoint=endpoint)
    item = items.get("item")
    if item is None or item == "":
        return []
    entries = [item] if isinstance(item, Mapping) else item
    if not isinstance(entries, list):
        raise KraMalformedResponse("'item' is neither an object nor a list", endpoint=endpoint)
    result: list[Item] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise KraMalformedResponse("an item is not an object", endpoint=endpoint)
        result.append(dict(entry))
    return result


_XML_TAG = "<{0}>\\s*([^<]*?)\\s*</{0}>"


def _xml_value(body: str, tag: str) -> str | None:
    match = re.search(_XML_TAG.format(tag), body)
    return match.group(1) if match else None


def gateway_error(body: str, *, endpoint: str | None = None) -> KraError | None:
    """The error in a non-JSON answer, if it carries one.

    The data.go.kr gateway answers key and quota problems with an XML
    `OpenAPI_ServiceResponse` (`returnReasonCode`, `returnAuthMsg`) even when JSON was
    asked for; some services answer errors in their XML envelope or as bare text.
    """
    for code_tag, message_tag in (
        ("returnReasonCode", "returnAuthMsg"),
        ("resultCode", "resultMsg"),
    ):
        code = _xml_value(body, code_tag)
        if code is not None:
            message = _xml_value(body, message_tag) or _xml_value(body, "errMsg")
            return error_for_result_code(code, message, endpoint=endpoint)
    for number, name in RESULT_CODE_NAMES.items():
        if number and name in body:
            return error_for_result_code(number, name, endpoint=endpoint)
    return None


# --- races ---------------------------------------------------------------------------------

RaceKey = tuple[date, int, int]


def _race_key(
    item: Mapping[str, Any],
    race_date: date | None,
    meet: int | None,
    race_number: int | None,
) -> RaceKey | None:
    key_date = v.yyyymmdd(item.get("rcDate")) or race_date
    key_meet = v.meet_code(item.get("meet")) or meet
    key_number = v.positive_integer(item.get("rcNo")) or race_number
    if key_date is None or key_meet is None or key_number is None:
        return None
    return key_date, key_meet, key_number


def runner_from_item(item: Mapping[str, Any], key: RaceKey) -> Runner | None:
    """One runner; None when the item has no gate number or horse number."""
    gate = v.positive_integer(item.get("chulNo"))
    horse_no = v.identifier(item.get("hrNo"), HORSE_NO_WIDTH)
    if gate is None or horse_no is None:
        return None
    name, visiting_from = v.split_home_meet(item.get("hrName"))
    weight, weight_change = v.body_weight(item.get("wgHr"))
    win_odds = v.positive_number(item.get("winOdds"))
    place_odds = v.positive_number(item.get("plcOdds"))
    code = v.integer(item.get("ord"))
    finish_position = code if code is not None and 0 < code < FIRST_CODE else None
    finish_code = code if code is not None and code >= FIRST_CODE else None
    return Runner(
        race_date=key[0],
        meet=key[1],
        race_number=key[2],
        gate_number=gate,
        horse_no=horse_no,
        horse_name=name,
        visiting_from_meet=visiting_from,
        jockey_no=v.identifier(item.get("jkNo"), PERSON_NO_WIDTH),
        jockey_name=v.text(item.get("jkName")),
        trainer_no=v.identifier(item.get("trNo"), PERSON_NO_WIDTH),
        trainer_name=v.text(item.get("trName")),
        owner_no=v.identifier(item.get("owNo"), PERSON_NO_WIDTH),
        owner_name=v.text(item.get("owName")),
        age=v.positive_integer(item.get("age")),
        sex=v.text(item.get("sex")),
        horse_class=v.text(item.get("rank")),
        carried_weight=v.positive_number(item.get("wgBudam")),
        body_weight=weight,
        body_weight_change=weight_change,
        rating=v.positive_integer(item.get("rating")),
        win_odds=win_odds,
        place_odds=place_odds,
        finish_position=finish_position,
        finish_code=finish_code,
        finish_time=v.positive_number(item.get("rcTime")),
        margin=v.text(item.get("diffUnit")),
        scratched=(finish_code in NOT_STARTED_CODES and win_odds is None and place_odds is None),
        raw=dict(item),
    )


def _mode(
    items: Iterable[Mapping[str, Any]], field: str, read: Callable[[object], T | None]
) -> T | None:
    """The most common readable value of a race-level field repeated on every item.

    A single damaged item (see the fixture repairs) cannot outvote the others.
    """
    counts: Counter[T] = Counter()
    for item in items:
        value = read(item.get(field))
        if value is not None:
            counts[value] += 1
    return counts.most_common(1)[0][0] if counts else None


def _track(value: object) -> tuple[str | None, int | None] | None:
    condition, moisture = v.track(value)
    return None if condition is None else (condition, moisture)


def _build_race(key: RaceKey, items: Sequence[Mapping[str, Any]]) -> Race:
    warnings: list[str] = []
    by_gate: dict[int, Runner] = {}
    for index, item in enumerate(items):
        runner = runner_from_item(item, key)
        if runner is None:
            warnings.append(f"item {index} has no readable gate or horse number; skipped")
            continue
        if runner.gate_number in by_gate:
            warnings.append(f"gate {runner.gate_number} appears twice; kept the first")
            continue
        by_gate[runner.gate_number] = runner
    runners = tuple(by_gate[gate] for gate in sorted(by_gate))
    has_results = any(r.finish_position is not None for r in runners)
    coded = any(r.finish_code is not None and not r.scratched for r in runners)
    track_value = _mode(items, "track", _track)
    return Race(
        race_date=key[0],
        meet=key[1],
        race_number=key[2],
        name=_mode(items, "rcName", v.text),
        distance=_mode(items, "rcDist", v.positive_integer),
        race_class=_mode(items, "rank", v.text),
        age_condition=_mode(items, "ageCond", v.text),
        prize_condition=_mode(items, "prizeCond", v.text),
        track_condition=track_value[0] if track_value else None,
        track_moisture_pct=track_value[1] if track_value else None,
        weather=_mode(items, "weather", v.text),
        runners=runners,
        has_results=has_results,
        finished_without_placings=not has_results and coded,
        warnings=tuple(warnings),
        raw_items=tuple(dict(item) for item in items),
    )


def races_from_items(
    items: Iterable[Mapping[str, Any]],
    *,
    race_date: date | None = None,
    meet: int | None = None,
    race_number: int | None = None,
) -> list[Race]:
    """Group RaceDetailResult items by race, ordered by date, meet and race number.

    The keyword arguments fill in for items that lack a date, meet or race number; items
    that name a different date, meet or race than the ones given are left out.
    """
    groups: dict[RaceKey, list[Mapping[str, Any]]] = {}
    for item in items:
        key = _race_key(item, race_date, meet, race_number)
        if key is None:
            continue
        wanted = (race_date, meet, race_number)
        if any(want is not None and want != got for want, got in zip(wanted, key, strict=True)):
            continue
        groups.setdefault(key, []).append(item)
    return [_build_race(key, groups[key]) for key in sorted(groups)]


def race_from_items(
    items: Iterable[Mapping[str, Any]],
    *,
    race_date: date | None = None,
    meet: int | None = None,
    race_number: int | None = None,
) -> Race | None:
    """The one race in the items (the first, if the answer held several)."""
    races = races_from_items(items, race_date=race_date, meet=meet, race_number=race_number)
    return races[0] if races else None


def parse_race(
    payload: object,
    *,
    race_date: date | None = None,
    meet: int | None = None,
    race_number: int | None = None,
) -> Race | None:
    """A RaceDetailResult_1 envelope as a race; None when it holds no data."""
    try:
        items = envelope_items(payload)
    except KraNoData:
        return None
    return race_from_items(items, race_date=race_date, meet=meet, race_number=race_number)


def parse_races(
    payload: object, *, race_date: date | None = None, meet: int | None = None
) -> list[Race]:
    try:
        items = envelope_items(payload)
    except KraNoData:
        return []
    return races_from_items(items, race_date=race_date, meet=meet)


# --- people and horses ---------------------------------------------------------------------


def horse_from_item(item: Mapping[str, Any]) -> HorseDetail | None:
    horse_no = v.identifier(item.get("hrNo"), HORSE_NO_WIDTH)
    if horse_no is None:
        return None
    name, _ = v.split_home_meet(item.get("hrName"))
    return HorseDetail(
        horse_no=horse_no,
        name=name,
        sire_no=v.identifier(item.get("faHrNo"), HORSE_NO_WIDTH),
        sire_name=v.text(item.get("faHrName")),
        dam_no=v.identifier(item.get("moHrNo"), HORSE_NO_WIDTH),
        dam_name=v.text(item.get("moHrName")),
        birth_date=v.yyyymmdd(item.get("birthday")),
        sex=v.text(item.get("sex")),
        home_meet=v.meet_code(item.get("meet")),
        origin=v.text(item.get("name")),
        horse_class=v.text(item.get("rank")),
        owner_no=v.identifier(item.get("owNo"), PERSON_NO_WIDTH),
        owner_name=v.text(item.get("owName")),
        trainer_no=v.identifier(item.get("trNo"), PERSON_NO_WIDTH),
        trainer_name=v.text(item.get("trName")),
        **_career(item),
        prize_total=v.integer(item.get("chaksunT")),
        rating=v.positive_integer(item.get("rating")),
        last_price=v.text(item.get("hrLastAmt")),
        last_price_krw=v.amount_krw(item.get("hrLastAmt")),
        raw=dict(item),
    )


def jockey_from_item(item: Mapping[str, Any]) -> JockeyDetail | None:
    jockey_no = v.identifier(item.get("jkNo"), PERSON_NO_WIDTH)
    if jockey_no is None:
        return None
    return JockeyDetail(
        jockey_no=jockey_no,
        name=v.text(item.get("jkName")),
        birth_date=v.yyyymmdd(item.get("birthday")),
        age=v.positive_integer(item.get("age")),
        home_meet=v.meet_code(item.get("meet")),
        affiliation=v.text(item.get("part")),
        debut_date=v.yyyymmdd(item.get("debut")),
        **_career(item),
        raw=dict(item),
    )


def trainer_from_item(item: Mapping[str, Any]) -> TrainerDetail | None:
    trainer_no = v.identifier(item.get("trNo"), PERSON_NO_WIDTH)
    if trainer_no is None:
        return None
    return TrainerDetail(
        trainer_no=trainer_no,
        name=v.text(item.get("trName")),
        birth_date=v.yyyymmdd(item.get("birthday")),
        age=v.positive_integer(item.get("age")),
        home_meet=v.meet_code(item.get("meet")),
        affiliation=v.text(item.get("part")),
        start_date=v.yyyymmdd(item.get("stDate")),
        **_career(item),
        win_rate_total=v.number(item.get("winRateT")),
        place_rate_total=v.number(item.get("plcRateT")),
        quinella_rate_total=v.number(item.get("qnlRateT")),
        win_rate_year=v.number(item.get("winRateY")),
        place_rate_year=v.number(item.get("plcRateY")),
        quinella_rate_year=v.number(item.get("qnlRateY")),
        raw=dict(item),
    )


# Our career counts (`records.Career`) and the KRA fields they are read from.
_CAREER = {
    "starts_total": "rcCntT",
    "wins_total": "ord1CntT",
    "seconds_total": "ord2CntT",
    "thirds_total": "ord3CntT",
    "starts_year": "rcCntY",
    "wins_year": "ord1CntY",
    "seconds_year": "ord2CntY",
    "thirds_year": "ord3CntY",
}


def _career(item: Mapping[str, Any]) -> dict[str, int | None]:
    return {name: v.integer(item.get(field)) for name, field in _CAREER.items()}


def _pick(
    items: Iterable[Mapping[str, Any]],
    build: Callable[[Mapping[str, Any]], T | None],
    ident: Callable[[T], str],
    wanted: str | None,
) -> T | None:
    """The record for `wanted`, or the first readable one when no id is asked for."""
    for item in items:
        record = build(item)
        if record is not None and (wanted is None or ident(record) == wanted):
            return record
    return None


def horse_from_items(
    items: Iterable[Mapping[str, Any]], horse_no: str | None = None
) -> HorseDetail | None:
    wanted = v.identifier(horse_no, HORSE_NO_WIDTH) if horse_no is not None else None
    return _pick(items, horse_from_item, lambda h: h.horse_no, wanted)


def jockey_from_items(
    items: Iterable[Mapping[str, Any]], jockey_no: str | None = None
) -> JockeyDetail | None:
    wanted = v.identifier(jockey_no, PERSON_NO_WIDTH) if jockey_no is not None else None
    return _pick(items, jockey_from_item, lambda j: j.jockey_no, wanted)


def trainer_from_items(
    items: Iterable[Mapping[str, Any]], trainer_no: str | None = None
) -> TrainerDetail | None:
    wanted = v.identifier(trainer_no, PERSON_NO_WIDTH) if trainer_no is not None else None
    return _pick(items, trainer_from_item, lambda t: t.trainer_no, wanted)


def _detail(payload: object, pick: Callable[[list[Item]], T | None]) -> T | None:
    try:
        items = envelope_items(payload)
    except KraNoData:
        return None
    return pick(items)


def parse_horse(payload: object, horse_no: str | None = None) -> HorseDetail | None:
    """A raceHorseInfo_2 envelope; None when it holds no data (or not that horse)."""
    return _detail(payload, lambda items: horse_from_items(items, horse_no))


def parse_jockey(payload: object, jockey_no: str | None = None) -> JockeyDetail | None:
    return _detail(payload, lambda items: jockey_from_items(items, jockey_no))


def parse_trainer(payload: object, trainer_no: str | None = None) -> TrainerDetail | None:
    return _detail(payload, lambda items: trainer_from_items(items, trainer_no))


# --- race plan and scratchings -------------------------------------------------------------


def plan_entry_from_item(item: Mapping[str, Any]) -> RacePlanEntry | None:
    key = _race_key(item, None, None, None)
    if key is None:
        return None
    return RacePlanEntry(
        race_date=key[0],
        meet=key[1],
        race_number=key[2],
        name=v.text(item.get("rcName")),
        distance=v.positive_integer(item.get("rcDist")),
        race_class=v.text(item.get("rank")),
        age_condition=v.text(item.get("ageCond")),
        prize_condition=v.text(item.get("prizeCond")),
        start_time=v.clock(item.get("schStTime")),
        raw=dict(item),
    )


def plan_from_items(items: Iterable[Mapping[str, Any]]) -> list[RacePlanEntry]:
    entries = (plan_entry_from_item(item) for item in items)
    found = [entry for entry in entries if entry is not None]
    return sorted(found, key=lambda e: (e.race_date, e.meet, e.race_number))


def parse_race_plan(payload: object) -> list[RacePlanEntry]:
    """A racePlan_2 envelope as scheduled races; empty when it holds no data."""
    try:
        return plan_from_items(envelope_items(payload))
    except KraNoData:
        return []


def scratching_from_item(item: Mapping[str, Any]) -> Scratching | None:
    key = _race_key(item, None, None, None)
    if key is None:
        return None
    name, _ = v.split_home_meet(item.get("hrName"))
    return Scratching(
        race_date=key[0],
        meet=key[1],
        race_number=key[2],
        gate_number=v.positive_integer(item.get("chulNo")),
        horse_no=v.identifier(item.get("hrNo"), HORSE_NO_WIDTH),
        horse_name=name,
        reason=v.text(item.get("reason")),
        raw=dict(item),
    )


def scratchings_from_items(items: Iterable[Mapping[str, Any]]) -> list[Scratching]:
    found = [s for s in (scratching_from_item(item) for item in items) if s is not None]
    return sorted(found, key=lambda s: (s.race_date, s.meet, s.race_number, s.gate_number or 0))


def parse_scratchings(payload: object) -> list[Scratching]:
    """A raceHorseCancelInfo_1 envelope; empty when it holds no data."""
    try:
        return scratchings_from_items(envelope_items(payload))
    except KraNoData:
        return []
