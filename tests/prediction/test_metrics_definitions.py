"""Each figure of docs/metrics.md on races worked out by hand, dead heat and deferral
included."""

from __future__ import annotations

import math

import pytest

from kra_graphql.prediction.metrics import (
    RaceResult,
    ScoredPrediction,
    actual_order,
    evaluate,
    expected_calibration_error,
    ndcg_at_3,
    score_race,
)

IDEAL = 3 + 2 / math.log2(3) + 1 / 2  # DCG of relevances 3, 2, 1

# A: plain result 1-2-3 = gates 2, 1, 3; picks exactly right at 60 %.
A = RaceResult("a", 1, 1200, 5, {2: 1, 1: 2, 3: 3, 4: 4, 5: 5}, {2: 3.0})
PA = ScoredPrediction((2, 1, 3), 60)
# B: dead heat for third (1, 2, 3, 3): gates 5, 6, then 8 and 9 tied; the official order
# lists 8 before 9, so the top 3 is 5, 6, 8. Picks 6, 5, 9 at 20 %: two correct.
B = RaceResult("b", 1, 1800, 12, {5: 1, 6: 2, 9: 3, 8: 3, 1: 5}, {6: 4.0})
PB = ScoredPrediction((6, 5, 9), 20)
# C: deferred (30 % below the threshold): 2 correct, its first pick won; no bet.
C = RaceResult("c", 2, 1400, 9, {4: 1, 7: 2, 2: 3, 1: 4}, {7: 2.5, 4: 6.0})
PC = ScoredPrediction((4, 7, 1), 30, deferred=True)
# D: invalid answer (the form order stood in): all three right, but it is a miss.
D = RaceResult("d", 2, 1200, 8, {1: 1, 2: 2, 3: 3}, {1: 2.0})
PD = ScoredPrediction((1, 2, 3), 90, valid=False)
# E: fog, nobody placed: excluded from everything.
E = RaceResult("e", 2, 1200, 8, {})
PE = ScoredPrediction((1, 2, 3), 50)


def test_dead_heats_resolve_to_three_runners_by_position_then_gate() -> None:
    assert actual_order(B.positions) == (5, 6, 8)
    assert actual_order({1: 1, 2: 1, 3: 3, 4: 4}) == (1, 2, 3)
    assert actual_order({4: 1, 3: 1, 2: 1, 1: 1}) == (1, 2, 3)  # four-way dead heat
    assert actual_order({1: None, 2: 2, 3: 1}) == (3, 2)
    score = score_race(ScoredPrediction((5, 6, 9), 50), B)
    assert score is not None
    assert score.correct == 2  # 9 tied for third but is listed fourth
    four_way = score_race(
        ScoredPrediction((1, 2, 3), 50), RaceResult("x", 1, 1, 4, {4: 1, 3: 1, 2: 1, 1: 1})
    )
    assert four_way is not None
    assert four_way.correct == 3


def test_ndcg_at_3_by_hand() -> None:
    assert ndcg_at_3((2, 1, 3), (2, 1, 3)) == pytest.approx(1.0)
    # Picks 6, 5, 9 against 5, 6, 8: relevances 2, 3, 0.
    assert ndcg_at_3((6, 5, 9), (5, 6, 8)) == pytest.approx((2 + 3 / math.log2(3)) / IDEAL)
    assert ndcg_at_3((7, 8, 9), (1, 2, 3)) == 0.0
    # Only two placed: the ideal is 3 + 2/log2(3).
    assert ndcg_at_3((3, 9, 2), (3, 2)) == pytest.approx((3 + 2 / 2) / (3 + 2 / math.log2(3)))


def test_calibration_error_by_hand() -> None:
    # Bin 6 (0.6-0.7): p 0.6, won -> |0.6 - 1| = 0.4; bin 2: p 0.2, lost -> 0.2.
    assert expected_calibration_error([(0.6, True), (0.2, False)]) == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.2
    )
    # One bin, mean p 0.35 vs win rate 0.5.
    assert expected_calibration_error([(0.31, True), (0.39, False)]) == pytest.approx(0.15)
    # p = 1 joins the top bin.
    assert expected_calibration_error([(1.0, True), (0.95, True)]) == pytest.approx(0.025)
    assert expected_calibration_error([]) is None


def test_every_figure_over_its_denominator() -> None:
    overall = evaluate([(PA, A), (PB, B), (PC, C), (PD, D), (PE, E)]).overall
    assert (overall.races, overall.excluded, overall.judged) == (4, 1, 2)  # A, B judged
    # successRate: A over {A, B}; successRateAll: A over {A, B, C, D}.
    assert overall.success_rate == pytest.approx(1 / 2)
    assert overall.success_rate_all == pytest.approx(1 / 4)
    # averageCorrect: (3 + 2) / 2; averageCorrectAll: (3 + 2 + 0 + 0) / 4.
    assert overall.average_correct == pytest.approx(2.5)
    assert overall.average_correct_all == pytest.approx(1.25)
    assert overall.win_hit_rate == pytest.approx(1 / 2)  # A won; B's gate 6 was second
    assert overall.exact_order_rate == pytest.approx(1 / 2)  # A
    assert overall.top3_set_rate == pytest.approx(1 / 2)  # A
    assert overall.coverage == pytest.approx(3 / 4)  # C deferred
    assert overall.valid_rate == pytest.approx(3 / 4)  # D invalid
    # Bets: A (+2.0), B (-1.0), D (+1.0: gate 1 won at 2.0); C deferred, no bet.
    assert overall.bets == 3
    assert overall.profit == pytest.approx(2.0)
    assert overall.return_per_bet == pytest.approx(2 / 3)
    # Brier over A, B: ((0.6 - 1)^2 + (0.2 - 0)^2) / 2.
    assert overall.brier == pytest.approx((0.16 + 0.04) / 2)
    # Log-loss: (-ln 0.6 - ln 0.8) / 2.
    assert overall.log_loss == pytest.approx((-math.log(0.6) - math.log(0.8)) / 2)
    assert overall.calibration_error == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)
    assert overall.ndcg_at_3 == pytest.approx((1 + (2 + 3 / math.log2(3)) / IDEAL) / 2)


def test_deferral_counts_only_in_coverage_and_return() -> None:
    without = evaluate([(PA, A), (PB, B)]).overall
    deferred = evaluate([(PA, A), (PB, B), (PC, C)]).overall
    for name in (
        "success_rate", "average_correct", "win_hit_rate", "exact_order_rate",
        "top3_set_rate", "brier", "log_loss", "calibration_error", "ndcg_at_3",
    ):  # fmt: skip
        assert getattr(deferred, name) == pytest.approx(getattr(without, name)), name
    assert without.coverage == 1.0
    assert deferred.coverage == pytest.approx(2 / 3)
    assert (without.bets, deferred.bets) == (2, 2)


def test_confidence_at_the_bounds_is_clipped_for_log_loss() -> None:
    sure_miss = ScoredPrediction((5, 2, 1), 100)  # gate 5 was fourth
    overall = evaluate([(sure_miss, A)]).overall
    assert overall.log_loss == pytest.approx(-math.log(0.005))
    assert overall.brier == pytest.approx(1.0)


def test_no_judged_prediction_leaves_probability_figures_undefined() -> None:
    overall = evaluate([(PC, C), (PD, D)]).overall
    assert (overall.races, overall.judged) == (2, 0)
    assert (overall.success_rate, overall.average_correct) == (0.0, 0.0)
    assert (overall.success_rate_all, overall.average_correct_all) == (0.0, 0.0)
    assert (overall.brier, overall.log_loss, overall.calibration_error, overall.ndcg_at_3) == (
        None,
        None,
        None,
        None,
    )
    assert overall.coverage == pytest.approx(1 / 2)


def test_race_set_is_the_hash_of_the_sorted_race_ids() -> None:
    one = evaluate([(PA, A), (PB, B), (PE, E)])
    other = evaluate([(PE, E), (PB, B), (PA, A)])
    assert one.race_set == other.race_set is not None
    assert len(one.race_set or "") == 64
    assert evaluate([(PA, A), (PB, B)]).race_set != one.race_set
    assert evaluate([]).race_set is None


# Per-starter probabilities. F1 on race A (gate 2 won): P(winner) 0.5;
# Brier (0.5 - 1)^2 + 0.2^2 + 3 × 0.1^2 = 0.32.
F1 = ScoredPrediction((2, 1, 3), 50, probabilities={2: 0.5, 1: 0.2, 3: 0.1, 4: 0.1, 5: 0.1})
# H: dead heat for first between gates 1 and 2, so each is half a win.
H = RaceResult("h", 1, 1200, 4, {1: 1, 2: 1, 3: 3, 4: 4})
# P(winner) 0.4 + 0.1 = 0.5; Brier (0.4 - 0.5)^2 + (0.1 - 0.5)^2 + 0.3^2 + 0.2^2 = 0.30.
FH = ScoredPrediction((1, 3, 4), 40, probabilities={1: 0.4, 2: 0.1, 3: 0.3, 4: 0.2})


def test_field_figures_by_hand_with_a_dead_heat_for_first() -> None:
    # PB gives no probabilities: it counts in the first-pick figures only.
    overall = evaluate([(F1, A), (FH, H), (PB, B)]).overall
    assert overall.judged == 3
    assert overall.field_log_loss == pytest.approx((-math.log(0.5) - math.log(0.5)) / 2)
    assert overall.field_brier == pytest.approx((0.32 + 0.30) / 2)
    # Nine (probability, won) pairs. Bins: 0.5 won -> 0.5; 0.4 won -> 0.6; 0.3 lost -> 0.3;
    # two 0.2 lost -> 0.2 each; 0.1 × 3 lost and 0.1 won -> |0.1 - 0.25| = 0.15 each.
    assert overall.field_calibration_error == pytest.approx(
        (0.5 + 0.6 + 0.3 + 2 * 0.2 + 4 * 0.15) / 9
    )
    # The first-pick figures keep their definition: confidence / 100 against "p1 won".
    assert overall.brier == pytest.approx(((0.5 - 1) ** 2 + (0.4 - 1) ** 2 + 0.2**2) / 3)


def test_field_figures_skip_deferred_and_are_null_without_probabilities() -> None:
    deferred = ScoredPrediction((1, 3, 4), 40, deferred=True, probabilities={1: 1.0})
    with_deferred = evaluate([(F1, A), (deferred, H)]).overall
    assert with_deferred.field_log_loss == pytest.approx(-math.log(0.5))
    assert with_deferred.field_brier == pytest.approx(0.32)
    none = evaluate([(PA, A), (PB, B)]).overall
    assert (none.field_log_loss, none.field_brier, none.field_calibration_error) == (
        None,
        None,
        None,
    )
    assert none.log_loss is not None


def test_a_placed_gate_missing_from_the_probabilities_counts_at_zero() -> None:
    # Gate 1 won but was given nothing: P(winner) is floored at 0.005.
    missing = ScoredPrediction((2, 3, 4), 60, probabilities={2: 0.6, 3: 0.4})
    result = RaceResult("m", 1, 1200, 3, {1: 1, 2: 2, 3: 3})
    overall = evaluate([(missing, result)]).overall
    assert overall.field_log_loss == pytest.approx(-math.log(0.005))
    assert overall.field_brier == pytest.approx(1.0 + 0.36 + 0.16)
    # Pairs (0, won) (0.6, lost) (0.4, lost), one bin each.
    assert overall.field_calibration_error == pytest.approx((1.0 + 0.6 + 0.4) / 3)
