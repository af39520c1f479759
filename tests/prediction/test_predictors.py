"""Form and market predictors, and reading answers out of text."""

from __future__ import annotations

import pytest

from kra_graphql.prediction.answers import InvalidAnswer, parse_answer
from kra_graphql.prediction.features import FormFeatures, Record
from kra_graphql.prediction.predictors import (
    FormPredictor,
    InvalidParameters,
    MarketPredictor,
    OddsUnavailable,
    TooFewRunners,
)
from tests.prediction.cards import card, prompt, runner

FORM = prompt("FORM")


async def test_form_ties_break_by_gate_and_scratched_never_picked() -> None:
    answer = await FormPredictor().predict(card([runner(g) for g in (4, 2, 1, 3)]), FORM)
    assert answer.picks == (1, 2, 3)
    assert answer.valid
    assert answer.model_version == "form-v1"
    # Four equal runners: each has probability 1/4.
    assert answer.confidence == 25

    field = [runner(1, scratched=True), runner(2), runner(3), runner(4)]
    assert (await FormPredictor().predict(card(field), FORM)).picks == (2, 3, 4)


async def test_form_weights_come_from_the_prompt() -> None:
    strong = FormFeatures(horse=Record(starts=10, wins=5, top3=9), recent_finishes=(1, 1, 2))
    field = [
        runner(1, rating=50),
        runner(2, rating=80),
        runner(3, rating=60, form=strong),
        runner(4, rating=70),
    ]
    by_default = await FormPredictor().predict(card(field), FORM)
    assert by_default.picks[0] == 3  # the form horse
    assert "gate 3" in by_default.reasoning

    only_rating = dict.fromkeys(("horse_win_rate", "horse_top3_rate", "recent_form"), 0.0)
    rating_first = prompt("FORM", weights={**only_rating, "rating": 5.0})
    assert (await FormPredictor().predict(card(field), rating_first)).picks == (2, 4, 3)

    # Deterministic: the same card and prompt give the same answer.
    assert await FormPredictor().predict(card(field), FORM) == by_default


async def test_form_refuses_bad_parameters_and_small_fields() -> None:
    field = card([runner(g) for g in (1, 2, 3)])
    with pytest.raises(InvalidParameters):
        await FormPredictor().predict(field, prompt("FORM", weights={"speed": 1.0}))
    with pytest.raises(InvalidParameters):
        await FormPredictor().predict(field, prompt("FORM", temperature=0))
    with pytest.raises(TooFewRunners):
        await FormPredictor().predict(card([runner(1), runner(2), runner(3, scratched=True)]), FORM)


async def test_market_orders_by_odds_and_needs_them() -> None:
    market = prompt("MARKET")
    without_odds = card([runner(g) for g in (1, 2, 3, 4)])
    with pytest.raises(OddsUnavailable):
        await MarketPredictor().predict(without_odds, market)

    field = [
        runner(1, win_odds=5.0),
        runner(2, win_odds=2.0),
        runner(3),  # no odds: after every priced runner
        runner(4, win_odds=5.0),
        runner(5, win_odds=1.5, scratched=True),
    ]
    answer = await MarketPredictor().predict(card(field, use_final_odds=True), market)
    assert answer.picks == (2, 1, 4)  # 2.0, then 5.0 and 5.0 by gate
    # Implied 1/2 : 1/5 : 1/5 -> 0.5 / 0.9 = 55.6 %.
    assert answer.confidence == 56


def test_parse_answer_shapes() -> None:
    gates = {1, 2, 3, 4, 5}
    bare = '{"picks": [3, 1, 2], "confidence": 70, "reasoning": "r"}'
    assert parse_answer(bare, gates).picks == (3, 1, 2)
    fenced = f"Thinking...\n```json\n{bare}\n```\nDone."
    assert parse_answer(fenced, gates).confidence == 70
    embedded = f'I note {{"x": 1}} first; my answer: {bare}. Bye {{'
    assert parse_answer(embedded, gates).reasoning == "r"
    strings = '{"picks": ["4", 5.0, 1], "confidence": "150%"}'
    answer = parse_answer(strings, gates)
    assert (answer.picks, answer.confidence, answer.reasoning) == ((4, 5, 1), 100, "")

    for text in (
        "no json here",
        '{"picks": [1, 2, , "confidence": 1',
        '{"picks": [1, 1, 2], "confidence": 50}',
        '{"picks": [1, 2, 9], "confidence": 50}',
        '{"picks": [1, 2], "confidence": 50}',
        '{"picks": [1, 2, 3]}',
        '{"picks": [1, 2, true], "confidence": 5}',
    ):
        with pytest.raises(InvalidAnswer):
            parse_answer(text, gates)
