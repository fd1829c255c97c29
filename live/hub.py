"""The per-process event hub: fans stored events out to the streams open in this process.

One hub per server process, living on the event loop. Streams subscribe to a channel; `deliver` puts
each event on every subscriber of its channel and wakes it: no thread, no database connection and no
extra task per stream. Events reach the hub from this process' services (after commit) and, with
REDIS_URL, from every process through Redis pub/sub (live.wire).

Nothing is lost between the two: event ids are gap-free per channel, so a subscriber that sees id N+2
after N knows that N+1 is missing and reads it from storage (`fetch`, coalesced so that a thousand
subscribers of one channel cause one query). After a lost Redis connection the hub reconnects with
backoff and re-reads, per channel, what its subscribers may have missed. And every
`STREAM_POLL_SECONDS` (settings, default 2) one query compares the stored event counters of all subscribed
channels with what was delivered, so events written by a process that could not publish to this one
(a management command, the admin on another worker without Redis, a publish lost to a crash) still
arrive, a little later.

Access is not checked once only. Each stream is registered with the credential it was opened with
(aep.revocation.Credential); a revocation (a token revoked, a member removed, a user deactivated, a
session logged out) reaches the hub from this process' services and, over Redis, from every other,
and the hub ends the matching streams at once (`revoke`). Every `STREAM_AUTH_RECHECK_SECONDS`
(default 3) one batch of queries re-checks the credentials of all open streams (`still_valid`),
which ends streams whose token expired, or whose revocation message was lost, within 5 seconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from aep import revocation
from aep.metrics import plan_stream_events_sent
from aep.revocation import Credential
from live import channels, sse, wire
from live.storage import ReplayGap, StoredEvent, current_eids, events_after

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def run_db(fn: Callable[..., T], *args: Any) -> T:
    """Run ORM code in the executor and hand the connection back at once (to the pool, if any), so
    that open streams hold no database connection between queries."""

    def call() -> T:
        try:
            return fn(*args)
        finally:
            connection.close()

    return await sync_to_async(call, thread_sensitive=False)()


class EncodedEvent:
    """An event and its SSE encodings, computed once per process however many streams send it."""

    __slots__ = ("__dict__", "event")

    def __init__(self, event: StoredEvent) -> None:
        self.event = event

    @property
    def eid(self) -> int:
        return self.event.eid

    @cached_property
    def sse_id(self) -> str:
        return sse.event_id(self.event.channel, self.event.eid)

    @cached_property
    def json_bytes(self) -> bytes:
        return sse.json_frame(self.event.data, id=self.sse_id)

    @cached_property
    def html_bytes(self) -> bytes:
        """The named event for pages (`step_html`, ...) with the fragment its channel renders."""
        channel_type = channels.type_of(self.event.channel)
        if channel_type is None or channel_type.render_html is None:
            return b""
        rendered = channel_type.render_html(self.event.data)
        if rendered is None:
            return b""
        name, html = rendered
        return sse.frame(html, id=self.sse_id, event=name)

    @cached_property
    def both_bytes(self) -> bytes:
        return self.json_bytes + self.html_bytes

    def encode(self, html: bool) -> bytes:
        return self.both_bytes if html else self.json_bytes

    @cached_property
    def json_message(self) -> dict[str, Any]:
        return {"type": "http.response.body", "body": self.json_bytes, "more_body": True}

    @cached_property
    def both_message(self) -> dict[str, Any]:
        return {"type": "http.response.body", "body": self.both_bytes, "more_body": True}

    def message(self, html: bool) -> dict[str, Any]:
        """The ASGI body message, built once per process and shared by every stream it is sent to
        (servers only read it)."""
        return self.both_message if html else self.json_message


class Notice:
    """An event with no id (`presence`) as sent to many streams: its JSON frame, and its page
    fragment rendered only if a page's stream (`?html=1`) gets it, once."""

    __slots__ = ("_html", "_json", "_render_html")

    def __init__(self, json_frame: bytes, render_html: Callable[[], bytes]) -> None:
        self._json = json_frame
        self._html: bytes | None = None
        self._render_html = render_html

    def body(self, html: bool) -> bytes:
        if not html:
            return self._json
        if self._html is None:
            self._html = self._render_html()
        return self._json + self._html


async def _finish_send(coroutine: Any, pending: Any) -> None:
    """Drive a server `send()` coroutine that could not finish synchronously to its end."""
    while True:
        try:
            if pending is None:
                await asyncio.sleep(0)
            else:
                await pending
        except asyncio.CancelledError:
            coroutine.close()
            raise
        except Exception:  # noqa: S110  (the coroutine sees the future's error when resumed)
            pass
        try:
            pending = coroutine.send(None)
        except StopIteration:
            return


class Subscriber:
    """One open stream. `last_sent` is the id of the last event written to it.

    In the steady state the hub writes an event straight to the stream's ASGI `send` (`offer`):
    under daphne that call completes synchronously, so fanning out to N streams is N writes on the
    event loop with no task switch per stream. Anything out of order, or arriving while the stream's
    own loop is busy (replaying, filling a gap, or a write that had to wait), goes to the inbox and
    is written by that loop, in id order.
    """

    __slots__ = (
        "busy",
        "channel",
        "credential",
        "ended",
        "html",
        "inbox",
        "last_notice",
        "last_sent",
        "notice",
        "presence",
        "sender",
        "waiter",
    )

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.credential: Credential | None = None  # set once the stream is authorized
        self.ended = False  # access revoked: the stream's loop ends the response
        self.inbox: list[EncodedEvent] = []
        self.last_sent = 0
        self.waiter: asyncio.Future[None] | None = None
        self.sender: Callable[[dict[str, Any]], Any] | None = None  # set once caught up
        self.html = False
        self.busy = 0  # > 0 while the stream's loop or an unfinished send owns the connection
        self.presence = False  # counted as a viewer (live.presence): gets `presence` notices
        self.notice: bytes | None = None  # a notice (no id) waiting for the stream's loop
        self.last_notice: bytes | None = None

    def end(self) -> None:
        """Stop writing to this stream (its access is gone); its loop ends the response."""
        self.ended = True
        self.sender = None
        self.wake()

    def offer(self, item: EncodedEvent) -> None:
        if item.eid <= self.last_sent or self.ended:
            return
        if self.sender is not None and not self.busy and not self.inbox and item.eid == self.last_sent + 1:
            self.last_sent = item.eid
            self._write_now(item.message(self.html))
        else:
            self.push(item)

    def notify(self, notice: Notice) -> bool:
        """Send a notice: an event with no id (`presence`), outside the id order. Only the latest
        waiting notice is kept (it replaces what it says). False when it repeats the last one."""
        body = notice.body(self.html)
        if self.ended or body == self.last_notice:
            return False
        self.last_notice = body
        if self.sender is not None and not self.busy and not self.inbox and self.notice is None:
            self._write_now({"type": "http.response.body", "body": body, "more_body": True})
        else:
            self.notice = body
            self.wake()
        return True

    def take_notice(self) -> bytes | None:
        notice, self.notice = self.notice, None
        return notice

    def _write_now(self, message: dict[str, Any]) -> None:
        assert self.sender is not None
        coroutine = self.sender(message)
        try:
            pending = coroutine.send(None)
        except StopIteration:
            return
        except Exception:
            coroutine.close()
            self.sender = None  # the stream's loop takes over and notices the disconnect
            self.wake()
            return
        self.busy += 1
        task = asyncio.ensure_future(_finish_send(coroutine, pending))
        task.add_done_callback(self._write_done)

    def _write_done(self, task: asyncio.Future[None]) -> None:
        self.busy -= 1
        if task.cancelled() or task.exception() is not None:
            self.sender = None
        self.wake()

    def push(self, item: EncodedEvent) -> None:
        self.inbox.append(item)
        self.wake()

    def wake(self) -> None:
        """Have the stream's loop look at its inbox (and its state) again."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, loop: asyncio.AbstractEventLoop, other: asyncio.Future[Any], timeout: float) -> None:
        """Until there is inbox work for the loop, `other` completes (the client left), or the timeout."""
        if (self.inbox or self.notice is not None) and not self.busy:
            return
        self.waiter = loop.create_future()
        try:
            await asyncio.wait([self.waiter, other], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not self.waiter.done():
                self.waiter.cancel()
            self.waiter = None

    def take(self) -> list[EncodedEvent]:
        items, self.inbox = self.inbox, []
        if len(items) > 1:
            items.sort(key=lambda item: item.eid)
        return items


class Hub:
    def __init__(self) -> None:
        self.channels: dict[str, set[Subscriber]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._inflight: dict[tuple[str, int], asyncio.Future[list[StoredEvent]]] = {}
        self._redis_task: asyncio.Task[None] | None = None
        self.user_streams: collections.Counter[int] = collections.Counter()  # open streams per user
        self.delivered: dict[str, int] = {}  # highest event id delivered, per subscribed channel
        self._poll_task: asyncio.Task[None] | None = None
        self._recheck_task: asyncio.Task[None] | None = None
        self.streams_ended = 0  # streams ended because their access was revoked
        self._pubsub_handlers: dict[str, Callable[[bytes | str], None]] = {}
        self._reconnect_handlers: list[Callable[[], None]] = []

    def on_pubsub(self, redis_channel: str, handler: Callable[[bytes | str], None]) -> None:
        """Also listen to this Redis pub/sub channel (with REDIS_URL); `handler` runs on the loop."""
        self._pubsub_handlers[redis_channel] = handler

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Call `handler` (on the loop) each time the Redis subscription is back after a loss,
        once the missed events were re-read: what was announced meanwhile is lost."""
        self._reconnect_handlers.append(handler)

    # --- subscriptions (on the loop) ----------------------------------------------------------
    def subscribe(self, channel: str) -> Subscriber:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop = loop
            self._redis_task = self._poll_task = self._recheck_task = None
        if self._redis_task is None and settings.REDIS_URL:
            self._redis_task = loop.create_task(self._listen_redis())
        if self._poll_task is None and settings.STREAM_POLL_SECONDS > 0:
            self._poll_task = loop.create_task(self._poll_storage())
        if self._recheck_task is None and settings.STREAM_AUTH_RECHECK_SECONDS > 0:
            self._recheck_task = loop.create_task(self._recheck_credentials())
        subscriber = Subscriber(channel)
        self.channels.setdefault(channel, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self.channels.get(subscriber.channel)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self.channels[subscriber.channel]
                self.delivered.pop(subscriber.channel, None)

    def stream_count(self) -> int:
        return sum(len(s) for s in self.channels.values())

    def subscribers(self) -> list[Subscriber]:
        return [sub for subs in self.channels.values() for sub in subs]

    # --- revocation (DESIGN 12) ----------------------------------------------------------------
    def revoke(self, message: dict[str, Any]) -> int:
        """End the open streams whose credential matches a revocation; how many were ended."""
        ended = 0
        for sub in self.subscribers():
            if not sub.ended and sub.credential is not None and sub.credential.matches(message):
                sub.end()
                ended += 1
        self.streams_ended += ended
        return ended

    def revoke_threadsafe(self, message: dict[str, Any]) -> None:
        """aep.revocation's listener in this process: called from request threads after commit."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self.channels:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self.revoke, message)

    async def _recheck_credentials(self) -> None:
        while True:
            await asyncio.sleep(settings.STREAM_AUTH_RECHECK_SECONDS)
            try:
                await self.recheck_credentials()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("stream credential re-check failed", exc_info=True)

    async def recheck_credentials(self) -> int:
        """One batch of queries for the credentials of every open stream; end those no longer valid."""
        open_streams = [s for s in self.subscribers() if s.credential is not None and not s.ended]
        if not open_streams:
            return 0
        valid = await run_db(revocation.still_valid, {s.credential for s in open_streams})
        ended = 0
        for sub in open_streams:
            if sub.credential not in valid and not sub.ended:
                sub.end()
                ended += 1
        self.streams_ended += ended
        return ended

    # --- delivery ----------------------------------------------------------------------------
    def deliver(self, event: StoredEvent) -> None:
        subscribers = self.channels.get(event.channel)
        if not subscribers:
            return
        if event.eid > self.delivered.get(event.channel, 0):
            self.delivered[event.channel] = event.eid
        item = EncodedEvent(event)
        for subscriber in list(subscribers):
            subscriber.offer(item)
        plan_stream_events_sent.inc(len(subscribers))

    def deliver_threadsafe(self, event: StoredEvent) -> None:
        """Called from request threads after commit; a process with no open stream does nothing."""
        loop = self.loop
        if loop is None or loop.is_closed() or event.channel not in self.channels:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self.deliver, event)

    async def fetch(self, channel: str, after: int) -> list[StoredEvent]:
        """Stored events after `after`; concurrent identical reads share one query."""
        key = (channel, after)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(run_db(events_after, channel, after))
            self._inflight[key] = future
            future.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(future)

    # --- Redis -------------------------------------------------------------------------------
    async def _listen_redis(self) -> None:
        backoff = 0.2
        lost = False
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
            try:
                pubsub = client.pubsub()
                revocations = revocation.redis_channel()
                await pubsub.subscribe(wire.REDIS_PUBSUB_CHANNEL, revocations, *self._pubsub_handlers)
                backoff = 0.2
                if lost:
                    logger.warning("Redis connection restored; re-reading missed events")
                    await self._resync()
                    for handler in self._reconnect_handlers:
                        handler()
                    lost = False
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    name = _channel_name(message.get("channel"))
                    if name == revocations:
                        self._revoke_redis_message(message["data"])
                    elif name in self._pubsub_handlers:
                        self._pubsub_handlers[name](message["data"])
                    else:
                        self._deliver_redis_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                if not lost:
                    logger.warning("Redis subscription lost; reconnecting", exc_info=True)
                lost = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    await client.aclose()

    def _deliver_redis_message(self, raw: bytes | str) -> None:
        try:
            event = wire.decode(raw)
        except ValueError:
            logger.warning("ignoring a malformed event from Redis: %r", raw[:200])
            return
        if event.channel in self.channels:
            self.deliver(event)

    def _revoke_redis_message(self, raw: bytes | str) -> None:
        try:
            message = revocation.decode(raw)
        except ValueError:
            logger.warning("ignoring a malformed revocation from Redis: %r", raw[:200])
            return
        self.revoke(message)

    async def _poll_storage(self) -> None:
        while True:
            await asyncio.sleep(settings.STREAM_POLL_SECONDS)
            try:
                await self._catch_up_from_storage()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("stream storage poll failed", exc_info=True)

    async def _catch_up_from_storage(self) -> None:
        """One query for the event counters of every subscribed channel; deliver what is newer than
        anything this process has delivered or its subscribers have seen."""
        if not self.channels:
            return
        counters = await run_db(current_eids, list(self.channels))
        for channel, stored in counters.items():
            subscribers = self.channels.get(channel)
            if not subscribers:
                continue
            known = max(self.delivered.get(channel, 0), max(s.last_sent for s in subscribers))
            if stored > known:
                try:
                    for event in await self.fetch(channel, known):
                        self.deliver(event)
                except ReplayGap:
                    continue

    async def _resync(self) -> None:
        """Deliver, per channel, what was stored after the oldest position among its subscribers."""
        for channel, subscribers in list(self.channels.items()):
            if not subscribers:
                continue
            after = min(s.last_sent for s in subscribers)
            try:
                for event in await self.fetch(channel, after):
                    self.deliver(event)
            except ReplayGap:
                continue  # each subscriber resolves its own gap when it next reads


def _channel_name(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


hub = Hub()
revocation.listen(hub.revoke_threadsafe)
