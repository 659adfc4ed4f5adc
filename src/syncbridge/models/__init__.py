"""ORM models, all in one place so Alembic sees every table."""

from syncbridge.models.access import ApiKey, AuditEntry, Connection, StoreRevision
from syncbridge.models.base import Base, utcnow
from syncbridge.models.classification import Classification, ClassificationChange
from syncbridge.models.inbox import EventStatus, InboxEvent
from syncbridge.models.jobs import Job, JobStatus
from syncbridge.models.linking import Link, LinkRule, LinkRuleVersion
from syncbridge.models.mapping import OPERATORS, MappingRule, MappingRuleVersion
from syncbridge.models.metrics import MetricFact, MetricFactRecord
from syncbridge.models.schedule import JobRun, WorkerHeartbeat
from syncbridge.models.scoring import DesiredTag, ScoreRunRule
from syncbridge.models.store import Asset, Run, RunRejection, RunStream, StoredRecord, StreamState
from syncbridge.models.tagging import TagRule, TagRuleVersion
from syncbridge.models.taxonomy import (
    Concept,
    ConceptBroader,
    ConceptLabel,
    ConceptScheme,
    ConceptStatus,
    LabelKind,
)
from syncbridge.models.writeback import (
    WriteBack,
    WriteBackAttempt,
    WriteBackSender,
    WriteBackState,
    WriteBackStatus,
)

__all__ = [
    "OPERATORS",
    "ApiKey",
    "Asset",
    "AuditEntry",
    "Base",
    "Classification",
    "ClassificationChange",
    "Concept",
    "ConceptBroader",
    "ConceptLabel",
    "ConceptScheme",
    "ConceptStatus",
    "Connection",
    "DesiredTag",
    "EventStatus",
    "InboxEvent",
    "Job",
    "JobRun",
    "JobStatus",
    "LabelKind",
    "Link",
    "LinkRule",
    "LinkRuleVersion",
    "MappingRule",
    "MappingRuleVersion",
    "MetricFact",
    "MetricFactRecord",
    "Run",
    "RunRejection",
    "RunStream",
    "ScoreRunRule",
    "StoreRevision",
    "StoredRecord",
    "StreamState",
    "TagRule",
    "TagRuleVersion",
    "WorkerHeartbeat",
    "WriteBack",
    "WriteBackAttempt",
    "WriteBackSender",
    "WriteBackState",
    "WriteBackStatus",
    "utcnow",
]
