"""Publishing an event: stored with the write it announces, broadcast once that write commits.

A service calls `record()` inside its transaction, under the lock that orders the channel's writes
(a plan's row lock): the event is stored (and gets its id) with the write, and is broadcast only
after commit (`transaction.on_commit`), so subscribers never see a change that was rolled back and
every committed change has a stored event to replay.

Broadcast: with REDIS_URL, one Redis PUBLISH in django-eventstream's message format (its pub/sub
channel `events_channel`), which every process' hub receives; without it, straight to this
process' hub. Either way a subscriber that misses a broadcast finds the event in storage
(live.hub). With GRIP_URL, each event is also published to Pushpin (live.grip).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection, transaction

from aep.asgi_handler import run_after_response
from live import grip, wire
from live.hub import hub
from live.storage import STORED_EVENT_TYPE, StoredEvent, storage

logger = logging.getLogger(__name__)


def record(channel: str, payload: dict[str, Any]) -> StoredEvent:
    """Store an event in the current transaction; broadcast it once the transaction commits.

    The caller must hold the lock that serialises the channel's writers, which keeps ids in commit
    order."""
    event = storage.append_event(channel, STORED_EVENT_TYPE, payload)
    transaction.on_commit(lambda: broadcast(event), robust=True)
    return event


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


_redis_client: Any = None
_async_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _redis() -> Any:
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def _async_redis() -> Any:
    """This event loop's Redis client (redis.asyncio clients belong to one loop)."""
    loop = asyncio.get_running_loop()
    client = _async_redis_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _async_redis_clients[loop] = client
    return client


def broadcast(event: StoredEvent) -> None:
    """Deliver a stored event to every subscriber, in this process and (with Redis) in all others.

    Inside a request served by aep.asgi_handler this happens on the event loop once the response
    has been sent (`broadcast_after_response`); elsewhere (commands, the test client) at once."""
    if run_after_response(broadcast_after_response, event):
        return
    hub.deliver_threadsafe(event)  # this process' streams first: no round trip to Redis before them
    if redis_enabled():
        try:
            _redis().publish(wire.REDIS_PUBSUB_CHANNEL, wire.encode(event))
        except Exception:
            _log_publish_failure(event)
        # This process' streams drop the Redis copy as a duplicate.
    if grip.enabled():
        grip.publisher.enqueue(event)  # a background thread: a request never waits on Pushpin


async def broadcast_after_response(event: StoredEvent) -> None:
    """`broadcast`, on the event loop: Redis first, so that the other processes fan out while this
    one does, then this process' streams."""
    if redis_enabled():
        try:
            await _async_redis().publish(wire.REDIS_PUBSUB_CHANNEL, wire.encode(event))
        except Exception:
            _log_publish_failure(event)
    hub.deliver(event)
    if grip.enabled():
        grip.publisher.enqueue(event)


def _log_publish_failure(event: StoredEvent) -> None:
    # Subscribers will find the event in storage on the next event or the hub's poll.
    logger.warning("Redis publish failed for %s:%s", event.channel, event.eid, exc_info=True)


class Coalescer:
    """At most one announcement per key per interval, the last change of a burst always included.

    `request(key)` (once the change has committed) asks for `announce([key, ...])`: at once when
    nothing was announced for the key within the interval, else at the interval's end; requests
    meanwhile are gathered into that one call, which reads the state as it is then, and keys due
    together go in one call (one transaction for many plans under load). The calls run on this
    process' announcer thread, off the request that made the change. With an interval of 0 they
    run at once, in the caller's thread (tests). Per process: N processes writing to one key may
    announce it up to N times per interval.
    """

    def __init__(self, announce: Callable[[Any], None], interval: Callable[[], float]) -> None:
        self._announce = announce
        self._interval = interval
        self._last: dict[Any, float] = {}
        self._scheduled: dict[Any, float] = {}
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    def request(self, key: Any) -> None:
        interval = self._interval()
        if interval <= 0:
            self._call([key])
            return
        with self._wakeup:
            if key in self._scheduled:
                return
            now = time.monotonic()
            last = self._last.get(key)
            self._scheduled[key] = now if last is None else max(now, last + interval)
            if len(self._last) > 10_000:  # forget keys quiet for long: they are due at once anyway
                self._last = {k: t for k, t in self._last.items() if t >= now - interval}
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-coalescer", daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._scheduled:
                    self._wakeup.wait()
                now = time.monotonic()
                due = [key for key, at in self._scheduled.items() if at <= now]
                if not due:
                    self._wakeup.wait(min(self._scheduled.values()) - now)
                    continue
                for key in due:
                    del self._scheduled[key]
                    self._last[key] = now
            try:
                self._call(due)  # every key due now, in one call (one transaction for the caller)
            finally:
                connection.close()

    def _call(self, keys: list[Any]) -> None:
        try:
            self._announce(keys)
        except Exception:
            logger.warning("announcing %r failed", keys, exc_info=True)
