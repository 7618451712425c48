"""SQLite persistence (WAL) with group-committed, batched writes.

Only the engine writes. Entities are rows of JSON (the pydantic models
dumped), keyed by id, with the columns queries need; every change also
appends an event row whose `seq` is the order clients replay.

Writes go to one writer thread with its own connection: callers `submit()`
statements and get a future that resolves once they are committed. What
arrives while a commit is in flight goes into the next transaction, so a
busy engine makes few, large transactions and an idle one commits at once.
A write that has been acknowledged has been committed: it survives
`kill -9`.

Why a thread of our own rather than aiosqlite for writes: under load the
event loop is busy, and every await hop of a commit (wake the writer task,
hand the statements to aiosqlite's thread, get the answer back) costs a turn
of that loop. `submit()` hands a batch to this thread directly, so a commit
costs one turn, when its waiters wake. Reads, which must not block the loop
and do not need ordering, go through aiosqlite.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
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
    """The fleet database: a writer thread and an aiosqlite reader."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read: aiosqlite.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = _Batch()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._kick_scheduled = False
        self.commits = 0
        self.statements_written = 0

    async def open(self) -> int:
        """Open (creating and migrating as needed); returns the schema version."""
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA busy_timeout=5000")
            version = await migrate(conn)
        finally:  # a newer schema, a corrupt file: leave no thread behind
            await conn.close()
        self._read = await aiosqlite.connect(self.path, isolation_level=None)
        await self._read.execute("PRAGMA busy_timeout=5000")
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._writer_main, args=(ready,), name="store-writer", daemon=True
        )
        self._thread.start()
        await ready
        return version

    async def close(self) -> None:
        """Commit what is pending, then stop the writer and close the reader."""
        if self._thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            await asyncio.sleep(0)  # let the last commit's callbacks run
        if self._read is not None:
            await self._read.close()
            self._read = None

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
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._thread is None or self._closing:
                future.set_exception(StoreError("could not save: the store is closed"))
                return future
            self._pending.statements.extend(statements)
            self._pending.waiters.append(future)
            if after_commit is not None:
                self._pending.after_commit.append(after_commit)
        if not self._kick_scheduled:
            # Wake the writer once per turn of the loop, not once per submit: a
            # woken writer takes the GIL from the loop, and what the rest of this
            # turn submits joins the same transaction anyway.
            self._kick_scheduled = True
            loop.call_soon(self._kick)
        return future

    def _kick(self) -> None:
        self._kick_scheduled = False
        with self._cond:
            if self._pending.waiters:
                self._cond.notify()

    def _writer_main(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        loop = self._loop
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
        except Exception as exc:  # noqa: BLE001 - told to open(), which raises it
            loop.call_soon_threadsafe(ready.set_exception, StoreError(f"could not open: {exc}"))
            return
        loop.call_soon_threadsafe(ready.set_result, None)
        try:
            while True:
                with self._cond:
                    while not self._pending.waiters and not self._closing:
                        self._cond.wait()
                    batch, self._pending = self._pending, _Batch()
                    closing = self._closing
                if batch.waiters:
                    error = self._apply(conn, batch)
                    loop.call_soon_threadsafe(self._finish, batch, error)
                if closing and not batch.waiters:
                    return
        finally:
            conn.close()

    def _apply(self, conn: sqlite3.Connection, batch: _Batch) -> StoreError | None:
        """One transaction (in the writer thread); the error, if it failed."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in _group(batch.statements):
                    if len(rows) == 1:
                        conn.execute(sql, rows[0])
                    else:
                        conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite already rolled back on some errors
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:  # noqa: BLE001 - a full disk, a locked file: fail the waiters
            log.error("store commit failed: %s", exc)
            return StoreError(f"could not save: {exc}")
        self.commits += 1
        self.statements_written += len(batch.statements)
        return None

    @staticmethod
    def _finish(batch: _Batch, error: StoreError | None) -> None:
        """In the loop: publish (after_commit) and wake the waiters."""
        if error is None:
            for callback in batch.after_commit:
                try:
                    callback()
                except Exception:  # a subscriber's bug must not stop the others
                    log.exception("after-commit callback failed")
        for waiter in batch.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

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
