"""The input of `backfillRaces`."""

from __future__ import annotations

import strawberry

from kra_graphql.collection.backfill import MAX_BACKFILL_DAYS, BackfillParams, check_backfill


@strawberry.input(
    description=f"Collect every race day of a range (at most {MAX_BACKFILL_DAYS} days), "
    "one collection job per day and meet."
)
class BackfillRacesInput:
    date_from: str = strawberry.field(description="First day, inclusive, YYYYMMDD or ISO.")
    date_to: str = strawberry.field(description="Last day, inclusive.")
    meets: list[int] | None = strawberry.field(
        default=None, description="1 (Seoul), 2 (Jeju), 3 (Busan-Gyeongnam); all when omitted."
    )
    enrich: bool = strawberry.field(default=True, description="Fetch horse/jockey/trainer details.")
    with_results: bool = strawberry.field(default=True, description="Store results once out.")
    force: bool = strawberry.field(
        default=False, description="Collect days again even when already collected completely."
    )

    def to_params(self) -> BackfillParams:
        return check_backfill(
            self.date_from,
            self.date_to,
            self.meets,
            enrich=self.enrich,
            with_results=self.with_results,
            force=self.force,
        )
