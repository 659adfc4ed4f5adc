"""ORM models, all in one place so Alembic sees every table."""

from syncbridge.models.access import ApiKey, AuditEntry, Connection, StoreRevision
from syncbridge.models.base import Base, utcnow
from syncbridge.models.classification import Classification
from syncbridge.models.jobs import Job, JobStatus
from syncbridge.models.linking import Link
from syncbridge.models.mapping import OPERATORS, MappingRule, MappingRuleVersion
from syncbridge.models.store import Asset, Run, RunRejection, RunStream, StoredRecord, StreamState
from syncbridge.models.taxonomy import (
    Concept,
    ConceptBroader,
    ConceptLabel,
    ConceptScheme,
    ConceptStatus,
    LabelKind,
)

__all__ = [
    "OPERATORS",
    "ApiKey",
    "Asset",
    "AuditEntry",
    "Base",
    "Classification",
    "Concept",
    "ConceptBroader",
    "ConceptLabel",
    "ConceptScheme",
    "ConceptStatus",
    "Connection",
    "Job",
    "JobStatus",
    "LabelKind",
    "Link",
    "MappingRule",
    "MappingRuleVersion",
    "Run",
    "RunRejection",
    "RunStream",
    "StoreRevision",
    "StoredRecord",
    "StreamState",
    "utcnow",
]
