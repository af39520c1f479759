"""The registry of every job kind this server runs.

Each domain package declares its kinds in its own `jobs` module, and this module imports
those modules by name: every process that reads the registry (a worker building its
handler table, the API deciding a mutation's scope) holds the same kinds, whatever else
it happened to import first. A domain package that starts declaring kinds is added here.
"""

from __future__ import annotations

from kra_graphql.collection import jobs as collection
from kra_graphql.export import jobs as export
from kra_graphql.jobs.registry import JobRegistry
from kra_graphql.prediction import jobs as prediction
from kra_graphql.raceday import jobs as raceday

REGISTRY = JobRegistry([*collection.JOBS, *prediction.JOBS, *raceday.JOBS, *export.JOBS])
