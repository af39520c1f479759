"""Scoring predictions against results: pure functions, no I/O.

docs/metrics.md defines every figure here, with its formula and denominator; this module
follows it. In short:

- The actual top 3 is the first three placed runners by finish position, then gate (as
  the official order lists them), so a dead heat never makes it four and a prediction
  scores at most 3 correct. A race with no runner placed 1-3 (fog) has no top 3: it is
  excluded from every figure and counted as excluded.
- The accuracy figures (success rate, average correct, win hit, exact order, top-3 set,
  Brier, log-loss, calibration error, NDCG@3) are over the judged predictions: valid and
  not deferred. The `*_all` figures are over every scored race, invalid and deferred
  predictions counting as misses.
- Deferred predictions count only in coverage and in the betting return (no bet is
  placed on them).
- The `field_*` figures score each starter's win probability, over the judged predictions
  that carry probabilities (FORM, MARKET and LEARNED give them; the LLM does not).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Picks = tuple[int, int, int]

# Confidence is a whole percent, so 0 stands for "below half a percent": clipping there
# keeps one confident miss from making the log-loss infinite.
PROBABILITY_FLOOR = 0.005
CALIBRATION_BINS = 10
# Relevance of the winner, the second and the third for NDCG@3.
RELEVANCE = (3, 2, 1)


@dataclass(frozen=True, slots=True)
class RaceResult:
    race_id: str
    meet: int
    distance: int | None
    field_size: int  # starters (scratched runners left out)
    positions: Mapping[int, int]  # gate -> finishing position, placed runners only
    win_odds: Mapping[int, float] = field(default_factory=dict)  # final odds, where known

    @property
    def order(self) -> tuple[int, ...]:
        return actual_order(self.positions)

    @property
    def top3(self) -> frozenset[int] | None:
        return actual_top3(self.positions)


@dataclass(frozen=True, slots=True)
class ScoredPrediction:
    picks: Picks
    confidence: int  # 0-100, the stated probability that the first pick wins
    deferred: bool = False
    valid: bool = True
    # Each starter's win probability by gate, summing to 1; None when the predictor gave
    # only its confidence.
    probabilities: Mapping[int, float] | None = None


def actual_order(positions: Mapping[int, int | None]) -> tuple[int, ...]:
    """The gates placed 1-3, first three by position then gate (the official order):
    at most three, even after a dead heat."""
    placed = sorted(
        (pos, gate) for gate, pos in positions.items() if pos is not None and 1 <= pos <= 3
    )
    return tuple(gate for _, gate in placed[:3])


def actual_top3(positions: Mapping[int, int | None]) -> frozenset[int] | None:
    """The gates of the actual order as a set; None when nobody was placed."""
    return frozenset(actual_order(positions)) or None


def correct_count(picks: Iterable[int], top3: frozenset[int]) -> int:
    return len(set(picks) & top3)


def exact_order(picks: Picks, positions: Mapping[int, int]) -> bool:
    """Each pick finished in the place it was picked for; dead-heated runners may swap."""
    expected = sorted(positions.values())[:3]
    return [positions.get(pick) for pick in picks] == expected


def win_probability(prediction: ScoredPrediction) -> float:
    """The stated probability that the first pick wins, clipped away from 0 and 1."""
    return min(max(prediction.confidence / 100, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)


def _dcg(relevances: Sequence[int]) -> float:
    return sum(rel / math.log2(rank + 1) for rank, rel in enumerate(relevances, start=1))


def ndcg_at_3(picks: Picks, order: Sequence[int]) -> float:
    """Relevance 3 for the winner, 2 for the second, 1 for the third (of the actual
    order), 0 otherwise; DCG of the picks over DCG of the actual order."""
    relevance = {gate: RELEVANCE[index] for index, gate in enumerate(order[:3])}
    ideal = _dcg([relevance[gate] for gate in order[:3]])
    return _dcg([relevance.get(pick, 0) for pick in picks]) / ideal if ideal else 0.0


@dataclass(frozen=True, slots=True)
class FieldScore:
    """How the probabilities of every starter of one race fared."""

    winner_probability: float  # summed over the runners placed 1, unclipped
    brier: float  # sum over starters of (p - w)^2
    pairs: tuple[tuple[float, bool], ...]  # (probability, won) of each starter


def score_field(
    probabilities: Mapping[int, float], positions: Mapping[int, int]
) -> FieldScore | None:
    """None when no runner was placed 1: there is no winner to score against.

    The starters are the gates given a probability plus any placed gate missing from them
    (p = 0); each of the k runners placed 1 counts as 1/k of a win for Brier."""
    winners = {gate for gate, position in positions.items() if position == 1}
    if not winners:
        return None
    gates = sorted(set(probabilities) | set(positions))
    share = 1 / len(winners)
    return FieldScore(
        winner_probability=sum(probabilities.get(gate, 0.0) for gate in winners),
        brier=sum(
            (probabilities.get(gate, 0.0) - (share if gate in winners else 0.0)) ** 2
            for gate in gates
        ),
        pairs=tuple((probabilities.get(gate, 0.0), gate in winners) for gate in gates),
    )


@dataclass(frozen=True, slots=True)
class RaceScore:
    correct: int
    all_three: bool
    win_hit: bool
    exact_order: bool
    top3_set: bool
    covered: bool
    valid: bool
    profit: float | None  # 1-unit win bet on the first pick; None when no bet was placed
    brier: float
    probability: float  # clipped win probability of the first pick
    ndcg: float
    field: FieldScore | None = None  # None without per-starter probabilities

    @property
    def judged(self) -> bool:
        """Counts in the accuracy figures: a valid answer that was not deferred."""
        return self.valid and self.covered


def score_race(prediction: ScoredPrediction, result: RaceResult) -> RaceScore | None:
    """None when the race has no top 3 (excluded)."""
    order = result.order
    if not order:
        return None
    top3 = frozenset(order)
    first = prediction.picks[0]
    won = result.positions.get(first) == 1
    odds = result.win_odds.get(first)
    profit = None
    if not prediction.deferred and odds is not None:
        profit = odds - 1.0 if won else -1.0
    correct = correct_count(prediction.picks, top3)
    return RaceScore(
        correct=correct,
        all_three=correct == 3,
        win_hit=won,
        exact_order=exact_order(prediction.picks, result.positions),
        top3_set=set(prediction.picks) == top3,
        covered=not prediction.deferred,
        valid=prediction.valid,
        profit=profit,
        brier=(prediction.confidence / 100 - (1.0 if won else 0.0)) ** 2,
        probability=win_probability(prediction),
        ndcg=ndcg_at_3(prediction.picks, order),
        field=(
            None
            if prediction.probabilities is None
            else score_field(prediction.probabilities, result.positions)
        ),
    )


@dataclass(frozen=True, slots=True)
class Summary:
    races: int  # scored races: every race asked that has a top 3
    excluded: int  # races without a top 3
    judged: int  # scored races whose prediction is valid and not deferred
    success_rate: float  # all three of the top 3 picked, over judged
    success_rate_all: float  # the same over every scored race
    average_correct: float  # over judged
    average_correct_all: float  # over every scored race, 0 for invalid or deferred
    win_hit_rate: float  # over judged
    exact_order_rate: float  # over judged
    top3_set_rate: float  # the picks are exactly the top 3, over judged
    coverage: float  # not deferred, over every scored race
    valid_rate: float  # over every scored race
    bets: int
    profit: float  # total over the bets
    return_per_bet: float | None  # mean profit of a 1-unit win bet; None without bets
    brier: float | None  # "first pick wins" at confidence/100, over judged; None without
    log_loss: float | None  # same event and probability (clipped), over judged
    calibration_error: float | None  # ECE, 10 equal-width bins, over judged
    ndcg_at_3: float | None  # over judged
    # Over the judged predictions that carry per-starter probabilities; None without.
    field_log_loss: float | None = None  # mean -ln max(P(winner), floor)
    field_brier: float | None = None  # mean over races of the sum over starters
    field_calibration_error: float | None = None  # ECE over every (starter, won) pair

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def expected_calibration_error(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """Sum over 10 equal-width probability bins of |mean probability - win rate| weighted
    by the bin's share of the predictions; a probability of exactly 1 joins the top bin."""
    if not pairs:
        return None
    bins: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for probability, won in pairs:
        bins[min(int(probability * CALIBRATION_BINS), CALIBRATION_BINS - 1)].append(
            (probability, won)
        )
    total = len(pairs)
    error = 0.0
    for members in bins.values():
        mean_p = sum(p for p, _ in members) / len(members)
        rate = sum(1 for _, won in members if won) / len(members)
        error += len(members) / total * abs(mean_p - rate)
    return error


def summarize(scores: Iterable[RaceScore], *, excluded: int = 0) -> Summary:
    scored = list(scores)
    n = len(scored)
    judged = [s for s in scored if s.judged]
    j = len(judged)

    def over_judged(flag: Callable[[RaceScore], bool]) -> float:
        return sum(1 for s in judged if flag(s)) / j if j else 0.0

    def over_all(flag: Callable[[RaceScore], bool]) -> float:
        return sum(1 for s in scored if flag(s)) / n if n else 0.0

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    profits = [s.profit for s in scored if s.profit is not None]
    fields = [s.field for s in judged if s.field is not None]
    judged_correct = sum(s.correct for s in judged)
    return Summary(
        races=n,
        excluded=excluded,
        judged=j,
        success_rate=over_judged(lambda s: s.all_three),
        success_rate_all=over_all(lambda s: s.judged and s.all_three),
        average_correct=judged_correct / j if j else 0.0,
        average_correct_all=judged_correct / n if n else 0.0,
        win_hit_rate=over_judged(lambda s: s.win_hit),
        exact_order_rate=over_judged(lambda s: s.exact_order),
        top3_set_rate=over_judged(lambda s: s.top3_set),
        coverage=over_all(lambda s: s.covered),
        valid_rate=over_all(lambda s: s.valid),
        bets=len(profits),
        profit=sum(profits),
        return_per_bet=mean(profits),
        brier=mean([s.brier for s in judged]),
        log_loss=mean(
            [-math.log(s.probability if s.win_hit else 1 - s.probability) for s in judged]
        ),
        calibration_error=expected_calibration_error([(s.probability, s.win_hit) for s in judged]),
        ndcg_at_3=mean([s.ndcg for s in judged]),
        field_log_loss=mean(
            [-math.log(max(f.winner_probability, PROBABILITY_FLOOR)) for f in fields]
        ),
        field_brier=mean([f.brier for f in fields]),
        field_calibration_error=expected_calibration_error(
            [pair for f in fields for pair in f.pairs]
        ),
    )


def distance_band(distance: int | None) -> str:
    if distance is None:
        return "unknown"
    if distance <= 1200:
        return "<=1200"
    if distance < 1800:
        return "1300-1700"
    return ">=1800"


def field_size_band(field_size: int) -> str:
    if field_size <= 8:
        return "<=8"
    if field_size <= 11:
        return "9-11"
    return ">=12"


@dataclass(frozen=True, slots=True)
class Report:
    overall: Summary
    by_meet: dict[str, Summary]
    by_distance: dict[str, Summary]
    by_field_size: dict[str, Summary]
    race_ids: tuple[str, ...] = ()  # every race evaluated, excluded ones too

    @property
    def race_set(self) -> str | None:
        """sha256 of the sorted race ids, one per line; None when no race was evaluated."""
        if not self.race_ids:
            return None
        return hashlib.sha256("\n".join(sorted(set(self.race_ids))).encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_json(),
            "by_meet": {k: v.as_json() for k, v in self.by_meet.items()},
            "by_distance": {k: v.as_json() for k, v in self.by_distance.items()},
            "by_field_size": {k: v.as_json() for k, v in self.by_field_size.items()},
        }


def _summary_of(pairs: list[tuple[ScoredPrediction, RaceResult]]) -> Summary:
    scores = [score_race(prediction, result) for prediction, result in pairs]
    kept = [s for s in scores if s is not None]
    return summarize(kept, excluded=len(scores) - len(kept))


def _by(
    pairs: list[tuple[ScoredPrediction, RaceResult]], key: Callable[[RaceResult], str]
) -> dict[str, Summary]:
    groups: dict[str, list[tuple[ScoredPrediction, RaceResult]]] = defaultdict(list)
    for prediction, result in pairs:
        groups[key(result)].append((prediction, result))
    return {name: _summary_of(groups[name]) for name in sorted(groups)}


def evaluate(pairs: Iterable[tuple[ScoredPrediction, RaceResult]]) -> Report:
    """Every metric overall and by meet, distance band and field-size band."""
    listed = list(pairs)
    return Report(
        overall=_summary_of(listed),
        by_meet=_by(listed, lambda r: str(r.meet)),
        by_distance=_by(listed, lambda r: distance_band(r.distance)),
        by_field_size=_by(listed, lambda r: field_size_band(r.field_size)),
        race_ids=tuple(result.race_id for _, result in listed),
    )
