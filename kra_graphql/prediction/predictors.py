"""Predictors: each turns a race card and a prompt into three gate numbers in order.

- `FormPredictor`: a transparent weighted score over the card's pre-race features.
- `MarketPredictor`: shortest win odds first; only for cards built with final odds.
- `LlmPredictor`: asks an OpenAI-compatible chat-completions endpoint; an unusable answer
  is counted invalid and replaced by the form order, never raised.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.answers import InvalidAnswer, parse_answer
from kra_graphql.prediction.card import RaceCard, Runner
from kra_graphql.prediction.features import Record
from kra_graphql.prediction.models import Prompt


@dataclass(frozen=True, slots=True)
class PredictionAnswer:
    picks: tuple[int, int, int]  # gate numbers, first pick first
    confidence: int  # 0-100: the predictor's probability that the first pick wins
    reasoning: str
    valid: bool
    model_version: str
    # Each starter's probability of winning, by gate, summing to 1; None from predictors
    # that state only their confidence (the LLM).
    probabilities: Mapping[int, float] | None = None


class Predictor(Protocol):
    async def predict(self, card: RaceCard, prompt: Prompt) -> PredictionAnswer: ...


class TooFewRunners(BadUserInput):
    """Fewer than three starters: there is no first three to predict."""


class OddsUnavailable(BadUserInput):
    """The market predictor needs odds, which a card has only with use_final_odds."""


class InvalidParameters(BadUserInput):
    """A prompt's parameters do not fit its predictor."""


def _require_starters(card: RaceCard) -> tuple[Runner, ...]:
    starters = card.starters
    if len(starters) < 3:
        raise TooFewRunners(
            f"race {card.race_id} has {len(starters)} starters; three are needed",
            field="raceId",
        )
    return starters


# --- form ----------------------------------------------------------------------------------

# Every feature is scaled to about 0..1 within the race, so weights are comparable.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "horse_win_rate": 1.0,
    "horse_top3_rate": 2.0,
    "jockey_win_rate": 1.0,
    "jockey_top3_rate": 1.5,
    "trainer_win_rate": 0.5,
    "trainer_top3_rate": 0.5,
    "recent_form": 2.0,
    "rating": 1.0,
    "carried_weight": 0.3,
    "body_weight_change": -0.5,
    "layoff": -0.3,
}
FORM_FEATURES = tuple(DEFAULT_WEIGHTS)
DEFAULT_TEMPERATURE = 0.5
DEFAULT_PRIOR_STRENGTH = 5.0
# Priors that shrink rates from few starts: roughly a 10-runner field.
PRIOR_WIN_RATE = 0.1
PRIOR_TOP3_RATE = 0.3
LAYOFF_CAP_DAYS = 180
WEIGHT_CHANGE_CAP_KG = 20


@dataclass(frozen=True, slots=True)
class FormSettings:
    weights: Mapping[str, float]
    temperature: float = DEFAULT_TEMPERATURE
    prior_strength: float = DEFAULT_PRIOR_STRENGTH

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> FormSettings:
        """`{"weights": {feature: weight}, "temperature": t, "prior_strength": k}`; missing
        weights keep their defaults, unknown ones are refused."""
        given = parameters.get("weights", {})
        if not isinstance(given, Mapping):
            raise InvalidParameters("weights must be an object", field="parameters")
        unknown = sorted(set(given) - set(FORM_FEATURES))
        if unknown:
            raise InvalidParameters(
                f"unknown form weights {unknown}; known: {list(FORM_FEATURES)}",
                field="parameters",
            )
        weights = dict(DEFAULT_WEIGHTS)
        for name, value in given.items():
            weights[name] = _number(value, f"weights.{name}")
        temperature = _number(parameters.get("temperature", DEFAULT_TEMPERATURE), "temperature")
        prior = _number(parameters.get("prior_strength", DEFAULT_PRIOR_STRENGTH), "prior_strength")
        if temperature <= 0 or prior < 0:
            raise InvalidParameters(
                "temperature must be > 0 and prior_strength >= 0", field="parameters"
            )
        return cls(weights=weights, temperature=temperature, prior_strength=prior)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameters(f"{name} must be a finite number", field="parameters")
    return float(value)


def _shrunk(wins: int, starts: int, prior: float, strength: float) -> float:
    return (wins + prior * strength) / (starts + strength) if starts + strength else prior


def _scaled(values: Sequence[float | None], *, missing: float) -> list[float]:
    """Min-max scaling within the field; 0.5 when all known values are equal."""
    known = [v for v in values if v is not None]
    if not known:
        return [0.0 for _ in values]
    low, high = min(known), max(known)
    return [
        missing if v is None else (0.5 if high == low else (v - low) / (high - low)) for v in values
    ]


def form_features_table(card: RaceCard, settings: FormSettings) -> dict[int, dict[str, float]]:
    """The scaled feature values of each starter, by gate number."""
    starters = card.starters
    k = settings.prior_strength
    ratings = _scaled([float(r.rating) if r.rating else None for r in starters], missing=0.0)
    weights = _scaled([r.carried_weight for r in starters], missing=0.5)
    table: dict[int, dict[str, float]] = {}
    for index, runner in enumerate(starters):
        form = runner.form

        def rates(record: Record) -> tuple[float, float]:
            return (
                _shrunk(record.wins, record.starts, PRIOR_WIN_RATE, k),
                _shrunk(record.top3, record.starts, PRIOR_TOP3_RATE, k),
            )

        horse_win, horse_top3 = rates(form.horse)
        jockey_win, jockey_top3 = rates(form.jockey)
        trainer_win, trainer_top3 = rates(form.trainer)
        change = runner.body_weight_change
        days = form.days_since_last_run
        table[runner.gate_number] = {
            "horse_win_rate": horse_win,
            "horse_top3_rate": horse_top3,
            "jockey_win_rate": jockey_win,
            "jockey_top3_rate": jockey_top3,
            "trainer_win_rate": trainer_win,
            "trainer_top3_rate": trainer_top3,
            "recent_form": form.recent_form,
            "rating": ratings[index],
            "carried_weight": weights[index],
            "body_weight_change": (
                0.0
                if change is None
                else min(abs(change), WEIGHT_CHANGE_CAP_KG) / WEIGHT_CHANGE_CAP_KG
            ),
            "layoff": 1.0 if days is None else min(days, LAYOFF_CAP_DAYS) / LAYOFF_CAP_DAYS,
        }
    return table


def _softmax(scores: Sequence[float], temperature: float) -> list[float]:
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


class FormPredictor:
    model_version = "form-v1"

    async def predict(self, card: RaceCard, prompt: Prompt) -> PredictionAnswer:
        return self.answer(card, prompt.parameters)

    def answer(self, card: RaceCard, parameters: Mapping[str, Any]) -> PredictionAnswer:
        """Deterministic: highest score first, ties broken by the lower gate."""
        _require_starters(card)
        settings = FormSettings.from_parameters(parameters)
        table = form_features_table(card, settings)
        scores = {
            gate: sum(settings.weights[name] * value for name, value in features.items())
            for gate, features in table.items()
        }
        order = sorted(scores, key=lambda gate: (-scores[gate], gate))
        probabilities = dict(
            zip(
                order, _softmax([scores[gate] for gate in order], settings.temperature), strict=True
            )
        )
        lines = [
            f"{rank}. gate {gate}: score {scores[gate]:.3f} ("
            + ", ".join(
                f"{name} {value:.2f}×{settings.weights[name]:g}"
                for name, value in _top_contributions(table[gate], settings.weights)
            )
            + ")"
            for rank, gate in enumerate(order[:3], start=1)
        ]
        return PredictionAnswer(
            picks=(order[0], order[1], order[2]),
            confidence=round(100 * probabilities[order[0]]),
            reasoning="Weighted form score over pre-race features.\n" + "\n".join(lines),
            valid=True,
            model_version=self.model_version,
            probabilities=probabilities,
        )


def _top_contributions(
    features: Mapping[str, float], weights: Mapping[str, float], count: int = 3
) -> list[tuple[str, float]]:
    ranked = sorted(features.items(), key=lambda item: (-abs(item[1] * weights[item[0]]), item[0]))
    return ranked[:count]


# --- market --------------------------------------------------------------------------------


class MarketPredictor:
    model_version = "market-v1"

    async def predict(self, card: RaceCard, prompt: Prompt) -> PredictionAnswer:
        starters = _require_starters(card)
        if not card.use_final_odds or not card.has_odds:
            raise OddsUnavailable(
                "the market predictor needs odds: build the card with useFinalOdds",
                field="useFinalOdds",
            )
        priced = sorted(
            (r for r in starters if r.win_odds is not None),
            key=lambda r: (r.win_odds or 0.0, r.gate_number),
        )
        unpriced = [r for r in starters if r.win_odds is None]
        order = [r.gate_number for r in [*priced, *unpriced]]
        # The odds' implied probabilities, rescaled to sum to 1 (the track's take removed);
        # a runner without odds gets none.
        implied = {r.gate_number: 1.0 / r.win_odds for r in priced if r.win_odds}
        total = sum(implied.values())
        probabilities = {
            r.gate_number: implied.get(r.gate_number, 0.0) / total if total else 1 / len(starters)
            for r in starters
        }
        confidence = round(100 * probabilities[order[0]])
        shown = ", ".join(f"gate {r.gate_number} at {r.win_odds:g}" for r in priced[:3])
        return PredictionAnswer(
            picks=(order[0], order[1], order[2]),
            confidence=confidence,
            reasoning=f"Shortest final win odds first: {shown}.",
            valid=True,
            model_version=self.model_version,
            probabilities=probabilities,
        )


# --- llm -----------------------------------------------------------------------------------

CARD_PLACEHOLDER = "{race_card}"
ANSWER_FORMAT = (
    "You predict the first three finishers of a horse race. Answer with one JSON object: "
    '{"picks": [gate, gate, gate], "confidence": 0-100, "reasoning": "..."}, where picks '
    "are three different gate numbers of runners that are not scratched, the expected "
    "winner first, and confidence is your probability in percent that the first pick wins."
)
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def render_prompt(text: str, card: RaceCard) -> str:
    """The prompt text with the card as JSON in place of `{race_card}`, or appended."""
    card_json = json.dumps(card.as_json(), ensure_ascii=False)
    if CARD_PLACEHOLDER in text:
        return text.replace(CARD_PLACEHOLDER, card_json)
    return f"{text}\n\nRace card (JSON):\n{card_json}"


class LlmFailure(Exception):
    """No answer text could be obtained from the endpoint."""


class LlmPredictor:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        concurrency: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        if retries < 0 or concurrency < 1 or timeout_s <= 0:
            raise ValueError("retries >= 0, concurrency >= 1 and timeout_s > 0 are required")
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._limit = asyncio.Semaphore(concurrency)
        self._fallback = FormPredictor()

    @property
    def model_version(self) -> str:
        return f"llm:{self._model}"

    async def predict(self, card: RaceCard, prompt: Prompt) -> PredictionAnswer:
        return await self.answer(card, prompt.text, prompt.parameters)

    async def answer(
        self, card: RaceCard, text: str, parameters: Mapping[str, Any]
    ) -> PredictionAnswer:
        """Never raises for a bad or missing answer; only for a card with < 3 starters."""
        starters = _require_starters(card)
        messages = [
            {"role": "system", "content": ANSWER_FORMAT},
            {"role": "user", "content": render_prompt(text, card)},
        ]
        temperature = parameters.get("temperature", 0)
        try:
            reply = await self.complete(
                messages, temperature=temperature if isinstance(temperature, int | float) else 0
            )
            answer = parse_answer(reply, {r.gate_number for r in starters})
        except (LlmFailure, InvalidAnswer) as error:
            fallback = self._fallback.answer(card, {})
            return PredictionAnswer(
                picks=fallback.picks,
                confidence=fallback.confidence,
                reasoning=f"Invalid answer ({error}); form order used instead.",
                valid=False,
                model_version=self.model_version,
            )
        return PredictionAnswer(
            picks=answer.picks,
            confidence=answer.confidence,
            reasoning=answer.reasoning,
            valid=True,
            model_version=self.model_version,
        )

    async def complete(self, messages: list[dict[str, str]], *, temperature: float) -> str:
        """The reply text to a chat, within this predictor's concurrency limit and retries.

        Raises LlmFailure when no reply text could be obtained.
        """
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": temperature,
        }
        async with self._limit:
            return await self._complete(body)

    async def _complete(self, body: dict[str, Any]) -> str:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        failure = "no attempt made"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._client.post(
                    self._url, json=body, headers=headers, timeout=self._timeout_s
                )
            except httpx.TimeoutException:
                failure = f"timed out after {self._timeout_s:g} s"
                continue
            except httpx.TransportError as error:
                failure = f"transport error {type(error).__name__}"
                continue
            if response.status_code in RETRY_STATUSES:
                failure = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise LlmFailure(f"HTTP {response.status_code}")
            return _content(response)
        raise LlmFailure(f"{failure} ({self._retries + 1} attempts)")


def _content(response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise LlmFailure("response is not a chat completion") from error
    if not isinstance(content, str):
        raise LlmFailure("completion has no text content")
    return content
