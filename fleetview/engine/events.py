"""The event log: monotonic sequence numbers, persistence rows, live fan-out.

Events are published to subscribers only after the store has committed
them, so a client that has seen seq N can always resume from N, even
across a daemon crash.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fleetview.models import Event, utcnow

if TYPE_CHECKING:
    from fleetview.store import Statement, Store

INSERT_EVENT = "INSERT INTO events (seq, ts, kind, entity_id, data) VALUES (?, ?, ?, ?, ?)"
REPLAY_PAGE = 2000
SUBSCRIBER_BACKLOG = 20_000


_FIELDS = ("seq", "ts", "kind", "entity_id", "data")
_FAST = tuple(Event.model_fields) == _FIELDS and set(Event.__private_attributes__) == {"_line"}
_new = object.__new__
_set = object.__setattr__


def _event(seq: int, ts: Any, kind: str, entity_id: str, data: dict[str, Any]) -> Event:
    """What `Event.model_construct` makes, at a fifth of its cost (a hot path: every
    change of every agent); falls back to it if the model ever changes shape."""
    if not _FAST:
        return Event.model_construct(seq=seq, ts=ts, kind=kind, entity_id=entity_id, data=data)
    event = _new(Event)
    _set(
        event,
        "__dict__",
        {"seq": seq, "ts": ts, "kind": kind, "entity_id": entity_id, "data": data},
    )
    _set(event, "__pydantic_fields_set__", set(_FIELDS))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", {"_line": None})
    return event


def _line(seq: int, ts: str, kind: str, entity_id: str, data: str) -> bytes:
    """One NDJSON line of the event stream, from already-encoded data."""
    return (
        f'{{"seq":{seq},"ts":"{ts}","kind":{json.dumps(kind)},'
        f'"entity_id":{json.dumps(entity_id)},"data":{data}}}\n'
    ).encode()


class _Subscriber:
    """One stream client's queue; if it falls too far behind it re-reads the store."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.lagging = False

    def push(self, events: list[Event]) -> None:
        if self.lagging:
            return
        if self.queue.qsize() + len(events) > SUBSCRIBER_BACKLOG:
            self.lagging = True
            self.queue = asyncio.Queue()
            self.queue.put_nowait(Event(seq=-1, ts=utcnow(), kind="_lag", entity_id=""))
            return
        for event in events:
            self.queue.put_nowait(event)


class EventLog:
    """Numbers events, turns them into rows, and streams them to subscribers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seq = 0
        self.published = 0
        self._subscribers: set[_Subscriber] = set()
        self._raw: dict[int, str] = {}
        """Data already encoded by the maker, by seq, until the event's row is made."""

    async def load(self) -> None:
        self.seq = await self.store.max_id("events", "seq")
        self.published = self.seq

    def make(
        self,
        kind: str,
        entity_id: str | int,
        data: dict[str, Any] | None = None,
        raw: str | None = None,
    ) -> Event:
        """A new event. Callers submit it to the store before their next await, so
        the store commits events in seq order (subscribers rely on it)."""
        self.seq += 1
        # built without validation: every field is made right here (a hot path)
        event = _event(self.seq, utcnow(), kind, str(entity_id), data or {})
        if raw is not None:
            self._raw[self.seq] = raw
        return event

    def rows(self, events: list[Event]) -> list[Statement]:
        """Insert rows; each event's stream line is made here too, from the same JSON."""
        rows: list[Statement] = []
        for e in events:
            ts = e.ts.isoformat()
            data = self._raw.pop(e.seq, None) or json.dumps(e.data, default=str)
            e._line = _line(e.seq, ts, e.kind, e.entity_id, data)
            rows.append((INSERT_EVENT, (e.seq, ts, e.kind, e.entity_id, data)))
        return rows

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        self.published = max(self.published, events[-1].seq)
        for subscriber in self._subscribers:
            subscriber.push(events)

    async def stored(self, since: int, limit: int = REPLAY_PAGE) -> list[Event]:
        rows = await self.store.fetchall(
            "SELECT seq, ts, kind, entity_id, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (since, limit),
        )
        events = []
        for seq, ts, kind, entity_id, data in rows:
            event = Event(seq=seq, ts=ts, kind=kind, entity_id=entity_id, data=json.loads(data))
            event._line = _line(seq, ts, kind, entity_id, data)
            events.append(event)
        return events

    async def subscribe(self, since: int = 0) -> AsyncIterator[Event]:
        """Every event with seq > since, in order: stored ones first, then live."""
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        last = since
        try:
            while True:
                # replay from the store until caught up with what was published
                while last < self.published:
                    page = await self.stored(last)
                    if not page:
                        break
                    for event in page:
                        yield event
                    last = page[-1].seq
                subscriber.lagging = False
                while True:
                    event = await subscriber.queue.get()
                    if event.kind == "_lag":
                        break  # fell behind: go back to the store
                    if event.seq <= last:
                        continue
                    if event.seq != last + 1 and last < self.published:
                        # a gap (events published while we replayed): re-read
                        page = await self.stored(last, event.seq - last - 1)
                        for missed in page:
                            yield missed
                            last = missed.seq
                    yield event
                    last = event.seq
        finally:
            self._subscribers.discard(subscriber)
