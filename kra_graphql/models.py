"""Every table, imported in one place so the metadata is complete (Alembic, tests)."""

from kra_graphql.access.models import ApiKey
from kra_graphql.db import metadata
from kra_graphql.jobs.models import Job, JobLog
from kra_graphql.prediction.models import Evaluation, Prediction, Prompt
from kra_graphql.races.models import Entry, Horse, Jockey, Race, Trainer
from kra_graphql.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "ApiKey",
    "Entry",
    "Evaluation",
    "Horse",
    "Job",
    "JobLog",
    "Jockey",
    "Prediction",
    "Prompt",
    "Race",
    "Trainer",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "metadata",
]
