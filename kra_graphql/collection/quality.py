"""A data-quality score for a collected race: 1.0 is complete, each problem costs."""

from __future__ import annotations

from kra_graphql.kra.records import Race


def assess(race: Race) -> tuple[float, list[str]]:
    warnings = list(race.warnings)
    starters = [runner for runner in race.runners if not runner.scratched]
    if len(starters) < 2:
        warnings.append(f"only {len(starters)} starter(s)")
    if race.distance is None:
        warnings.append("distance missing")
    if missing := sum(1 for runner in starters if runner.jockey_no is None):
        warnings.append(f"{missing} starter(s) without a jockey")
    if missing := sum(1 for runner in starters if runner.carried_weight is None):
        warnings.append(f"{missing} starter(s) without carried weight")
    if race.has_results and (
        unplaced := sum(1 for r in starters if r.finish_position is None and r.finish_code is None)
    ):
        warnings.append(f"{unplaced} starter(s) without a finish position")
    if race.finished_without_placings:
        warnings.append("result published without placings")
    score = max(0.0, 1.0 - 0.1 * len(warnings))
    return round(score, 2), warnings
