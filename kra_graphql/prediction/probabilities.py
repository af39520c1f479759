"""Each starter's win probability as a prediction stores it: `{"<gate>": p}` in JSON.

JSON object keys are strings, so gates are written as text and read back as numbers.
Evaluations score the stored (rounded) values, so scoring a prediction again from its
row gives the same figures as scoring it when it was made.
"""

from __future__ import annotations

from collections.abc import Mapping

DECIMALS = 6


def to_stored(probabilities: Mapping[int, float] | None) -> dict[str, float] | None:
    """By gate, rounded to six decimals; None stays None (the predictor gave none)."""
    if probabilities is None:
        return None
    return {str(gate): round(probabilities[gate], DECIMALS) for gate in sorted(probabilities)}


def from_stored(stored: Mapping[str, float] | None) -> dict[int, float] | None:
    if stored is None:
        return None
    return {int(gate): float(probability) for gate, probability in stored.items()}


def as_stored(probabilities: Mapping[int, float] | None) -> dict[int, float] | None:
    """What reading the stored probabilities back gives: scored fresh, a prediction gets
    the same figures as scored again from its row."""
    return from_stored(to_stored(probabilities))
