"""Rewrite requests and replies, and the fake LLM's answers to them, without a database."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kra_graphql.prediction.card import RaceCard
from kra_graphql.prediction.fake_llm import RewriteMode, ranked_gates, rewrite_text, rewritten
from kra_graphql.prediction.features import FormFeatures, Record
from kra_graphql.prediction.metrics import Picks, RaceResult
from kra_graphql.prediction.prompts import MAX_TEXT
from kra_graphql.prediction.rewrite import (
    MAX_FAILURES,
    REQUEST_KEY,
    REWRITE_INSTRUCTIONS,
    InvalidRewrite,
    failure_summary,
    parse_rewrite,
    rewrite_messages,
)
from tests.prediction.cards import card, runner

CURRENT = "Pick well.\n{race_card}"
NEW = "rank by: age\nPick the young ones.\n{race_card}"


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps({"prompt": NEW, "rationale": "youth"}),
        f"Sure.\n```json\n{json.dumps({'prompt': NEW, 'rationale': 'youth'})}\n```\nBye",
        f"My answer: {json.dumps({'rationale': 'youth', 'prompt': NEW})} - done.",
    ],
)
def test_rewrites_are_read_bare_fenced_or_embedded(reply: str) -> None:
    rewrite = parse_rewrite(reply, current=CURRENT)
    assert rewrite.text == NEW
    assert rewrite.rationale == "youth"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ('{"prompt": "rank by: age", "rationale": ', "no JSON object with a prompt"),
        ('{"picks": [1, 2, 3]}', "no JSON object with a prompt"),
        ('{"prompt": "   "}', "is empty"),
        ('{"prompt": 42}', "is empty"),
        ('{"prompt": "Pick the young ones."}', "lacks the {race_card} placeholder"),
        (json.dumps({"prompt": "x" * MAX_TEXT + "{race_card}"}), f"longer than {MAX_TEXT}"),
        (json.dumps({"prompt": f"  {CURRENT}  "}), "unchanged"),
    ],
)
def test_unusable_rewrites_say_why(reply: str, why: str) -> None:
    with pytest.raises(InvalidRewrite, match=why.replace("{", r"\{").replace("}", r"\}")):
        parse_rewrite(reply, current=CURRENT)


def test_a_long_rationale_is_cut() -> None:
    rewrite = parse_rewrite(json.dumps({"prompt": NEW, "rationale": "y" * 5000}), current="")
    assert len(rewrite.rationale) == 500


def race(race_id: str, gates: int) -> RaceCard:
    form = FormFeatures(horse=Record(starts=4, wins=1, top3=2), recent_finishes=(2, 5))
    return replace(
        card([runner(g, rating=50 + g, form=form) for g in range(1, gates + 1)]), race_id=race_id
    )


def result(race_id: str, order: list[int]) -> RaceResult:
    return RaceResult(
        race_id=race_id,
        meet=1,
        distance=1200,
        field_size=len(order),
        positions={gate: position for position, gate in enumerate(order, start=1)},
    )


def test_the_failure_summary_lists_misses_worst_first_with_the_actual_order() -> None:
    ids = [f"race_1_20900101_{n}" for n in range(1, 4)]
    cards = {race_id: race(race_id, 6) for race_id in ids}
    results = {
        ids[0]: result(ids[0], [1, 2, 3, 4, 5, 6]),  # picks 1, 2, 3: all right
        ids[1]: result(ids[1], [3, 5, 6, 1, 2, 4]),  # one right
        ids[2]: result(ids[2], [4, 5, 6, 1, 2, 3]),  # none right
    }
    picks: dict[str, Picks] = dict.fromkeys(ids, (1, 2, 3))
    summary = failure_summary(picks, cards, results)
    assert summary["races_looked_at"] == 3
    assert summary["all_three_right"] == 1
    misses = summary["misses"]
    assert [(m["race"], m["correct"]) for m in misses] == [(ids[2], 0), (ids[1], 1)]
    assert misses[0]["actual_first_three"] == [4, 5, 6]
    assert misses[1]["actual_first_three"] == [3, 5, 6]
    assert misses[0]["picked"] == [1, 2, 3]
    assert [r["gate"] for r in misses[0]["field"]] == [1, 2, 3, 4, 5, 6]
    assert misses[0]["field"][0]["horse_starts_wins_top3"] == [4, 1, 2]
    assert misses[0]["field"][0]["recent_finishes"] == [2, 5]
    # Only what predictors see, plus the outcome of the race that was missed.
    assert "finish_position" not in json.dumps(misses)


def test_the_failure_summary_is_bounded() -> None:
    ids = [f"race_1_20900101_{n}" for n in range(1, 40)]
    cards = {race_id: race(race_id, 14) for race_id in ids}
    results = {race_id: result(race_id, list(range(14, 0, -1))) for race_id in ids}
    summary = failure_summary(dict.fromkeys(ids, (1, 2, 3)), cards, results)
    assert 0 < len(summary["misses"]) <= MAX_FAILURES
    assert summary["races_looked_at"] == 39


def test_the_request_carries_the_prompt_and_the_failures() -> None:
    system, user = rewrite_messages(CURRENT, {"misses": []})
    assert system == {"role": "system", "content": REWRITE_INSTRUCTIONS}
    assert json.loads(user["content"]) == {REQUEST_KEY: CURRENT, "failures": {"misses": []}}


def test_the_fake_orders_runners_as_the_prompt_says() -> None:
    runners = card(
        [
            replace(runner(1, rating=60), age=5),
            replace(runner(2, rating=70), age=3),
            replace(runner(3, rating=None, scratched=True), age=2),
            replace(runner(4, rating=50), age=4),
            replace(runner(5, rating=None), age=3),
        ]
    ).as_json()["runners"]
    assert ranked_gates(runners, "gate") == [1, 2, 4, 5]
    assert ranked_gates(runners, "-gate") == [5, 4, 2, 1]
    assert ranked_gates(runners, "age") == [2, 5, 4, 1]
    assert ranked_gates(runners, "-rating") == [2, 1, 4, 5]  # no rating goes last


def test_the_fake_rewrites_to_the_next_order_and_can_be_told_to_fail() -> None:
    assert rewritten(CURRENT, ["age", "-gate"]) == f"rank by: age\n{CURRENT}"
    assert rewritten(f"rank by: age\n{CURRENT}", ["age", "-gate"]) == f"rank by: -gate\n{CURRENT}"
    assert rewritten(f"rank by: -gate\n{CURRENT}", ["age", "-gate"]) == f"rank by: age\n{CURRENT}"
    assert parse_rewrite(rewrite_text(RewriteMode.FENCED, CURRENT, ["age"]), current=CURRENT)
    for mode, why in [
        (RewriteMode.MALFORMED, "no JSON object"),
        (RewriteMode.NO_PLACEHOLDER, "placeholder"),
        (RewriteMode.EMPTY, "empty"),
    ]:
        with pytest.raises(InvalidRewrite, match=why):
            parse_rewrite(rewrite_text(mode, CURRENT, ["age"]), current=CURRENT)
