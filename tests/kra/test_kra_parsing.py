"""Envelopes and records against the recorded fixture files and their quirks."""

from __future__ import annotations

import copy
from dataclasses import fields
from datetime import date, time
from typing import Any

import pytest

from kra_graphql.kra import parsing
from kra_graphql.kra.errors import (
    KraAuthError,
    KraMalformedResponse,
    KraNoData,
    KraQuotaExceeded,
    KraUpstreamError,
)
from kra_graphql.kra.records import Career, Race

from .conftest import FIXTURES, load_envelope, load_items


def envelope(items: object, code: object = "00", **body: object) -> dict[str, Any]:
    return {
        "response": {
            "header": {"resultCode": code, "resultMsg": "NORMAL SERVICE."},
            "body": {"items": items, "numOfRows": 10, "pageNo": 1, "totalCount": 1, **body},
        }
    }


def race_file(rc_date: str, meet: int, rc_no: int, phase: str = "API214_1") -> Race:
    race = parsing.parse_race(load_envelope(phase, rc_date, str(meet), f"{rc_no}.json"))
    assert race is not None
    return race


# --- envelopes -----------------------------------------------------------------------------


def test_item_as_object_list_or_empty() -> None:
    one = {"hrNo": "0051228"}
    assert parsing.envelope_items(envelope({"item": one})) == [one]
    assert parsing.envelope_items(envelope({"item": [one, one]})) == [one, one]
    assert parsing.envelope_items(envelope("")) == []
    assert parsing.envelope_items(envelope({"item": ""})) == []
    assert parsing.envelope_items(envelope({})) == []
    assert parsing.envelope_items(envelope(None)) == []


def test_page_reads_counts_and_numeric_result_codes() -> None:
    page = parsing.read_page(envelope({"item": {"a": 1}}, code=0, totalCount="12", pageNo=2))
    assert page.items == ({"a": 1},)
    assert (page.total_count, page.page_no, page.num_of_rows) == (12, 2, 10)


@pytest.mark.parametrize(
    ("code", "error", "retryable"),
    [
        ("03", KraNoData, False),
        ("20", KraAuthError, False),
        ("30", KraAuthError, False),
        ("31", KraAuthError, False),
        ("22", KraQuotaExceeded, False),
        ("23", KraQuotaExceeded, True),
        ("99", KraUpstreamError, True),
        ("01", KraUpstreamError, True),
        ("10", KraUpstreamError, False),
        ("12", KraUpstreamError, False),
        ("77", KraUpstreamError, False),
    ],
)
def test_result_codes_raise_typed_errors(
    code: str, error: type[Exception], retryable: bool
) -> None:
    with pytest.raises(error) as caught:
        parsing.read_page(envelope("", code=code))
    assert getattr(caught.value, "retryable") is retryable  # noqa: B009
    assert getattr(caught.value, "code") == code  # noqa: B009


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "NORMAL SERVICE",
        {},
        {"response": "x"},
        {"response": {"body": {}}},
        {"response": {"header": {"resultMsg": "?"}, "body": {}}},
        {"response": {"header": {"resultCode": "00"}}},
        {"response": {"header": {"resultCode": "00"}, "body": {"items": [1]}}},
        {"response": {"header": {"resultCode": "00"}, "body": {"items": {"item": "x1"}}}},
        {"response": {"header": {"resultCode": "00"}, "body": {"items": {"item": [{}, 3]}}}},
    ],
)
def test_broken_envelopes_raise_malformed(payload: object) -> None:
    with pytest.raises(KraMalformedResponse):
        parsing.read_page(payload)


def test_gateway_answers_are_recognised() -> None:
    xml = (
        "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
        "<returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>"
        "<returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>"
    )
    assert isinstance(parsing.gateway_error(xml), KraAuthError)
    quota = "<response><header><resultCode>22</resultCode><resultMsg>LIMITED</resultMsg>"
    assert isinstance(parsing.gateway_error(quota), KraQuotaExceeded)
    assert isinstance(parsing.gateway_error("SERVICE_ACCESS_DENIED_ERROR"), KraAuthError)
    assert parsing.gateway_error("<html>Bad Gateway</html>") is None


# --- every recorded race -------------------------------------------------------------------


def test_every_fixture_race_parses_with_all_runners_in_gate_order() -> None:
    paths = sorted(FIXTURES.glob("API214_1*/*/*/*.json"))
    assert len(paths) == len(load_envelope("manifest.json")["races"])
    for path in paths:
        phase, rc_date, meet = path.parts[-4:-1]
        race = race_file(rc_date, int(meet), int(path.stem), phase)
        items = load_items(phase, rc_date, int(meet), int(path.stem))
        assert race.warnings == ()
        assert [r.gate_number for r in race.runners] == sorted(i["chulNo"] for i in items)
        assert (race.race_date.strftime("%Y%m%d"), race.meet, race.race_number) == (
            rc_date,
            int(meet),
            int(path.stem),
        )
        assert len(race.raw_items) == len(items)
        for runner in race.runners:
            assert runner.horse_no.isdigit()
            assert len(runner.horse_no) == 7


def test_race_fields_and_runner_fields() -> None:
    race = race_file("20250503", 1, 1)
    assert (race.name, race.distance, race.race_class) == ("일반", 1200, "국6등급")
    assert (race.age_condition, race.prize_condition) == ("연령오픈", "R0~0")
    assert (race.track_condition, race.track_moisture_pct, race.weather) == (
        "포화 (18%)",
        18,
        "흐림",
    )
    assert race.has_results
    assert not race.finished_without_placings
    winner = next(r for r in race.runners if r.finish_position == 1)
    assert winner.gate_number == 3
    assert (winner.horse_no, winner.horse_name) == ("0051367", "최강스피드")
    assert (winner.jockey_no, winner.jockey_name) == ("080613", "씨씨웡")
    assert (winner.trainer_no, winner.trainer_name, winner.owner_name) == (
        "070182",
        "전승규",
        "김길리",
    )
    assert (winner.age, winner.sex, winner.horse_class) == (3, "수", "국6등급")
    assert (winner.carried_weight, winner.body_weight, winner.body_weight_change) == (57.0, 488, -6)
    assert (winner.win_odds, winner.place_odds, winner.finish_time) == (7.1, 2.1, 75.3)
    # A rating of 0 means "not rated yet".
    assert winner.rating is None
    assert winner.owner_no is None
    assert winner.margin is None
    assert not winner.scratched


def test_finish_order_matches_the_file() -> None:
    items = load_items("API214_1", "20250504", 3, 6)
    race = race_file("20250504", 3, 6)
    by_gate = {r.gate_number: r for r in race.runners}
    for item in items:
        runner = by_gate[item["chulNo"]]
        assert runner.finish_position == (item["ord"] if item["ord"] < 90 else None)


@pytest.mark.parametrize(
    ("rc_date", "meet", "rc_no", "positions"),
    [
        ("20250516", 2, 8, [1, 1, 3]),
        ("20250518", 1, 4, [1, 2, 2, 4]),
    ],
)
def test_dead_heats_share_a_position(
    rc_date: str, meet: int, rc_no: int, positions: list[int]
) -> None:
    race = race_file(rc_date, meet, rc_no)
    placed = sorted(r.finish_position for r in race.runners if r.finish_position is not None)
    assert placed[: len(positions)] == positions
    items = load_items("API214_1", rc_date, meet, rc_no)
    assert placed == sorted(i["ord"] for i in items if i["ord"] < 90)


@pytest.mark.parametrize("rc_no", [4, 5, 6])
def test_fog_races_have_no_placings(rc_no: int) -> None:
    race = race_file("20250503", 2, rc_no)
    assert race.weather == "안개"
    assert not race.has_results
    assert race.finished_without_placings
    for runner in race.runners:
        assert (runner.finish_position, runner.finish_code, runner.finish_time) == (None, 99, None)
        assert runner.win_odds is not None
        assert not runner.scratched


def test_two_runners_withdrawn_with_the_same_code() -> None:
    race = race_file("20250517", 1, 2)
    withdrawn = [r for r in race.runners if r.finish_code == 94]
    assert [r.gate_number for r in withdrawn] == [1, 3]
    for runner in withdrawn:
        assert runner.scratched
        assert runner.finish_position is None
        assert runner.win_odds is None
        assert runner.place_odds is None
        assert runner.finish_time is None
    by_gate = {r.gate_number: r for r in withdrawn}
    assert (by_gate[1].body_weight, by_gate[1].body_weight_change) == (462, -8)
    assert (by_gate[3].body_weight, by_gate[3].body_weight_change) == (None, None)
    assert race.has_results
    assert not race.finished_without_placings


def test_code_92_keeps_odds_and_is_not_a_scratching() -> None:
    runner = next(r for r in race_file("20250518", 1, 3).runners if r.gate_number == 10)
    assert (runner.finish_code, runner.finish_position, runner.finish_time) == (92, None, None)
    assert runner.win_odds == 6.7
    assert not runner.scratched


def test_code_93_with_zero_odds_is_a_scratching() -> None:
    runner = next(r for r in race_file("20250503", 1, 3).runners if r.gate_number == 5)
    assert runner.finish_code == 93
    assert runner.scratched


def test_one_withdrawn_and_the_rest_unplaced() -> None:
    race = race_file("20250524", 2, 2)
    assert not race.has_results
    assert race.finished_without_placings
    assert sum(r.scratched for r in race.runners) == 1


def test_mixed_item_shapes_in_one_envelope() -> None:
    items = load_items("API214_1", "20250531", 1, 1)
    assert len({len(item) for item in items}) == 2
    race = race_file("20250531", 1, 1)
    assert len(race.runners) == len(items)
    by_gate = {r.gate_number: r for r in race.runners}
    assert by_gate[5].owner_no == "110058"
    assert "hrTool" in by_gate[5].raw
    withdrawn = by_gate[6]
    assert withdrawn.scratched
    assert withdrawn.owner_no is None
    assert "hrTool" not in withdrawn.raw


def test_verbatim_recorded_race_with_sectionals() -> None:
    race = race_file("20250523", 3, 1)
    assert len(race.runners) == 11
    by_gate = {r.gate_number: r for r in race.runners}
    winner = by_gate[10]
    assert (winner.finish_position, winner.horse_no, winner.owner_no) == (1, "0051228", "118011")
    assert winner.margin is None
    assert winner.raw["buG1fAccTime"] == 62.4
    assert winner.win_odds == 3.0
    assert winner.finish_time == 75.4
    assert by_gate[2].margin == "½"
    assert by_gate[11].margin == "7"
    last = by_gate[3]
    assert last.finish_position == 11
    assert "buG1fAccTime" not in last.raw


def test_prerace_snapshot() -> None:
    items = load_items("API214_1-prerace", "20250608", 1, 5)
    assert [i["chulNo"] for i in items] != sorted(i["chulNo"] for i in items)
    race = race_file("20250608", 1, 5, "API214_1-prerace")
    assert not race.has_results
    assert not race.finished_without_placings
    assert (race.track_condition, race.track_moisture_pct, race.weather) == (None, None, None)
    for runner in race.runners:
        assert runner.finish_position is None
        assert runner.finish_code is None
        assert runner.win_odds is None
        assert runner.place_odds is None
        assert runner.finish_time is None
        assert runner.margin is None
        assert not runner.scratched
    six = next(r for r in race.runners if r.gate_number == 6)
    assert (six.body_weight, six.body_weight_change, six.rating) == (479, 11, 39)


def test_horse_numbers_as_strings_or_json_numbers() -> None:
    items = load_items("API214_1", "20250503", 1, 9)
    assert any(isinstance(i["hrNo"], int) for i in items)
    runner = next(r for r in race_file("20250503", 1, 9).runners if r.gate_number == 11)
    assert runner.horse_no == "1412334"
    jeju = race_file("20250509", 2, 4)
    assert {r.horse_no for r in jeju.runners if r.gate_number == 1} == {"3103748"}


def test_visiting_horses_lose_their_home_meet_prefix() -> None:
    race = race_file("20250511", 1, 7)
    by_gate = {r.gate_number: r for r in race.runners}
    assert (by_gate[13].horse_name, by_gate[13].visiting_from_meet) == ("오아시스블루", 3)
    home = [r for r in race.runners if r.visiting_from_meet is None]
    assert home
    assert all("[" not in (r.horse_name or "") for r in home)
    busan = {r.gate_number: r for r in race_file("20250504", 3, 6).runners}
    assert (busan[6].horse_name, busan[6].visiting_from_meet) == ("라이징모", 1)


def test_unknown_fields_and_bad_values_never_crash() -> None:
    items = load_items("API214_1", "20250503", 1, 1)
    broken = copy.deepcopy(items)
    broken[0]["brandNewField"] = {"nested": [1, 2]}
    broken[0]["wgBudam"] = "heavy"
    broken[0]["ord"] = "DNF"
    broken[0]["wgHr"] = ["488"]
    broken[0]["rcDist"] = "far"
    broken[1]["chulNo"] = "x"
    race = parsing.race_from_items(broken)
    assert race is not None
    assert len(race.runners) == len(items) - 1
    assert len(race.warnings) == 1
    first = next(r for r in race.runners if r.gate_number == items[0]["chulNo"])
    assert first.raw["brandNewField"] == {"nested": [1, 2]}
    assert first.carried_weight is None
    assert first.finish_position is None
    assert first.body_weight is None
    # One damaged item cannot outvote the rest.
    assert race.distance == 1200


def test_no_data_envelopes_parse_to_none() -> None:
    assert parsing.parse_race(envelope("", code="03", totalCount=0)) is None
    assert parsing.parse_race(envelope("", totalCount=0)) is None
    assert parsing.parse_horse(envelope("", code="03")) is None
    assert parsing.parse_race_plan(envelope("", code="03")) == []
    assert parsing.parse_scratchings(envelope("")) == []


def test_items_of_several_races_are_grouped() -> None:
    items = load_items("API214_1", "20250503", 1, 2) + load_items("API214_1", "20250503", 1, 1)
    races = parsing.races_from_items(items)
    assert [r.race_number for r in races] == [1, 2]
    assert parsing.race_from_items(items, race_number=2) == races[1]
    assert parsing.race_from_items(items, race_number=3) is None
    assert parsing.race_from_items(items, meet=2) is None


def test_missing_keys_are_filled_from_the_request() -> None:
    items = load_items("API214_1", "20250503", 1, 1)
    for item in items:
        del item["rcDate"], item["meet"], item["rcNo"]
    assert parsing.race_from_items(items) is None
    race = parsing.race_from_items(items, race_date=date(2025, 5, 3), meet=1, race_number=1)
    assert race is not None
    assert len(race.runners) == len(items)


# --- details -------------------------------------------------------------------------------


def test_horse_detail_recorded_in_full() -> None:
    horse = parsing.parse_horse(load_envelope("API8_2", "0051228.json"), "51228")
    assert horse is not None
    assert (horse.horse_no, horse.name, horse.sex, horse.home_meet) == (
        "0051228",
        "올라운드원",
        "거",
        3,
    )
    assert (horse.sire_no, horse.sire_name, horse.dam_no, horse.dam_name) == (
        "0031261",
        "사이먼퓨어",
        "0031853",
        "모닝퀸",
    )
    assert horse.birth_date == date(2022, 3, 3)
    assert (horse.owner_no, horse.trainer_no, horse.origin) == ("118011", "070180", "한국")
    assert (horse.starts_total, horse.wins_total, horse.seconds_total, horse.thirds_total) == (
        2,
        1,
        0,
        0,
    )
    assert (horse.prize_total, horse.rating) == (18_750_000, None)
    assert (horse.last_price, horse.last_price_krw) == ("30,000천원(경매)", 30_000_000)
    assert parsing.parse_horse(load_envelope("API8_2", "0051228.json"), "0000001") is None


def test_horse_detail_with_numeric_ids() -> None:
    raw = load_envelope("API8_2", "1411850.json")["response"]["body"]["items"]["item"]
    assert isinstance(raw["hrNo"], int)
    horse = parsing.parse_horse(load_envelope("API8_2", "1411850.json"))
    assert horse is not None
    assert horse.horse_no == "1411850"
    assert horse.birth_date is None
    assert horse.home_meet is None


def test_jockey_detail() -> None:
    jockey = parsing.parse_jockey(load_envelope("API12_1", "080405.json"))
    assert jockey is not None
    assert (jockey.jockey_no, jockey.name, jockey.age, jockey.home_meet) == (
        "080405",
        "김용근",
        43,
        1,
    )
    assert (jockey.birth_date, jockey.debut_date) == (date(1982, 2, 12), date(2005, 5, 4))
    assert jockey.affiliation == "프리기수"
    assert (jockey.starts_total, jockey.wins_total, jockey.starts_year, jockey.thirds_year) == (
        6254,
        968,
        415,
        40,
    )


def test_every_career_count_is_read() -> None:
    jockey = parsing.parse_jockey(load_envelope("API12_1", "080405.json"))
    assert jockey is not None
    counts = {field.name: getattr(jockey, field.name) for field in fields(Career)}
    assert counts == {
        "starts_total": 6254,
        "wins_total": 968,
        "seconds_total": 791,
        "thirds_total": 685,
        "starts_year": 415,
        "wins_year": 59,
        "seconds_year": 48,
        "thirds_year": 40,
    }


def test_trainer_detail_with_dash_sentinels() -> None:
    trainer = parsing.parse_trainer(load_envelope("API19_1", "070180.json"))
    assert trainer is not None
    assert trainer.raw["age"] == "-"
    assert trainer.raw["birthday"] == "-"
    assert (trainer.age, trainer.birth_date) == (None, None)
    assert (trainer.trainer_no, trainer.name, trainer.home_meet) == ("070180", "안우성", 3)
    assert (trainer.affiliation, trainer.start_date) == ("15", date(2014, 6, 1))
    assert (trainer.win_rate_total, trainer.place_rate_total, trainer.quinella_rate_total) == (
        12.0,
        35.0,
        24.0,
    )
    assert (trainer.win_rate_year, trainer.wins_year, trainer.starts_total) == (6.0, 16, 2684)


def test_every_detail_file_parses() -> None:
    for folder, parse in (
        ("API8_2", parsing.parse_horse),
        ("API12_1", parsing.parse_jockey),
        ("API19_1", parsing.parse_trainer),
    ):
        for path in sorted((FIXTURES / folder).glob("*.json")):
            record = parse(load_envelope(folder, path.name), path.stem)
            assert record is not None, path


def test_race_plan_and_scratchings() -> None:
    plan = parsing.parse_race_plan(
        envelope(
            {
                "item": [
                    {
                        "meet": "부경",
                        "rcDate": 20250504,
                        "rcNo": 2,
                        "rcDist": 1300,
                        "schStTime": 1135,
                    },
                    {
                        "meet": "부경",
                        "rcDate": 20250504,
                        "rcNo": 1,
                        "rcName": "일반",
                        "schStTime": "-",
                    },
                    {"meet": "?", "rcNo": 3},
                ]
            }
        )
    )
    assert [(p.race_number, p.meet, p.start_time) for p in plan] == [
        (1, 3, None),
        (2, 3, time(11, 35)),
    ]
    scratchings = parsing.parse_scratchings(
        envelope(
            {
                "item": {
                    "meet": 1,
                    "rcDate": "20250517",
                    "rcNo": "2",
                    "chulNo": "3",
                    "hrNo": 50957,
                    "hrName": "큐피드케이",
                    "reason": "부상",
                }
            }
        )
    )
    assert len(scratchings) == 1
    one = scratchings[0]
    assert (one.race_date, one.meet, one.race_number, one.gate_number) == (
        date(2025, 5, 17),
        1,
        2,
        3,
    )
    assert (one.horse_no, one.horse_name, one.reason) == ("0050957", "큐피드케이", "부상")
