"""The GraphQL documents the command-line client sends."""

from __future__ import annotations

JOB_FIELDS = """
  id kind status progress totalSteps completedSteps currentStep estimatedCompletion
  result error createdAt startedAt finishedAt
"""

COLLECT = f"""
mutation Collect($input: CollectRacesInput!) {{ collectRaces(input: $input) {{ {JOB_FIELDS} }} }}
"""

EVALUATE = f"""
mutation Evaluate($input: EvaluatePromptInput!) {{
  evaluatePrompt(input: $input) {{ {JOB_FIELDS} }}
}}
"""

IMPROVE = f"""
mutation Improve($input: ImprovePromptInput!) {{ improvePrompt(input: $input) {{ {JOB_FIELDS} }} }}
"""

TRAIN = f"""
mutation Train($input: TrainModelInput!) {{ trainModel(input: $input) {{ {JOB_FIELDS} }} }}
"""

BACKFILL = f"""
mutation Backfill($input: BackfillRacesInput!) {{
  backfillRaces(input: $input) {{ {JOB_FIELDS} }}
}}
"""

EXPORT = f"""
mutation Export($input: ExportDatasetInput!) {{
  exportDataset(input: $input) {{ {JOB_FIELDS} }}
}}
"""

CANCEL = f"""
mutation Cancel($id: ID!) {{ cancelJob(id: $id) {{ {JOB_FIELDS} }} }}
"""

JOB = f"""
query Job($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}
"""

JOBS = f"""
query Jobs($filter: JobFilter, $first: Int!) {{
  jobs(filter: $filter, first: $first) {{ totalCount edges {{ node {{ {JOB_FIELDS} }} }} }}
}}
"""

PROGRESS = f"""
subscription Progress($id: ID!) {{
  jobProgress(id: $id) {{ sequence type message at job {{ {JOB_FIELDS} }} }}
}}
"""
