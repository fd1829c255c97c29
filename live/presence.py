"""Presence: who has a channel's stream open (DESIGN 11), one entry per user however many streams.

A stream of a channel type with `presence=True` joins when it opens and leaves when it ends
(live.stream). Each process keeps its own streams' viewers; with REDIS_URL every process also
writes them to Redis, so every process sees everyone:

- per channel, a sorted set `aep:presence:<channel>` of `<process>|<user id>` scored by the time
  that process last vouched for it, and a hash of those members' names;
- each process re-scores its members every `PRESENCE_HEARTBEAT_SECONDS`; a member older than
  `PRESENCE_TTL_SECONDS` no longer counts, so a process that died stops counting within that time
  (the next heartbeat of another process removes it and announces the channel);
- a change is announced on the pub/sub channel `aep:presence`, and every process with subscribers
  of that channel re-reads it.

The `presence` event carries no id and is never stored or replayed. A stream gets the current
viewers right after `connected`; after that, each process sends its subscribers a channel's viewers
when they change, at most once per `PRESENCE_INTERVAL_SECONDS` per channel: a join storm of N viewers
costs each viewer about one message per interval, not N. The event lists at most
`PRESENCE_MAX_LISTED` viewers (the first to arrive) and gives the full `count`.

Everything here runs on the hub's event loop, but `viewers_now()` (for `GET .../presence`), which
a request thread calls; the lock guards what both read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from aep.serialization import iso
from live import sse
from live.channels import type_of
from live.hub import Notice, hub

logger = logging.getLogger(__name__)

REDIS_PUBSUB_CHANNEL = "aep:presence"
BEAT_BATCH = 200  # channels per heartbeat pipeline
PROCESS_ID = uuid.uuid4().hex[:12]  # this process' part of its Redis members


@dataclass(frozen=True)
class Viewer:
    user_id: int
    username: str
    name: str


def _key(channel: str) -> str:
    return f"aep:presence:{channel}"


def _names_key(channel: str) -> str:
    return f"aep:presence:{channel}:names"


def _member(user_id: int) -> str:
    return f"{PROCESS_ID}|{user_id}"


def _entry(viewer: Viewer, since: datetime.datetime) -> dict[str, str]:
    return {"username": viewer.username, "name": viewer.name, "since": iso(since)}


def _merge(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    """One entry per user (the earliest `since`), first arrived first."""
    by_user: dict[str, dict[str, str]] = {}
    for entry in entries:
        known = by_user.get(entry["username"])
        if known is None or entry["since"] < known["since"]:
            by_user[entry["username"]] = entry
    return sorted(by_user.values(), key=lambda e: (e["since"], e["username"]))


class _Local:
    """This process' viewers of one channel: streams per user, and since when."""

    __slots__ = ("streams", "viewers")

    def __init__(self) -> None:
        self.streams: dict[int, int] = {}
        self.viewers: dict[int, dict[str, str]] = {}


class Presence:
    def __init__(self) -> None:
        self._local: dict[str, _Local] = {}
        self._lock = threading.Lock()
        self._remote: dict[str, list[dict[str, str]]] = {}  # other processes' viewers, as last read
        self._sent: dict[str, list[dict[str, str]]] = {}  # last broadcast per channel
        self._last_flush: dict[str, float] = {}
        self._pending: set[str] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aclient: Any = None
        self.messages_sent = 0  # presence frames written to streams by this process (bench, tests)
        self._rewrite_due = False  # write every viewer's name again at the next heartbeat

    # --- streams (on the loop) -------------------------------------------------------------------
    async def join(self, channel: str, viewer: Viewer) -> list[dict[str, str]]:
        """Count a stream of `viewer`; the channel's viewers, this one included."""
        self._ensure_tasks()
        with self._lock:
            local = self._local.setdefault(channel, _Local())
            first = local.streams.get(viewer.user_id, 0) == 0
            local.streams[viewer.user_id] = local.streams.get(viewer.user_id, 0) + 1
            if first:
                local.viewers[viewer.user_id] = _entry(viewer, datetime.datetime.now(datetime.UTC))
            entry = local.viewers[viewer.user_id]
        if first:
            if settings.REDIS_URL:
                await self._redis_write(channel, add={viewer.user_id: entry})
            self.changed(channel)
        if settings.REDIS_URL and channel not in self._remote:
            # The first stream of the channel in this process: who is here elsewhere, once.
            with contextlib.suppress(Exception):
                return await self._redis_read(channel)
        return _merge([*self._remote.get(channel, []), *self._local_entries(channel)])

    async def leave(self, channel: str, viewer: Viewer) -> None:
        with self._lock:
            local = self._local.get(channel)
            if local is None or viewer.user_id not in local.streams:
                return
            local.streams[viewer.user_id] -= 1
            last = local.streams[viewer.user_id] <= 0
            if last:
                del local.streams[viewer.user_id]
                del local.viewers[viewer.user_id]
                if not local.streams:
                    del self._local[channel]
        if last:
            if settings.REDIS_URL:
                await self._redis_write(channel, remove=[viewer.user_id])
            self.changed(channel)

    def _local_entries(self, channel: str) -> list[dict[str, str]]:
        with self._lock:
            local = self._local.get(channel)
            return list(local.viewers.values()) if local else []

    # --- coalesced broadcast -------------------------------------------------------------------
    def changed(self, channel: str) -> None:
        """The channel's viewers may have changed: send them once the interval allows."""
        if channel in self._pending or channel not in hub.channels:
            return
        self._pending.add(channel)
        loop = asyncio.get_running_loop()
        wait = self._last_flush.get(channel, 0.0) + settings.PRESENCE_INTERVAL_SECONDS - time.monotonic()
        loop.call_later(max(0.0, wait), lambda: asyncio.ensure_future(self._flush(channel)))

    async def _flush(self, channel: str) -> None:
        if channel not in hub.channels:  # nobody here watches it any more: forget it
            self._pending.discard(channel)
            for known in (self._remote, self._sent, self._last_flush):
                known.pop(channel, None)
            return
        try:
            viewers = await self._read(channel)
        except Exception:
            logger.warning("presence: could not read the viewers of %s", channel, exc_info=True)
            viewers = _merge(self._local_entries(channel))
        finally:
            self._pending.discard(channel)
            self._last_flush[channel] = time.monotonic()
        if viewers == self._sent.get(channel):
            return
        self._sent[channel] = viewers
        self.broadcast(channel, viewers)

    def broadcast(self, channel: str, viewers: list[dict[str, str]]) -> None:
        notice = self.notice(channel, viewers)
        for subscriber in list(hub.channels.get(channel, ())):
            if subscriber.presence and subscriber.notify(notice):
                self.messages_sent += 1

    def notice(self, channel: str, viewers: list[dict[str, str]]) -> Notice:
        """The `presence` event of this channel's type, as a notice (no `id:`)."""
        channel_type = type_of(channel)
        assert channel_type is not None
        data = {
            "type": "presence",
            channel_type.key_field: channel.partition("-")[2],
            "viewers": viewers[: settings.PRESENCE_MAX_LISTED],
            "count": len(viewers),
        }

        def render_html() -> bytes:
            rendered = channel_type.render_html(data) if channel_type.render_html else None
            return sse.frame(rendered[1], event=rendered[0]) if rendered else b""

        return Notice(sse.json_frame(data), render_html)

    # --- reading -------------------------------------------------------------------------------
    async def _read(self, channel: str) -> list[dict[str, str]]:
        if not settings.REDIS_URL:
            return _merge(self._local_entries(channel))
        return await self._redis_read(channel)

    def viewers_now(self, channel: str) -> list[dict[str, str]]:
        """The channel's viewers, read now (from a request thread: `GET /api/plan/{id}/presence`)."""
        if not settings.REDIS_URL:
            return _merge(self._local_entries(channel))
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            floor = time.time() - settings.PRESENCE_TTL_SECONDS
            members = client.zrangebyscore(_key(channel), floor, "+inf")
            names = client.hmget(_names_key(channel), members) if members else []
        finally:
            client.close()
        return _merge([json.loads(raw) for raw in names if raw])

    # --- Redis -------------------------------------------------------------------------------
    async def _redis_read(self, channel: str) -> list[dict[str, str]]:
        """Everyone's viewers from Redis; remembers the other processes' part (for `join`)."""
        client = self._client()
        floor = time.time() - settings.PRESENCE_TTL_SECONDS
        members = await client.zrangebyscore(_key(channel), floor, "+inf")
        names = await client.hmget(_names_key(channel), members) if members else []
        mine = f"{PROCESS_ID}|".encode()
        remote = [
            json.loads(raw)
            for member, raw in zip(members, names, strict=True)
            if raw and not member.startswith(mine)
        ]
        self._remote[channel] = remote
        return _merge([*remote, *self._local_entries(channel)])

    def _client(self) -> Any:
        """This loop's Redis client (redis.asyncio clients belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._aclient is None:
            self._loop = loop
            self._aclient = aioredis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
            )
        return self._aclient

    async def _redis_write(
        self, channel: str, add: dict[int, dict[str, str]] | None = None, remove: list[int] | None = None
    ) -> None:
        try:
            client = self._client()
            ttl = int(settings.PRESENCE_TTL_SECONDS * 2) + 1
            async with client.pipeline(transaction=False) as pipe:
                now = time.time()
                for user_id, entry in (add or {}).items():
                    pipe.zadd(_key(channel), {_member(user_id): now})
                    pipe.hset(_names_key(channel), _member(user_id), json.dumps(entry))
                for user_id in remove or []:
                    pipe.zrem(_key(channel), _member(user_id))
                    pipe.hdel(_names_key(channel), _member(user_id))
                pipe.expire(_key(channel), ttl)
                pipe.expire(_names_key(channel), ttl)
                pipe.publish(REDIS_PUBSUB_CHANNEL, channel)
                await pipe.execute()
        except Exception:
            # The next heartbeat writes this process' viewers again; the others see them then.
            self._rewrite_due = True
            logger.warning("presence: Redis write failed for %s", channel, exc_info=True)

    def on_redis_message(self, raw: bytes | str) -> None:
        """Another process changed a channel's viewers (hub's pub/sub listener, on the loop)."""
        channel = raw.decode() if isinstance(raw, bytes) else str(raw)
        if channel in hub.channels:
            self.changed(channel)

    # --- heartbeat -----------------------------------------------------------------------------
    def _ensure_tasks(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._heartbeat_task
        if task is None or task.done() or task.get_loop() is not loop:
            self._pending.clear()
            self._heartbeat_task = loop.create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("presence heartbeat failed", exc_info=True)

    async def beat(self, rewrite: bool = False) -> None:
        """Vouch again for this process' viewers (with Redis), and drop the members nobody vouched
        for within PRESENCE_TTL_SECONDS (a process that died). A channel that lost some is announced
        on `aep:presence`, so every process watching it reads it again; the others are not read:
        joins and leaves are announced as they happen. Names are written at join and kept alive
        by the keys' expiry; `rewrite` (after a lost Redis connection: `after_reconnect`) writes
        them again and announces every channel. Pipelined `BEAT_BATCH` channels at a time, so that
        thousands of channels never hold the event loop for long."""
        if not settings.REDIS_URL:
            return  # this process' own viewers are all there is, always up to date
        rewrite = rewrite or self._rewrite_due
        self._rewrite_due = False
        with self._lock:
            mine = {channel: dict(local.viewers) for channel, local in self._local.items()}
        client = self._client()
        ttl = int(settings.PRESENCE_TTL_SECONDS * 2) + 1
        channels = list(mine)
        stale: list[str] = []
        per_channel = 5 if rewrite else 4  # commands queued per channel, the removal first
        for start in range(0, len(channels), BEAT_BATCH):
            batch = [channel for channel in channels[start : start + BEAT_BATCH] if mine[channel]]
            if not batch:
                continue
            async with client.pipeline(transaction=False) as pipe:
                now = time.time()
                for channel in batch:
                    viewers = mine[channel]
                    pipe.zremrangebyscore(_key(channel), "-inf", now - settings.PRESENCE_TTL_SECONDS)
                    pipe.zadd(_key(channel), {_member(user_id): now for user_id in viewers})
                    pipe.expire(_key(channel), ttl)
                    pipe.expire(_names_key(channel), ttl)
                    if rewrite:
                        names = {_member(user_id): json.dumps(entry) for user_id, entry in viewers.items()}
                        pipe.hset(_names_key(channel), mapping=names)
                results = await pipe.execute()
            removed = results[::per_channel]
            stale += [channel for channel, count in zip(batch, removed, strict=True) if count or rewrite]
            await asyncio.sleep(0)  # let the streams and requests of this loop run in between
        if stale:
            async with client.pipeline(transaction=False) as pipe:
                for channel in stale:
                    pipe.publish(REDIS_PUBSUB_CHANNEL, channel)
                await pipe.execute()

    def after_reconnect(self) -> None:
        """The hub's Redis connection is back: Redis may have restarted empty, and announcements may
        have been missed. Write this process' viewers again and announce them, and read every
        watched channel again."""
        self._rewrite_due = True  # at the next heartbeat, within PRESENCE_HEARTBEAT_SECONDS
        for channel in list(hub.channels):
            self.changed(channel)

    def forget(self) -> None:
        """Drop every record (tests: a new event loop starts from nothing)."""
        with self._lock:
            self._local.clear()
        self._remote.clear()
        self._sent.clear()
        self._last_flush.clear()
        self._pending.clear()
        with contextlib.suppress(Exception):
            if self._heartbeat_task is not None:
                self._heartbeat_task.cancel()
        self._heartbeat_task = None


presence = Presence()
hub.on_pubsub(REDIS_PUBSUB_CHANNEL, presence.on_redis_message)
hub.on_reconnect(presence.after_reconnect)
