"""Queueing a re-classification in the transaction of the change that causes it.

The mapping service calls :func:`rule_changed` when a rule is created (it classifies the
assets already stored), edited (disabling is an edit) or archived; the taxonomy calls
:func:`concept_deprecated` (and mapping's retargeting of the deprecated concept's rules
lands on the same job). A job's dedupe key names the catalog
revision the change committed as, so a retried request queues one job and every later change
queues its own; passes are idempotent, so a job that finds its work already done by a later
one changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs.service import enqueue
from syncbridge.models import Job
from syncbridge.store import revisions

__all__ = ["KIND", "ReclassifyPayload", "ScopeIn", "concept_deprecated", "rule_changed"]

#: The job kind of a re-classification.
KIND = "classification.reclassify"


class ScopeIn(BaseModel):
    """A rule's scope: the records and assets it may read."""

    model_config = ConfigDict(frozen=True)

    connector_key: str
    connection_id: uuid.UUID | None = None
    stream: str | None = None


class ReclassifyPayload(BaseModel):
    """What a re-classification job re-reads, why, and who caused it."""

    cause: str
    actor: str | None = None
    rule_ids: list[uuid.UUID] = []
    concept_ids: list[uuid.UUID] = []
    scopes: list[ScopeIn] = []


async def _enqueue(session: AsyncSession, subject: str, payload: ReclassifyPayload) -> Job:
    # Inside the change's transaction, after lock_for_write: the revision it will commit as.
    revision = (await revisions.current(session, fresh=True)).get(revisions.CATALOG, 0)
    return await enqueue(
        session,
        KIND,
        payload.model_dump(mode="json"),
        dedupe_key=f"{KIND}:{revision}:{subject}",
    )


async def rule_changed(
    session: AsyncSession,
    rule_id: uuid.UUID,
    *,
    cause: str,
    actor: str,
    scopes: Sequence[dict[str, Any]] = (),
) -> Job:
    """Queue the re-classification of what rule ``rule_id``'s change may affect: the assets
    it classifies, and (for an edit) every asset its old or new ``scopes`` cover."""
    unique = list(dict.fromkeys(ScopeIn.model_validate(s, from_attributes=False) for s in scopes))
    payload = ReclassifyPayload(cause=cause, actor=actor, rule_ids=[rule_id], scopes=unique)
    return await _enqueue(session, f"rule:{rule_id}", payload)


async def concept_deprecated(session: AsyncSession, concept_id: uuid.UUID, *, actor: str) -> Job:
    """Queue the re-classification of the assets rules put on concept ``concept_id``."""
    payload = ReclassifyPayload(cause="concept.deprecate", actor=actor, concept_ids=[concept_id])
    return await _enqueue(session, f"concept:{concept_id}", payload)
