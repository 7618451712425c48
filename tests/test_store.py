"""The store: migrations, group commit, concurrent writers, nothing lost."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from fleetview.engine import Engine
from fleetview.models import AgentSpec
from fleetview.paths import FleetPaths
from fleetview.store import SCHEMA_VERSION, Store
from fleetview.store.schema import MIGRATIONS, SchemaTooNew


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def test_migrates_an_empty_file_to_the_current_schema(tmp_path):
    db = tmp_path / "fleet.db"
    db.touch()
    store = Store(db)
    assert await store.open() == SCHEMA_VERSION
    await store.close()
    assert _version(db) == SCHEMA_VERSION
    assert {"agents", "runs", "results", "tasks", "messages", "events", "gates"} <= _tables(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_migrates_a_previous_version_keeping_its_rows(tmp_path):
    db = tmp_path / "fleet.db"
    with sqlite3.connect(db) as conn:  # a fleet written by schema v1
        conn.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        conn.execute(
            "INSERT INTO tasks (id, data) VALUES (1, ?)",
            ('{"id": 1, "title": "kept across the upgrade"}',),
        )
        conn.execute(
            "INSERT INTO events (seq, ts, kind, entity_id, data) VALUES "
            "(7, '2026-01-01T00:00:00+00:00', 'task.updated', '1', '{}')"
        )
    assert "gates" not in _tables(db)

    engine = Engine(FleetPaths(tmp_path))
    await engine.open()
    try:
        assert _version(db) == SCHEMA_VERSION
        assert engine.get_task(1).title == "kept across the upgrade"
        assert engine.events.seq > 7  # the log continues after the old events
        assert engine.list_gates() == []
    finally:
        await engine.close()


async def test_refuses_a_database_from_a_newer_fleetview(tmp_path):
    db = tmp_path / "fleet.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew, match="upgrade fleetview"):
        await Store(db).open()


async def test_concurrent_writers_lose_nothing_and_share_commits(tmp_path):
    db = tmp_path / "fleet.db"
    store = Store(db)
    await store.open()

    async def writer(n: int) -> None:
        for i in range(50):
            await store.submit(
                [("INSERT INTO tasks (id, data) VALUES (?, ?)", (n * 1000 + i, "{}"))]
            )

    await asyncio.gather(*(writer(n) for n in range(20)))
    assert store.statements_written == 1000
    assert store.commits < 1000  # writers that queued together committed together
    await store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 1000


async def test_a_failed_commit_fails_its_writers_and_the_store_goes_on(tmp_path):
    store = Store(tmp_path / "fleet.db")
    await store.open()
    await store.submit([("INSERT INTO tasks (id, data) VALUES (1, '{}')", ())])
    with pytest.raises(Exception, match="could not save"):
        await store.submit([("INSERT INTO tasks (id, data) VALUES (1, '{}')", ())])  # duplicate id
    await store.submit([("INSERT INTO tasks (id, data) VALUES (2, '{}')", ())])
    rows = await store.fetchall("SELECT id FROM tasks ORDER BY id")
    assert rows == [(1,), (2,)]
    await store.close()


async def test_acknowledged_writes_are_on_disk_before_close(tmp_path):
    """What an API call returned is committed: another connection sees it at once."""
    engine = Engine(FleetPaths(tmp_path))
    await engine.open()
    try:
        await engine.create_agent(AgentSpec(name="durable", config={"speed": 50}))
        with sqlite3.connect(tmp_path / "fleet.db") as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM agents")]
        assert names == ["durable"]
    finally:
        await engine.close()
