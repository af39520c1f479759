"""Asking the LLM to rewrite a prompt in the light of the races it got wrong.

The request carries the champion's text and a compact summary of the races of the
earlier sample where it missed part of the top three: the main pre-race columns of
the card, its picks and the actual first three. Only earlier races are ever
summarised, so the later part that decides promotion stays unseen by the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kra_graphql.prediction.answers import json_objects
from kra_graphql.prediction.card import RaceCard, Runner
from kra_graphql.prediction.metrics import Picks, RaceResult, correct_count
from kra_graphql.prediction.predictors import CARD_PLACEHOLDER, LlmPredictor
from kra_graphql.prediction.prompts import MAX_TEXT

# Bounds on what one request sends: enough misses to show a pattern, never a huge bill.
MAX_FAILURES = 12
MAX_SUMMARY_CHARS = 12_000
MAX_RATIONALE = 500
# Some variety between iterations: the same failures should not always get the same answer.
REWRITE_TEMPERATURE = 0.7
# The key of the request object that holds the prompt being rewritten.
REQUEST_KEY = "current_prompt"
REWRITE_INSTRUCTIONS = (
    "You improve the instructions (the prompt) given to a model that predicts the first "
    "three finishers of horse races from a race card. You receive the current prompt and "
    "races where it missed runners of the actual first three, with the card's main "
    "columns, the runners it picked and the actual first three. Rewrite the prompt so "
    "that it would pick better in general, not only in these races. Keep the placeholder "
    f"{CARD_PLACEHOLDER} where the race card is inserted. The answer format is given to "
    'the model separately. Answer with one JSON object: {"prompt": "the full rewritten '
    'prompt", "rationale": "one or two sentences on what you changed and why"}.'
)


class InvalidRewrite(ValueError):
    """The reply holds no usable prompt; the message says why."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    text: str
    rationale: str


def actual_order(result: RaceResult) -> list[int]:
    """Gates placed 1-3, in finishing order (dead heats by gate)."""
    placed = [(position, gate) for gate, position in result.positions.items() if position <= 3]
    return [gate for _, gate in sorted(placed)]


def _runner(runner: Runner) -> dict[str, Any]:
    form = runner.form
    return {
        "gate": runner.gate_number,
        "age": runner.age,
        "sex": runner.sex,
        "rating": runner.rating,
        "carried_weight": runner.carried_weight,
        "body_weight": runner.body_weight,
        "body_weight_change": runner.body_weight_change,
        "recent_finishes": list(form.recent_finishes),
        "days_since_last_run": form.days_since_last_run,
        "horse_starts_wins_top3": [form.horse.starts, form.horse.wins, form.horse.top3],
        "jockey_top3_rate": round(form.jockey.top3_rate, 3),
        "trainer_top3_rate": round(form.trainer.top3_rate, 3),
    }


def _miss(card: RaceCard, picks: Picks, result: RaceResult, correct: int) -> dict[str, Any]:
    return {
        "race": card.race_id,
        "distance": card.distance,
        "class": card.race_class,
        "track": card.track_condition,
        "field_size": card.field_size,
        "field": [_runner(runner) for runner in card.starters],
        "picked": list(picks),
        "actual_first_three": actual_order(result),
        "correct": correct,
    }


def failure_summary(
    picks: Mapping[str, Picks],
    cards: Mapping[str, RaceCard],
    results: Mapping[str, RaceResult],
) -> dict[str, Any]:
    """The races where the picks missed part of the top three, worst first, bounded in
    count and size; with how many races were looked at."""
    scored = []
    for race_id, race_picks in picks.items():
        top3 = results[race_id].top3
        if top3 is not None:
            scored.append((correct_count(race_picks, top3), race_id))
    misses: list[dict[str, Any]] = []
    size = 0
    for correct, race_id in sorted(scored):
        if correct >= 3 or len(misses) == MAX_FAILURES:
            break
        miss = _miss(cards[race_id], picks[race_id], results[race_id], correct)
        size += len(json.dumps(miss, ensure_ascii=False))
        if misses and size > MAX_SUMMARY_CHARS:
            break
        misses.append(miss)
    return {
        "races_looked_at": len(scored),
        "all_three_right": sum(1 for correct, _ in scored if correct >= 3),
        "misses": misses,
    }


def rewrite_messages(text: str, failures: Mapping[str, Any]) -> list[dict[str, str]]:
    request = {REQUEST_KEY: text, "failures": failures}
    return [
        {"role": "system", "content": REWRITE_INSTRUCTIONS},
        {"role": "user", "content": json.dumps(request, ensure_ascii=False)},
    ]


def parse_rewrite(reply: str, *, current: str) -> Rewrite:
    """The first object in the reply with a `prompt` key, checked: not empty, not too
    long, still holding the card placeholder, and different from the current text."""
    for candidate in json_objects(reply):
        if "prompt" not in candidate:
            continue
        text = candidate["prompt"]
        if not isinstance(text, str) or not text.strip():
            raise InvalidRewrite("the rewritten prompt is empty")
        text = text.strip()
        if len(text) > MAX_TEXT:
            raise InvalidRewrite(f"the rewritten prompt is longer than {MAX_TEXT} characters")
        if CARD_PLACEHOLDER not in text:
            raise InvalidRewrite(f"the rewritten prompt lacks the {CARD_PLACEHOLDER} placeholder")
        if text == current.strip():
            raise InvalidRewrite("the rewritten prompt is the current one unchanged")
        rationale = candidate.get("rationale")
        return Rewrite(
            text=text,
            rationale=rationale.strip()[:MAX_RATIONALE] if isinstance(rationale, str) else "",
        )
    raise InvalidRewrite("no JSON object with a prompt in the reply")


async def request_rewrite(llm: LlmPredictor, text: str, failures: Mapping[str, Any]) -> Rewrite:
    """Raises LlmFailure when the endpoint gives no reply, InvalidRewrite for a bad one."""
    reply = await llm.complete(rewrite_messages(text, failures), temperature=REWRITE_TEMPERATURE)
    return parse_rewrite(reply, current=text)
