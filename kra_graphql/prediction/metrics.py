"""Scoring predictions against results: pure functions, no I/O.

Positions follow the KRA convention: dead heats share a position and skip the next
(1, 1, 3), so a runner is in the top 3 when its position is at most 3, and the top 3 can
hold more than three runners. Runners with a non-finishing code have no position. A race
with no runner placed 1-3 (every runner 99 in fog, say) has no top 3: it is excluded
from every rate and counted as excluded.

All rates are over the scored (not excluded) races, deferred predictions included; the
betting return is over the bets actually placed: not deferred, first pick's odds known.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

Picks = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class RaceResult:
    race_id: str
    meet: int
    distance: int | None
    field_size: int  # starters (scratched runners left out)
    positions: Mapping[int, int]  # gate -> finishing position, placed runners only
    win_odds: Mapping[int, float] = field(default_factory=dict)  # final odds, where known

    @property
    def top3(self) -> frozenset[int] | None:
        return actual_top3(self.positions)


@dataclass(frozen=True, slots=True)
class ScoredPrediction:
    picks: Picks
    confidence: int  # 0-100, the stated probability that the first pick wins
    deferred: bool = False
    valid: bool = True


def actual_top3(positions: Mapping[int, int | None]) -> frozenset[int] | None:
    """Gates placed 1-3 (more than three after a dead heat); None when there are none."""
    top = frozenset(gate for gate, pos in positions.items() if pos is not None and 1 <= pos <= 3)
    return top or None


def correct_count(picks: Iterable[int], top3: frozenset[int]) -> int:
    return len(set(picks) & top3)


def exact_order(picks: Picks, positions: Mapping[int, int]) -> bool:
    """Each pick finished in the place it was picked for; dead-heated runners may swap."""
    expected = sorted(positions.values())[:3]
    return [positions.get(pick) for pick in picks] == expected


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


def score_race(prediction: ScoredPrediction, result: RaceResult) -> RaceScore | None:
    """None when the race has no top 3 (excluded)."""
    top3 = result.top3
    if top3 is None:
        return None
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
    )


@dataclass(frozen=True, slots=True)
class Summary:
    races: int  # scored races
    excluded: int  # races without a top 3
    success_rate: float  # all three picks in the top 3, any order
    average_correct: float
    win_hit_rate: float
    exact_order_rate: float
    top3_set_rate: float  # the picks are exactly the top 3 (fails when a dead heat makes 4)
    coverage: float  # not deferred
    valid_rate: float
    bets: int
    profit: float  # total over the bets
    return_per_bet: float | None  # mean profit of a 1-unit win bet; None without bets
    brier: float | None  # "first pick wins" at confidence/100; None without races

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(scores: Iterable[RaceScore], *, excluded: int = 0) -> Summary:
    scored = list(scores)
    n = len(scored)

    def rate(flag: Callable[[RaceScore], bool]) -> float:
        return sum(1 for s in scored if flag(s)) / n if n else 0.0

    profits = [s.profit for s in scored if s.profit is not None]
    return Summary(
        races=n,
        excluded=excluded,
        success_rate=rate(lambda s: s.all_three),
        average_correct=sum(s.correct for s in scored) / n if n else 0.0,
        win_hit_rate=rate(lambda s: s.win_hit),
        exact_order_rate=rate(lambda s: s.exact_order),
        top3_set_rate=rate(lambda s: s.top3_set),
        coverage=rate(lambda s: s.covered),
        valid_rate=rate(lambda s: s.valid),
        bets=len(profits),
        profit=sum(profits),
        return_per_bet=sum(profits) / len(profits) if profits else None,
        brier=sum(s.brier for s in scored) / n if n else None,
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
    )
