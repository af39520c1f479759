"""Reading a predictor's answer out of free text: bare JSON, a fenced block, or embedded."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects found in the text: the whole text, then fenced blocks, then any
    object embedded in prose, in order of appearance."""
    stripped = text.strip()
    candidates = [stripped, *(block.strip() for block in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value
    start = text.find("{")
    while start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            yield value
        start = text.find("{", end)


@dataclass(frozen=True, slots=True)
class Answer:
    picks: tuple[int, int, int]
    confidence: int
    reasoning: str


class InvalidAnswer(ValueError):
    """The text holds no usable answer; the message says why."""


def _gate(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _confidence(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    else:
        return None
    if number != number:  # NaN
        return None
    return max(0, min(100, round(number)))


def _check(candidate: dict[str, Any], gates: Collection[int]) -> Answer:
    picks_value = candidate.get("picks")
    if not isinstance(picks_value, list) or len(picks_value) < 3:
        raise InvalidAnswer("picks must be a list of three gate numbers")
    picks = [_gate(value) for value in picks_value[:3]]
    if any(pick is None for pick in picks):
        raise InvalidAnswer(f"picks are not gate numbers: {picks_value[:3]!r}")
    chosen = [pick for pick in picks if pick is not None]
    if len(set(chosen)) != 3:
        raise InvalidAnswer(f"picks repeat a gate: {chosen}")
    unknown = [pick for pick in chosen if pick not in gates]
    if unknown:
        raise InvalidAnswer(f"picks name gates that are not running: {unknown}")
    confidence = _confidence(candidate.get("confidence"))
    if confidence is None:
        raise InvalidAnswer("confidence must be a number from 0 to 100")
    reasoning = candidate.get("reasoning")
    return Answer(
        picks=(chosen[0], chosen[1], chosen[2]),
        confidence=confidence,
        reasoning=reasoning if isinstance(reasoning, str) else "",
    )


def parse_answer(text: str, gates: Collection[int]) -> Answer:
    """The first object in the text with a `picks` key, checked against the running gates.

    Confidence outside 0–100 is clamped; gate numbers given as strings are accepted.
    """
    for candidate in json_objects(text):
        if "picks" in candidate:
            return _check(candidate, gates)
    raise InvalidAnswer("no JSON object with picks in the answer")
