"""Every metric against small races worked out by hand."""

from __future__ import annotations

import pytest

from kra_graphql.prediction.metrics import (
    RaceResult,
    ScoredPrediction,
    Summary,
    actual_top3,
    correct_count,
    distance_band,
    evaluate,
    exact_order,
    field_size_band,
    score_race,
    summarize,
)

# R1: Seoul 1200 m, 5 starters, a plain result; the picks are exactly right.
R1 = RaceResult(
    race_id="r1",
    meet=1,
    distance=1200,
    field_size=5,
    positions={2: 1, 1: 2, 3: 3, 4: 4, 5: 5},
    win_odds={2: 3.0, 1: 5.0},
)
P1 = ScoredPrediction(picks=(2, 1, 3), confidence=60)

# R2: Jeju 1400 m, 9 starters, dead heat for the win (1, 1, 3); gate 6 did not finish (92).
R2 = RaceResult(
    race_id="r2",
    meet=2,
    distance=1400,
    field_size=9,
    positions={4: 1, 7: 1, 2: 3, 1: 4, 3: 5, 5: 6, 8: 7, 9: 8},
    win_odds={7: 2.5, 4: 6.0},
)
P2 = ScoredPrediction(picks=(7, 4, 1), confidence=30, deferred=True)

# R3: Seoul 1800 m, 12 starters, dead heat for third (1, 2, 3, 3): the top 3 is 5, 6, 8
# (8 is listed before 9).
R3 = RaceResult(
    race_id="r3",
    meet=1,
    distance=1800,
    field_size=12,
    positions={5: 1, 6: 2, 8: 3, 9: 3, 1: 5, 2: 6},
    win_odds={6: 4.0},
)
P3 = ScoredPrediction(picks=(6, 5, 9), confidence=20, valid=False)

# R4: Jeju 1200 m in fog, 8 starters, every runner 99: no positions, so excluded.
R4 = RaceResult(race_id="r4", meet=2, distance=1200, field_size=8, positions={})
P4 = ScoredPrediction(picks=(1, 2, 3), confidence=90)


def test_actual_top3_handles_dead_heats_codes_and_fog() -> None:
    # 2025-05-16 Jeju R8 shape: 1, 1, 3 -> three gates.
    assert actual_top3({1: 1, 2: 1, 3: 3, 4: 4}) == frozenset({1, 2, 3})
    # 2025-05-18 Seoul R4 shape: 1, 2, 2, 4 -> three gates, the 4th is out.
    assert actual_top3({1: 1, 2: 2, 3: 2, 4: 4}) == frozenset({1, 2, 3})
    # Dead heat for third: the official order lists the lower gate first; three gates.
    assert actual_top3({1: 1, 2: 2, 3: 3, 4: 3}) == frozenset({1, 2, 3})
    assert actual_top3({1: 1, 2: 2, 4: 3, 3: 3}) == frozenset({1, 2, 3})
    # Non-finishing runners have no position.
    assert actual_top3({1: None, 2: 1, 3: 2, 4: 3}) == frozenset({2, 3, 4})
    # Fog: nobody placed.
    assert actual_top3({1: None, 2: None}) is None
    assert actual_top3({}) is None


def test_correct_count_and_exact_order() -> None:
    assert correct_count((2, 1, 3), frozenset({1, 2, 3})) == 3
    assert correct_count((7, 4, 1), frozenset({4, 7, 2})) == 2
    assert correct_count((8, 9, 10), frozenset({1, 2, 3})) == 0
    # Order 1, 2, 3 exactly.
    assert exact_order((2, 1, 3), R1.positions)
    assert not exact_order((1, 2, 3), R1.positions)
    # Dead heat for the win: the two winners may come in either order.
    assert exact_order((4, 7, 2), R2.positions)
    assert exact_order((7, 4, 2), R2.positions)
    assert not exact_order((7, 2, 4), R2.positions)
    # 1, 2, 2, 4: the two seconds may swap.
    heat = {10: 1, 11: 2, 12: 2, 13: 4}
    assert exact_order((10, 12, 11), heat)
    # Picks 1, 3, 3 miss the runner placed second: not exact although all are top 3.
    assert not exact_order((5, 8, 9), R3.positions)


def test_score_of_each_race() -> None:
    s1 = score_race(P1, R1)
    assert s1 is not None
    assert (s1.correct, s1.all_three, s1.win_hit, s1.exact_order, s1.top3_set) == (
        3,
        True,
        True,
        True,
        True,
    )
    assert s1.profit == pytest.approx(2.0)  # won at 3.0: 3.0 - 1
    assert s1.brier == pytest.approx(0.16)  # (0.60 - 1)^2

    s2 = score_race(P2, R2)
    assert s2 is not None
    # {7, 4, 1} & {4, 7, 2} = {7, 4}; gate 7 shares first place, so the win counts.
    assert (s2.correct, s2.all_three, s2.win_hit, s2.exact_order, s2.top3_set) == (
        2,
        False,
        True,
        False,
        False,
    )
    assert s2.profit is None  # deferred: no bet
    assert not s2.covered
    assert s2.brier == pytest.approx(0.49)  # (0.30 - 1)^2

    s3 = score_race(P3, R3)
    assert s3 is not None
    # All three picks placed <= 3, but the top 3 is {5, 6, 8}: gate 9 is listed fourth.
    assert (s3.correct, s3.all_three, s3.win_hit, s3.exact_order, s3.top3_set) == (
        2,
        False,
        False,
        False,
        False,
    )
    assert s3.profit == pytest.approx(-1.0)  # gate 6 lost at 4.0
    assert not s3.valid
    assert s3.brier == pytest.approx(0.04)  # (0.20 - 0)^2

    assert score_race(P4, R4) is None


def test_overall_summary_by_hand() -> None:
    report = evaluate([(P1, R1), (P2, R2), (P3, R3), (P4, R4)])
    overall = report.overall
    assert overall.races == 3
    assert overall.excluded == 1
    # Judged (valid, not deferred): R1 only; R2 is deferred, R3 invalid.
    assert overall.judged == 1
    assert overall.success_rate == pytest.approx(1.0)  # R1 over {R1}
    assert overall.success_rate_all == pytest.approx(1 / 3)  # R1 over {R1, R2, R3}
    assert overall.average_correct == pytest.approx(3.0)
    assert overall.average_correct_all == pytest.approx(1.0)  # (3 + 0 + 0) / 3
    assert overall.win_hit_rate == pytest.approx(1.0)
    assert overall.exact_order_rate == pytest.approx(1.0)
    assert overall.top3_set_rate == pytest.approx(1.0)
    assert overall.coverage == pytest.approx(2 / 3)  # R2 deferred
    assert overall.valid_rate == pytest.approx(2 / 3)  # R3 invalid
    assert overall.bets == 2  # R1 and R3; R2 deferred
    assert overall.profit == pytest.approx(1.0)  # +2 - 1
    assert overall.return_per_bet == pytest.approx(0.5)  # 1.0 / 2
    assert overall.brier == pytest.approx(0.16)  # R1 only: (0.60 - 1)^2


def test_breakdowns_by_hand() -> None:
    report = evaluate([(P1, R1), (P2, R2), (P3, R3), (P4, R4)])

    assert sorted(report.by_meet) == ["1", "2"]
    seoul = report.by_meet["1"]  # R1, R3
    assert (seoul.races, seoul.excluded) == (2, 0)
    assert seoul.judged == 1  # R3 is invalid
    assert seoul.success_rate == pytest.approx(1.0)  # 1 / 1
    assert seoul.success_rate_all == pytest.approx(0.5)  # 1 / 2
    assert seoul.average_correct == pytest.approx(3.0)
    assert seoul.win_hit_rate == pytest.approx(1.0)  # R1
    assert seoul.return_per_bet == pytest.approx(0.5)  # (+2 - 1) / 2: R3's bet stands
    assert seoul.brier == pytest.approx(0.16)  # R1 only
    jeju = report.by_meet["2"]  # R2 scored, R4 excluded
    assert (jeju.races, jeju.excluded) == (1, 1)
    assert jeju.judged == 0  # R2 deferred
    assert jeju.average_correct == pytest.approx(0.0)
    assert jeju.brier is None
    assert jeju.bets == 0
    assert jeju.return_per_bet is None
    assert jeju.coverage == pytest.approx(0.0)

    assert sorted(report.by_distance) == ["1300-1700", "<=1200", ">=1800"]
    short = report.by_distance["<=1200"]  # R1 scored, R4 excluded
    assert (short.races, short.excluded, short.success_rate) == (1, 1, 1.0)
    assert report.by_distance["1300-1700"].coverage == pytest.approx(0.0)  # R2 deferred
    assert report.by_distance[">=1800"].win_hit_rate == pytest.approx(0.0)  # R3

    assert sorted(report.by_field_size) == ["9-11", "<=8", ">=12"]
    small = report.by_field_size["<=8"]  # R1 (5) scored, R4 (8) excluded
    assert (small.races, small.excluded) == (1, 1)
    assert report.by_field_size["9-11"].races == 1  # R2 (9)
    assert report.by_field_size[">=12"].races == 1  # R3 (12)


def test_bands() -> None:
    assert [distance_band(d) for d in (1000, 1200, 1300, 1700, 1800, 2300, None)] == [
        "<=1200",
        "<=1200",
        "1300-1700",
        "1300-1700",
        ">=1800",
        ">=1800",
        "unknown",
    ]
    assert [field_size_band(n) for n in (3, 8, 9, 11, 12, 16)] == [
        "<=8",
        "<=8",
        "9-11",
        "9-11",
        ">=12",
        ">=12",
    ]


def test_empty_and_all_excluded() -> None:
    assert summarize([]) == Summary(
        races=0,
        excluded=0,
        judged=0,
        success_rate=0.0,
        success_rate_all=0.0,
        average_correct=0.0,
        average_correct_all=0.0,
        win_hit_rate=0.0,
        exact_order_rate=0.0,
        top3_set_rate=0.0,
        coverage=0.0,
        valid_rate=0.0,
        bets=0,
        profit=0.0,
        return_per_bet=None,
        brier=None,
        log_loss=None,
        calibration_error=None,
        ndcg_at_3=None,
    )
    report = evaluate([(P4, R4)])
    assert (report.overall.races, report.overall.excluded) == (0, 1)
    assert report.as_json()["overall"]["excluded"] == 1


def test_dead_heat_winner_bet_pays_its_odds() -> None:
    # Gate 7 dead-heated for first at 2.5: profit 2.5 - 1 = 1.5 on a 1-unit bet.
    score = score_race(ScoredPrediction(picks=(7, 2, 1), confidence=50), R2)
    assert score is not None
    assert score.win_hit
    assert score.profit == pytest.approx(1.5)
    assert score.brier == pytest.approx(0.25)  # (0.5 - 1)^2
