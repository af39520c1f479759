"""The LEARNED strategy: a logistic regression over pre-race features of each starter.

Its features are FORM's (the same shared code, from the same leakage-safe card) plus a
few more from the runner's earlier races and the card. Each feature is centred on the
race's mean, so the model compares runners within their race, as a ranking must; the
runners' scores become win probabilities through a softmax over the race, with a
temperature fitted on races the model had not been fitted on (see `training`).

A trained model is plain numbers stored in its prompt version's parameters, with the
sha256 of their canonical JSON: predicting needs no learning library and no files, and a
version whose numbers were altered is refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kra_graphql.lru import LRU
from kra_graphql.prediction.card import RaceCard
from kra_graphql.prediction.features import Record
from kra_graphql.prediction.models import Prompt
from kra_graphql.prediction.predictors import (
    DEFAULT_WEIGHTS,
    FORM_FEATURES,
    PRIOR_TOP3_RATE,
    WEIGHT_CHANGE_CAP_KG,
    FormSettings,
    InvalidParameters,
    PredictionAnswer,
    form_features_table,
    require_starters,
    shrunk,
    softmax,
)

MODEL_FORMAT = "centred-logit-v1"
MODELS_KEPT = 64
# FORM's scaled features first, then these.
EXTRA_FEATURES = (
    "draw",  # gate order among the starters, 0 (inside) to 1 (outside)
    "distance_top3_rate",  # shrunk top-3 rate at about this distance
    "going_top3_rate",  # shrunk top-3 rate on the same going (wet or dry)
    "experience",  # log(1 + earlier starts)
    "debut",  # 1 without an earlier start
    "age",
    "body_weight_gain",  # signed kg, capped
    "carried_weight_change",  # kg against the last start
    "rating_points",  # rating against the field's mean, in points
    "unrated",
    "last_finish",  # 1 / position of the last start; 0 without one
    "jockey_experience",  # log(1 + the jockey's starts in the window)
)
LEARNED_FEATURES = (*FORM_FEATURES, *EXTRA_FEATURES)
_FORM_SETTINGS = FormSettings(weights=DEFAULT_WEIGHTS)


def feature_rows(card: RaceCard) -> dict[int, list[float]]:
    """Each starter's features in LEARNED_FEATURES order, centred on the race, by gate."""
    starters = require_starters(card)
    form = form_features_table(card, _FORM_SETTINGS)
    ratings = [r.rating for r in starters if r.rating]
    mean_rating = sum(ratings) / len(ratings) if ratings else 0.0
    ages = [r.age for r in starters if r.age is not None]
    mean_age = sum(ages) / len(ages) if ages else 0.0
    raw: dict[int, list[float]] = {}
    for index, runner in enumerate(starters):
        history = runner.form
        last = history.recent_finishes[0] if history.recent_finishes else None
        change = runner.body_weight_change or 0
        carried_change = (
            runner.carried_weight - history.last_carried_weight
            if runner.carried_weight is not None and history.last_carried_weight is not None
            else 0.0
        )
        extras = [
            index / (len(starters) - 1),
            _rate(history.at_distance),
            _rate(history.on_going),
            math.log1p(history.horse.starts),
            0.0 if history.horse.starts else 1.0,
            float(runner.age) if runner.age is not None else mean_age,
            float(max(-WEIGHT_CHANGE_CAP_KG, min(WEIGHT_CHANGE_CAP_KG, change))),
            carried_change,
            float(runner.rating) - mean_rating if runner.rating else 0.0,
            0.0 if runner.rating else 1.0,
            1.0 / last if last else 0.0,
            math.log1p(history.jockey.starts),
        ]
        raw[runner.gate_number] = [*(form[runner.gate_number][n] for n in FORM_FEATURES), *extras]
    width = len(LEARNED_FEATURES)
    means = [sum(row[i] for row in raw.values()) / len(raw) for i in range(width)]
    return {gate: [row[i] - means[i] for i in range(width)] for gate, row in raw.items()}


def _rate(record: Record) -> float:
    return shrunk(record.top3, record.starts, PRIOR_TOP3_RATE, _FORM_SETTINGS.prior_strength)


@dataclass(frozen=True, slots=True)
class LogitModel:
    """Standardise, weigh, add: a runner's score; softmax(score / temperature) over the
    race: its win probability."""

    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    temperature: float = 1.0
    features: tuple[str, ...] = LEARNED_FEATURES

    def score(self, row: Sequence[float]) -> float:
        return self.intercept + sum(
            w * (x - m) / s
            for w, x, m, s in zip(self.coefficients, row, self.means, self.scales, strict=True)
        )

    def probabilities(self, rows: Mapping[int, Sequence[float]]) -> dict[int, float]:
        gates = list(rows)
        shares = softmax([self.score(rows[gate]) for gate in gates], self.temperature)
        return dict(zip(gates, shares, strict=True))

    def as_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "temperature": self.temperature,
        }

    def body(self) -> bytes:
        return orjson.dumps(self.as_json(), option=orjson.OPT_SORT_KEYS)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body()).hexdigest()

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> LogitModel:
        """The model of a LEARNED version, checked against its sha256 and this server's
        feature list; InvalidParameters otherwise."""
        data = parameters.get("model")
        if not isinstance(data, Mapping) or data.get("format") != MODEL_FORMAT:
            raise InvalidParameters(f"no {MODEL_FORMAT} model given", field="parameters")
        if tuple(data.get("features", ())) != LEARNED_FEATURES:
            raise InvalidParameters(
                "the model was trained on other features than this server computes",
                field="parameters",
            )
        try:
            model = cls(
                means=_floats(data["means"]),
                scales=_floats(data["scales"]),
                coefficients=_floats(data["coefficients"]),
                intercept=float(data["intercept"]),
                temperature=float(data["temperature"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidParameters("malformed model numbers", field="parameters") from None
        width = len(LEARNED_FEATURES)
        if not (len(model.means) == len(model.scales) == len(model.coefficients) == width):
            raise InvalidParameters(f"the model needs {width} numbers per list", field="parameters")
        if model.temperature <= 0 or any(s <= 0 for s in model.scales):
            raise InvalidParameters("temperature and scales must be > 0", field="parameters")
        if parameters.get("sha256") != model.sha256:
            raise InvalidParameters("the model does not match its sha256", field="parameters")
        return model


def _floats(values: Any) -> tuple[float, ...]:
    numbers = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError("not finite")
    return numbers


def learned_answer(model: LogitModel, card: RaceCard, model_version: str) -> PredictionAnswer:
    """Most probable winner first, ties to the lower gate."""
    rows = feature_rows(card)
    probabilities = model.probabilities(rows)
    order = sorted(probabilities, key=lambda gate: (-probabilities[gate], gate))
    lines = [
        f"{rank}. gate {gate}: win probability {probabilities[gate]:.3f} ("
        + ", ".join(f"{name} {effect:+.2f}" for name, effect in _top_effects(model, rows[gate]))
        + ")"
        for rank, gate in enumerate(order[:3], start=1)
    ]
    return PredictionAnswer(
        picks=(order[0], order[1], order[2]),
        confidence=round(100 * probabilities[order[0]]),
        reasoning="Logistic regression over pre-race features (largest effects shown).\n"
        + "\n".join(lines),
        valid=True,
        model_version=model_version,
        probabilities=probabilities,
    )


def _top_effects(
    model: LogitModel, row: Sequence[float], count: int = 3
) -> list[tuple[str, float]]:
    effects = [
        (name, w * (x - m) / s)
        for name, w, x, m, s in zip(
            model.features, model.coefficients, row, model.means, model.scales, strict=True
        )
    ]
    return sorted(effects, key=lambda item: (-abs(item[1]), item[0]))[:count]


class LearnedPredictor:
    """Predicts with the model stored in the prompt version. Parsed models are kept by
    their numbers' JSON, so a race costs its card, one hash and a few hundred
    multiplications; the hash is checked against the version's sha256 every time."""

    def __init__(self) -> None:
        self._models: LRU[bytes, LogitModel] = LRU(MODELS_KEPT)

    async def predict(self, card: RaceCard, prompt: Prompt) -> PredictionAnswer:
        return learned_answer(self.model(prompt.parameters), card, f"learned:{prompt.id}")

    def model(self, parameters: Mapping[str, Any]) -> LogitModel:
        body = orjson.dumps(parameters.get("model"), option=orjson.OPT_SORT_KEYS)
        found = self._models.get(body)
        if found is None:
            found = LogitModel.from_parameters(parameters)
            self._models.put(body, found)
        elif parameters.get("sha256") != hashlib.sha256(body).hexdigest():
            raise InvalidParameters("the model does not match its sha256", field="parameters")
        return found
