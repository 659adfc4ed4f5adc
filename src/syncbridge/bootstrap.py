"""First-start work for the embedded store: an admin key and the default taxonomy."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

import syncbridge
from syncbridge.auth.service import Role, count_keys, create_key
from syncbridge.db import open_store
from syncbridge.linking.defaults import load_default_link_rules
from syncbridge.logs import get_logger
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from syncbridge.taxonomy import repository as taxonomy_repository
from syncbridge.taxonomy import transfer
from syncbridge.taxonomy.formats.sources import read_files, source_files

BOOTSTRAP_ACTOR = "bootstrap"
log = get_logger(__name__)


def default_taxonomy_dir() -> Path | None:
    """The bundled default taxonomy: ``taxonomy/`` in a checkout, ``_taxonomy`` in a wheel."""
    package = Path(syncbridge.__file__).resolve().parent
    for candidate in (package.parents[1] / "taxonomy", package / "_taxonomy"):
        if candidate.is_dir() and source_files(candidate):
            return candidate
    return None


async def load_default_taxonomy(
    session: AsyncSession, directory: Path | None = None
) -> transfer.ImportResult | None:
    """Import the default taxonomy when the store has no schemes yet (else do nothing).

    Raises :class:`~syncbridge.taxonomy.validation.TaxonomyImportError` if the bundled files
    are broken. Flushes only: the caller commits.
    """
    if await taxonomy_repository.count_schemes(session) > 0:
        return None
    directory = directory or default_taxonomy_dir()
    if directory is None:
        log.warning("bootstrap.taxonomy_missing")
        return None
    incoming = read_files(source_files(directory))
    result = await transfer.import_taxonomy(session, incoming, actor=BOOTSTRAP_ACTOR)
    log.info(
        "bootstrap.taxonomy_loaded",
        schemes=len(result.plan.schemes_created),
        concepts=len(result.plan.concepts_created),
    )
    return result


async def bootstrap_store(settings: Settings) -> str | None:
    """Load the default taxonomy into an empty store and create the first admin key.

    Idempotent: a store that has (or ever had) keys gets no new key, one that has schemes no
    taxonomy; outside development no key is created. Returns the new key, if any.
    """

    async def bootstrap(session: AsyncSession) -> str | None:
        raw: str | None = None
        # Only a development store that never had a key gets one; production creates its
        # keys with `syncbridge keys create`, so no key is ever printed into its logs.
        if (
            settings.environment == "development"
            and await count_keys(session, active_only=False) == 0
        ):
            _row, raw = await create_key(
                session, name="bootstrap-admin", role=Role.admin, actor=BOOTSTRAP_ACTOR
            )
        await load_default_taxonomy(session)
        await load_default_link_rules(session, BOOTSTRAP_ACTOR)
        await load_default_tag_rules(session, BOOTSTRAP_ACTOR)
        return raw

    async with open_store(settings.database_url) as sessionmaker:
        return await in_unit_of_work(sessionmaker, bootstrap)
