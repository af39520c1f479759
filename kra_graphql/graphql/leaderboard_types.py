"""promptLeaderboard over GraphQL: translation only (prediction/leaderboard.py decides)."""

from __future__ import annotations

import strawberry

from kra_graphql.graphql.types import Evaluation, Info, Prompt
from kra_graphql.prediction.leaderboard import Leaderboard, LeaderboardFilter, prompt_leaderboard
from kra_graphql.races.dates import parse_date_range
from kra_graphql.races.models import check_meet


@strawberry.input(description="Races of the evaluations to compare: all must lie inside.")
class PromptLeaderboardFilter:
    date_from: str | None = None
    date_to: str | None = None
    meet: int | None = None

    def to_filter(self) -> LeaderboardFilter:
        start, end = parse_date_range(self.date_from, self.date_to, field="filter")
        meet = check_meet(self.meet, field="filter.meet") if self.meet is not None else None
        return LeaderboardFilter(date_from=start, date_to=end, meet=meet)


@strawberry.type
class LeaderboardEntry:
    rank: int = strawberry.field(description="1 for the best; equal figures share a rank.")
    prompt: Prompt
    evaluation: Evaluation = strawberry.field(
        description="The prompt version's newest evaluation on the race set."
    )


@strawberry.type(
    description="Prompt versions ranked by their evaluations on one and the same set of "
    "races: by averageCorrect, then successRate, both higher first. Of the race sets whose "
    "races all lie in the filter, the set evaluated by the most prompt versions is ranked "
    "(then the larger set, then the most recently evaluated); each version counts with its "
    "newest evaluation on that set."
)
class PromptLeaderboard:
    race_count: int = strawberry.field(description="Races in the compared set (0: none).")
    race_set: str | None = strawberry.field(
        description="sha256 of the set's sorted race ids, one per line."
    )
    entries: list[LeaderboardEntry]


async def leaderboard(
    info: Info, filter: PromptLeaderboardFilter | None = None
) -> PromptLeaderboard:
    where = filter.to_filter() if filter else LeaderboardFilter()
    board: Leaderboard = await info.context.read(lambda session: prompt_leaderboard(session, where))
    prompts = await info.context.loaders.prompt.load_many(
        [standing.evaluation.prompt_id for standing in board.standings]
    )
    return PromptLeaderboard(
        race_count=board.race_count,
        race_set=board.race_set,
        entries=[
            LeaderboardEntry(
                rank=standing.rank,
                prompt=Prompt(prompt),
                evaluation=Evaluation(standing.evaluation),
            )
            for standing, prompt in zip(board.standings, prompts, strict=True)
            if prompt is not None
        ],
    )
