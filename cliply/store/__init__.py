"""App database: schema, migrations, and workspace-scoped data access."""

from cliply.store.db import Database, normalize_url
from cliply.store.models import Clip, Source, Transcript, UsageRecord, Workspace
from cliply.store.models_accounts import Account, ApiToken, OAuthState  # noqa: F401  (registers the tables)
from cliply.store.models_analytics import MetricForecast, MetricSnapshot, TrackedPost  # noqa: F401
from cliply.store.models_experiments import (  # noqa: F401  (registers the tables)
    AuditEntry,
    Experiment,
    ExperimentArm,
    ExperimentPost,
    ScoringWeights,
)
from cliply.store.models_publishing import LimitEvent, Post, PostTarget  # noqa: F401  (registers the tables)
from cliply.store.models_web import WebLoginLink, WebSession  # noqa: F401  (registers the tables)
from cliply.store.repo import (
    NotFound,
    SourceExists,
    WorkspaceScope,
    get_or_create_workspace,
    source_owner,
    sources_with_status,
)

__all__ = [
    "Clip",
    "Database",
    "NotFound",
    "Source",
    "SourceExists",
    "Transcript",
    "UsageRecord",
    "Workspace",
    "WorkspaceScope",
    "get_or_create_workspace",
    "normalize_url",
    "source_owner",
    "sources_with_status",
]
