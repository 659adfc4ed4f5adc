"""QUALITY R16: migrations upgrade, downgrade and upgrade again on the test backend, the
schema matches the models, and data survives every upgrade step."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url

from syncbridge.db import alembic_config, downgrade, migrate
from syncbridge.models import Base
from tests.conftest import BACKEND, TEST_DB, _pg_admin, _pg_url


@pytest.fixture
def empty_db_url(tmp_path: Path) -> Iterator[str]:
    """A brand-new, unmigrated database."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"sbmig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(TEST_DB, f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(TEST_DB, name)
    finally:
        asyncio.run(_pg_admin(TEST_DB, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql+psycopg2"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _schema_diff(url: str) -> list[object]:
    engine = create_sync_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_sync_engine(_sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_matches_models(empty_db_url: str) -> None:
    migrate(empty_db_url)
    assert _schema_diff(empty_db_url) == []
    command.check(alembic_config(empty_db_url))
    downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) <= {"alembic_version"}
    migrate(empty_db_url)
    assert _schema_diff(empty_db_url) == []
    assert {t.name for t in Base.metadata.sorted_tables} <= _tables(empty_db_url)


def test_data_survives_every_upgrade_step(empty_db_url: str) -> None:
    # Rows written at the first revision must survive each later step (the walk starts at
    # the first revision and upgrades one revision at a time).
    script = ScriptDirectory.from_config(alembic_config(empty_db_url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    migrate(empty_db_url, revisions[0])
    scheme_id, concept_id = uuid.uuid4(), uuid.uuid4()
    engine = create_sync_engine(_sync_url(empty_db_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO concept_schemes (id, key, title, created_at, updated_at) "
                    "VALUES (:id, 'channel', 'Channel', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": scheme_id.hex if BACKEND == "sqlite" else scheme_id},
            )
            conn.execute(
                text(
                    "INSERT INTO concepts (id, scheme_id, key, status, revision, created_at, "
                    "updated_at) VALUES (:id, :scheme, 'channel:email', 'approved', 1, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": concept_id.hex if BACKEND == "sqlite" else concept_id,
                    "scheme": scheme_id.hex if BACKEND == "sqlite" else scheme_id,
                },
            )
        for revision in [*revisions[1:], "head"]:
            migrate(empty_db_url, revision)
            with engine.connect() as conn:
                keys: list[str] = list(conn.execute(text("SELECT key FROM concepts")).scalars())
            assert keys == ["channel:email"], f"data lost upgrading to {revision}"
    finally:
        engine.dispose()


def test_there_is_a_previous_revision_to_upgrade_from(empty_db_url: str) -> None:
    # The survival walk above starts at the first revision and upgrades step by step; it
    # only proves something while there is more than one.
    script = ScriptDirectory.from_config(alembic_config(empty_db_url))
    assert len(list(script.walk_revisions())) >= 2


def _id(value: uuid.UUID) -> object:
    return value.hex if BACKEND == "sqlite" else value


def _seed_concept(conn: Connection, scheme_id: uuid.UUID, concept_id: uuid.UUID) -> None:
    """A ``channel`` scheme with one concept, ``channel:email``, as the first revision had."""
    now = "CURRENT_TIMESTAMP"
    conn.execute(
        text(
            "INSERT INTO concept_schemes (id, key, title, created_at, updated_at) "
            f"VALUES (:id, 'channel', 'Channel', {now}, {now})"
        ),
        {"id": _id(scheme_id)},
    )
    conn.execute(
        text(
            "INSERT INTO concepts (id, scheme_id, key, status, revision, created_at, "
            f"updated_at) VALUES (:id, :s, 'channel:email', 'approved', 1, {now}, {now})"
        ),
        {"id": _id(concept_id), "s": _id(scheme_id)},
    )


def test_store_revisions_upgrade_counts_what_rows_went_through(empty_db_url: str) -> None:
    # Rows written before revisions existed get one; a rule that went through edits counts
    # its versions (and its archiving); the store counters start at 1.
    migrate(empty_db_url, "d4387666244d")
    scheme_id, concept_id, rule_id, conn_id = (uuid.uuid4() for _ in range(4))
    engine = create_sync_engine(_sync_url(empty_db_url))
    now = "CURRENT_TIMESTAMP"
    try:
        with engine.begin() as conn:
            _seed_concept(conn, scheme_id, concept_id)
            conn.execute(
                text(
                    "INSERT INTO mapping_rules (id, name, connector_key, field_path, operator, "
                    '"values", case_sensitive, match_labels, concept_id, priority, enabled, '
                    "version, archived_at, created_at, updated_at) VALUES (:id, 'r', 'hubspot', "
                    "'utm_medium', 'equals', '[\"email\"]', false, false, :c, 100, true, 3, "
                    f"{now}, {now}, {now})"
                ),
                {"id": _id(rule_id), "c": _id(concept_id)},
            )
            conn.execute(
                text(
                    "INSERT INTO connections (id, connector_key, name, settings, secrets, "
                    f"enabled, created_at, updated_at) VALUES (:id, 'bynder', 'b', '{{}}', '', "
                    f"true, {now}, {now})"
                ),
                {"id": _id(conn_id)},
            )
        migrate(empty_db_url, "6b1f0c2a9e41")
        with engine.connect() as conn:
            scheme: int = conn.execute(text("SELECT revision FROM concept_schemes")).scalar_one()
            rule: int = conn.execute(text("SELECT revision FROM mapping_rules")).scalar_one()
            connection: int = conn.execute(text("SELECT revision FROM connections")).scalar_one()
            counters: dict[str, int] = dict(
                conn.execute(text("SELECT name, revision FROM store_revisions")).all()
            )
            concepts: list[str] = list(conn.execute(text("SELECT key FROM concepts")).scalars())
        assert (scheme, rule, connection) == (1, 4, 1)
        assert counters == {"catalog": 1, "api_keys": 1}
        assert concepts == ["channel:email"]
    finally:
        engine.dispose()


def test_label_norms_are_recomputed_in_the_nfkc_form(empty_db_url: str) -> None:
    migrate(empty_db_url, "d4387666244d")
    scheme_id, concept_id, label_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = create_sync_engine(_sync_url(empty_db_url))
    fullwidth = "\uff25\uff4d\uff41\uff49\uff4c"  # "Email" in fullwidth letters
    try:
        with engine.begin() as conn:
            _seed_concept(conn, scheme_id, concept_id)
            conn.execute(
                text(
                    "INSERT INTO concept_labels (id, concept_id, scheme_id, kind, lang, text, "
                    "norm) VALUES (:id, :c, :s, 'pref', 'en', :t, :n)"
                ),
                {
                    "id": _id(label_id),
                    "c": _id(concept_id),
                    "s": _id(scheme_id),
                    "t": fullwidth,
                    "n": fullwidth.casefold(),
                },
            )
        migrate(empty_db_url, "6b1f0c2a9e41")
        with engine.connect() as conn:
            norm: str = conn.execute(text("SELECT norm FROM concept_labels")).scalar_one()
        assert norm == "email"
    finally:
        engine.dispose()


def test_queued_work_survives_the_sync_engine_migrations(empty_db_url: str) -> None:
    """A queued job and a running sync run written before the runs-control, classification
    and linking migrations are there, unchanged, after upgrading to head and after
    downgrading back (SQLite rebuilds ``jobs`` and ``runs`` to add columns)."""
    before = "3a91c7e2d5f0"  # the job queue, before runs control
    migrate(empty_db_url, before)
    job_id, run_id = uuid.uuid4(), uuid.uuid4()

    def key(value: uuid.UUID) -> object:
        return value.hex if BACKEND == "sqlite" else value

    engine = create_sync_engine(_sync_url(empty_db_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, "
                    "run_after, dedupe_key, created_at, updated_at) VALUES (:id, 'sync.run', "
                    "'{\"run_id\": \"r\"}', 'queued', 0, 8, CURRENT_TIMESTAMP, 'sync:r', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": key(job_id)},
            )
            conn.execute(
                text(
                    'INSERT INTO runs (id, kind, "full", status, requested_by, created_at) '
                    "VALUES (:id, 'sync', true, 'running', 'key:admin', CURRENT_TIMESTAMP)"
                ),
                {"id": key(run_id)},
            )

        def rows() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
            with engine.connect() as conn:
                jobs = conn.execute(text("SELECT kind, status, dedupe_key FROM jobs")).all()
                runs = conn.execute(text("SELECT kind, status, requested_by FROM runs")).all()
            return [tuple(r) for r in jobs], [tuple(r) for r in runs]

        expected = ([("sync.run", "queued", "sync:r")], [("sync", "running", "key:admin")])
        assert rows() == expected
        migrate(empty_db_url)
        assert rows() == expected
        with engine.connect() as conn:
            added = conn.execute(
                text("SELECT concurrency_key FROM jobs UNION ALL SELECT cancelled_by FROM runs")
            ).all()
        assert [tuple(r) for r in added] == [(None,), (None,)]
        downgrade(empty_db_url, before)
        assert rows() == expected
    finally:
        engine.dispose()


def test_links_survive_the_migration_that_drops_their_foreign_keys(empty_db_url: str) -> None:
    """Links written before ``a1c3e5f7b9d0`` (links without foreign keys; SQLite rebuilds
    the table) are there, unchanged, after upgrading to head and after downgrading back."""
    before = "9f3a7c5e1d42"  # links with foreign keys
    migrate(empty_db_url, before)
    ids = {name: uuid.uuid4() for name in ("connection", "asset", "record", "rule", "link")}
    now = "CURRENT_TIMESTAMP"
    statements = [
        "INSERT INTO connections (id, connector_key, name, settings, secrets, enabled, "
        f"created_at, updated_at) VALUES (:connection, 'bynder', 'dam', '{{}}', '', true, {now}, "
        f"{now})",
        "INSERT INTO assets (id, connection_id, stream, external_id, data, content_hash, "
        f"first_seen_at, updated_at) VALUES (:asset, :connection, 'media', 'a-1', '{{}}', 'h', "
        f"{now}, {now})",
        "INSERT INTO records (id, connection_id, stream, external_id, data, content_hash, "
        f"first_seen_at, updated_at) VALUES (:record, :connection, 'rows', 'r-1', '{{}}', 'h', "
        f"{now}, {now})",
        "INSERT INTO link_rules (id, version, name, connector_key, field_path, match, "
        "asset_key, enabled, revision, created_at, updated_at) VALUES (:rule, 1, 'r', 'ga4', "
        f"'pagePath', 'equals', 'id', true, 1, {now}, {now})",
        "INSERT INTO links (id, asset_id, record_id, rule_id, rule_version, field_path, value, "
        f"created_at) VALUES (:link, :asset, :record, :rule, 1, 'pagePath', '/lp/a-1', {now})",
    ]
    engine = create_sync_engine(_sync_url(empty_db_url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), {k: _id(v) for k, v in ids.items()})

        def links() -> list[tuple[object, ...]]:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, value, rule_version FROM links")).all()
            return [tuple(r) for r in rows]

        expected = links()
        assert len(expected) == 1
        migrate(empty_db_url)
        assert links() == expected
        downgrade(empty_db_url, before)
        assert links() == expected
    finally:
        engine.dispose()
