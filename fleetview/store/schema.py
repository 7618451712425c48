"""Schema and migrations. `PRAGMA user_version` is the schema version.

Each migration moves the database from version N-1 to N in one
transaction. A database newer than this code is refused rather than
guessed at.
"""

from __future__ import annotations

import aiosqlite

MIGRATIONS: list[str] = [
    # 1: entities as JSON rows, and the event log
    """
    CREATE TABLE agents (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
    CREATE TABLE runs (id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, data TEXT NOT NULL);
    CREATE TABLE results (
        id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, agent_name TEXT NOT NULL,
        created_at TEXT NOT NULL, text TEXT NOT NULL, data TEXT NOT NULL
    );
    CREATE TABLE tasks (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE messages (id INTEGER PRIMARY KEY, thread_id INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, kind TEXT NOT NULL,
        entity_id TEXT NOT NULL, data TEXT NOT NULL
    );
    CREATE INDEX runs_agent ON runs (agent_id);
    CREATE INDEX results_agent ON results (agent_name, id);
    """,
    # 2: decision gates, runtimes' private per-agent state, and an index so
    #    `agent logs` reads one agent's output without scanning the log
    """
    CREATE TABLE gates (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE agent_state (agent_id TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE INDEX events_entity ON events (entity_id, kind, seq);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The database was written by a newer fleetview."""


async def migrate(conn: aiosqlite.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to `target`, one transaction per step."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the fleet database is schema v{version}, this fleetview knows up to "
            f"v{SCHEMA_VERSION}: upgrade fleetview"
        )
    while version < target:
        script = MIGRATIONS[version]
        version += 1
        await conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
    return version
