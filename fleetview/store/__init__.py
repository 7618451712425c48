"""SQLite persistence (aiosqlite, WAL) with group-committed, batched writes.

Only the engine writes. Entities are rows of JSON (the pydantic models
dumped), keyed by id, with the columns queries need; every change also
appends an event row whose `seq` is the order clients replay.

Writes go through one writer task: callers `submit()` statements and get a
future that resolves once they are committed. Whatever arrives while a
commit is in flight goes into the next transaction, so a busy engine makes
few, large transactions (executemany inside one commit) and an idle one
commits at once. A write that has been acknowledged has been committed: it
survives `kill -9`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from fleetview.errors import FleetError
from fleetview.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate

log = logging.getLogger("fleetview.store")

Statement = tuple[str, Sequence[Any]]


@dataclass
class _Batch:
    statements: list[Statement] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)


class Store:
    """The fleet database: one writer connection, one reader connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write: aiosqlite.Connection | None = None
        self._read: aiosqlite.Connection | None = None
        self._pending = _Batch()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0
        self.statements_written = 0

    async def open(self) -> int:
        """Open (creating and migrating as needed); returns the schema version."""
        self._write = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await self._write.execute("PRAGMA journal_mode=WAL")
            await self._write.execute("PRAGMA synchronous=NORMAL")
            await self._write.execute("PRAGMA foreign_keys=OFF")
            await self._write.execute("PRAGMA busy_timeout=5000")
            version = await migrate(self._write)
        except BaseException:  # a newer schema, a corrupt file: leave no thread behind
            await self._write.close()
            self._write = None
            raise
        self._read = await aiosqlite.connect(self.path, isolation_level=None)
        await self._read.execute("PRAGMA busy_timeout=5000")
        self._writer = asyncio.create_task(self._write_loop(), name="store-writer")
        return version

    async def close(self) -> None:
        """Flush what is pending, then close both connections."""
        if self._writer is not None:
            self._closing = True
            self._wake.set()
            await self._writer
            self._writer = None
        for conn in (self._read, self._write):
            if conn is not None:
                await conn.close()
        self._read = self._write = None

    # -- writing -----------------------------------------------------------

    def submit(
        self,
        statements: Iterable[Statement],
        after_commit: Callable[[], None] | None = None,
    ) -> asyncio.Future[None]:
        """Queue statements for the next transaction; the future resolves on commit.

        `after_commit` runs (in the loop) right after the commit, before the
        future resolves: the engine publishes events there, so a client never
        sees an event the store does not hold.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.statements.extend(statements)
        self._pending.waiters.append(future)
        if after_commit is not None:
            self._pending.after_commit.append(after_commit)
        self._wake.set()
        return future

    async def _write_loop(self) -> None:
        assert self._write is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, _Batch()
            if batch.statements or batch.waiters:
                await self._commit(batch)
            if self._closing and not self._pending.waiters:
                return

    async def _commit(self, batch: _Batch) -> None:
        assert self._write is not None
        try:
            # The whole transaction in one hop to aiosqlite's thread: awaiting each
            # statement costs a thread round trip, which under load is most of a
            # commit's latency. aiosqlite has no public call for this; `_execute`
            # is its own queueing primitive (aiosqlite is pinned below 0.23).
            await self._write._execute(_apply, self._write._conn, _group(batch.statements))
        except Exception as exc:  # noqa: BLE001 - a full disk, a locked file: fail the waiters, go on
            log.error("store commit failed: %s", exc)
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(StoreError(f"could not save: {exc}"))
            return
        self.commits += 1
        self.statements_written += len(batch.statements)
        for callback in batch.after_commit:
            try:
                callback()
            except Exception:  # a subscriber's bug must not stop the writer
                log.exception("after-commit callback failed")
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- reading -----------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        assert self._read is not None
        async with self._read.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_json(self, table: str) -> list[dict[str, Any]]:
        """Every row of an entity table, as the dicts that were stored."""
        rows = await self.fetchall(f"SELECT data FROM {table}")
        return [json.loads(row[0]) for row in rows]

    async def max_id(self, table: str, column: str = "id") -> int:
        rows = await self.fetchall(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")
        return int(rows[0][0])


class StoreError(FleetError):
    """A write that could not be committed (the disk is full, the file is gone)."""

    status_code = 507


def _apply(conn: sqlite3.Connection, groups: list[tuple[str, list[Sequence[Any]]]]) -> None:
    """Run one transaction (on the connection's own thread); roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in groups:
            if len(rows) == 1:
                conn.execute(sql, rows[0])
            else:
                conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite already rolled back on some errors (a full disk)
            conn.execute("ROLLBACK")
        raise


def _group(statements: list[Statement]) -> list[tuple[str, list[Sequence[Any]]]]:
    """Consecutive statements with the same SQL become one executemany."""
    grouped: list[tuple[str, list[Sequence[Any]]]] = []
    for sql, params in statements:
        if grouped and grouped[-1][0] == sql:
            grouped[-1][1].append(params)
        else:
            grouped.append((sql, [params]))
    return grouped


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Store", "StoreError"]
