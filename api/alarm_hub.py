"""Live alarms for ``GET /alarms/stream``: one ``LISTEN`` connection per process, fanned out.

Every open stream is a :class:`Subscription` (an in-memory queue) on the process's
:class:`AlarmHub` (``app.state.alarm_hub``). The hub holds a single psycopg connection
listening on :data:`geo.events.ALARM_CHANNEL` while at least one stream is open, and copies
each notification to every subscriber: 100 open streams cost one PostgreSQL connection,
not 100. If the connection is lost the hub reconnects every second; alarms announced while
it is away are not replayed (the alarm page also polls ``/maps/alarms/feed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from geo.errors import DatabaseUnavailable
from geo.events import ALARM_CHANNEL

log = logging.getLogger("gridlink.alarms")

QUEUE_SIZE = 100
"""Alarms kept for a slow subscriber; beyond that its oldest ones are dropped."""


class Subscription:
    """One stream's view of the hub: :meth:`next` gives the next alarm payload (JSON text)."""

    def __init__(self, hub: AlarmHub) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)

    async def next(self, idle_s: float) -> str | None:
        """The next payload, or None after ``idle_s`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), idle_s)
        except TimeoutError:
            return None

    def offer(self, payload: str) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(payload)

    def close(self) -> None:
        """Leave the hub (idempotent); the last one out closes the connection."""
        self._hub.leave(self)


class AlarmHub:
    """The process's one ``LISTEN`` connection, opened on the serving loop while needed.

    ``conninfo`` is a libpq URL; ``connect_timeout_s`` bounds both connecting and how long
    :meth:`subscribe` waits for the connection to be listening (then 503).
    """

    def __init__(self, conninfo: str, connect_timeout_s: int) -> None:
        self._conninfo = conninfo
        self._timeout_s = connect_timeout_s
        self._subscribers: set[Subscription] = set()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def subscribe(self) -> Subscription:
        """A new subscription, returned once the hub is listening (so no alarm committed
        after this returns is missed). Raises DatabaseUnavailable when it cannot listen."""
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        if self._task is None or self._task.done():
            self._listening.clear()
            self._task = asyncio.create_task(self._listen(), name="gridlink-alarm-listener")
        try:
            await asyncio.wait_for(self._listening.wait(), self._timeout_s)
        except TimeoutError:
            subscription.close()
            raise DatabaseUnavailable("the alarm stream cannot listen: the database is "
                                      "unavailable; retry", [{"reason": "listen"}]) from None
        return subscription

    def leave(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        for subscription in list(self._subscribers):
            subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        """Listen and fan out until cancelled; reconnect a second after a failure."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True, connect_timeout=self._timeout_s,
                        application_name="gridlink-alarms") as conn:
                    await conn.execute(f"LISTEN {ALARM_CHANNEL}")  # a constant, not input
                    self._listening.set()
                    async for note in conn.notifies():
                        for subscription in list(self._subscribers):
                            subscription.offer(note.payload)
            except psycopg.Error as exc:
                log.warning("alarm listener lost its connection (%s); reconnecting", exc)
            self._listening.clear()
            await asyncio.sleep(1.0)
