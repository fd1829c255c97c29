"""Live events of a plan: channel names, payloads, SSE ids, and publishing.

A service calls `record()` inside its transaction: the event is stored (and gets its id) with the
write it announces, and is broadcast only after commit (`transaction.on_commit`), so subscribers never
see a step that was rolled back and every committed step has a stored event to replay.

Broadcast: with REDIS_URL, one Redis PUBLISH in django-eventstream's message format (its pub/sub
channel `events_channel`), which every process' hub receives; without it, straight to this process'
hub. Either way a subscriber that misses a broadcast finds the event in storage (see plans.hub).
With GRIP_URL, each event is also published to Pushpin, which holds the streams of that topology
(plans.grip).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
import weakref
from typing import Any

from django.conf import settings
from django.db import transaction

from aep.asgi_handler import run_after_response
from plans.event_storage import StoredEvent, current_eid, storage

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "plan-"
REDIS_PUBSUB_CHANNEL = "events_channel"  # django-eventstream's hard-coded pub/sub channel
EVENT_TYPE = "message"  # the stored type of every plan event (SSE's default event name)


def plan_channel(plan_id: uuid.UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{plan_id}"


def sse_id(channel: str, eid: int) -> str:
    """The SSE `id:` of an event, in django-eventstream's format `plan-<uuid>:<n>`."""
    return f"{channel}:{eid}"


_ID_PART = re.compile(r"^(?:(?P<channel>[^:,]+):)?(?P<eid>\d{1,18})$")


def parse_last_event_id(value: str, channel: str) -> int | None:
    """The event number in a Last-Event-ID for `channel`. Accepts `plan-<uuid>:<n>`, a bare `<n>`, or
    django-eventstream's multi-channel list `a:1,b:2`. Raises ValueError when malformed or when it
    names only other channels."""
    value = value.strip()
    if not value:
        return None
    for part in value.split(","):
        match = _ID_PART.match(part.strip())
        if match is None:
            raise ValueError("malformed Last-Event-ID")
        if match["channel"] in (None, channel):
            return int(match["eid"])
    raise ValueError("Last-Event-ID is for another plan")


def current_event_id(plan_id: uuid.UUID | str) -> str:
    """The SSE id of the plan's latest event. Pages read it BEFORE querying steps and connect with
    `?lastEventId=` so that nothing falls between render and connect."""
    channel = plan_channel(plan_id)
    return sse_id(channel, current_eid(channel))


def step_payload(step: Any) -> dict[str, Any]:
    from plans.serializers import iso

    return {
        "type": "step",
        "plan_id": str(step.plan_id),
        "id": str(step.id),
        "text": step.text,
        "owner": step.owner,
        "ts": iso(step.ts),
    }


def archived_payload(plan: Any) -> dict[str, Any]:
    return {"type": "archived", "plan_id": str(plan.id), "memory_node_id": str(plan.memory_node_id)}


def record(plan_id: uuid.UUID | str, payload: dict[str, Any]) -> StoredEvent:
    """Store an event in the current transaction; broadcast it once the transaction commits.

    The caller must hold the plan's row lock (services do), which keeps ids in commit order."""
    event = storage.append_event(plan_channel(plan_id), EVENT_TYPE, payload)
    announce(event)
    return event


def announce(event: StoredEvent) -> None:
    """Broadcast a stored event once the current transaction commits (at once in autocommit)."""
    transaction.on_commit(lambda: broadcast(event), robust=True)


_redis_client: Any = None


_async_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _async_redis() -> Any:
    """This event loop's Redis client (redis.asyncio clients belong to one loop)."""
    loop = asyncio.get_running_loop()
    client = _async_redis_clients.get(loop)
    if client is None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _async_redis_clients[loop] = client
    return client


def _redis() -> Any:
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def broadcast(event: StoredEvent) -> None:
    """Deliver a stored event to every subscriber, in this process and (with Redis) in all others.

    Inside a request served by aep.asgi_handler this happens on the event loop once the response
    has been sent (`broadcast_after_response`); elsewhere (commands, the test client) at once."""
    if run_after_response(broadcast_after_response, event):
        return
    from plans.hub import hub

    hub.deliver_threadsafe(event)  # this process' streams first: no round trip to Redis before them
    if getattr(settings, "EVENTSTREAM_REDIS", None):
        try:
            _redis().publish(REDIS_PUBSUB_CHANNEL, redis_message(event))
        except Exception:
            _log_publish_failure(event)
        # This process' streams drop the Redis copy as a duplicate.
    publish_to_pushpin(event)


async def broadcast_after_response(event: StoredEvent) -> None:
    """`broadcast`, on the event loop: Redis first, so that the other processes fan out while this
    one does, then this process' streams."""
    from plans.hub import hub

    if getattr(settings, "EVENTSTREAM_REDIS", None):
        try:
            await _async_redis().publish(REDIS_PUBSUB_CHANNEL, redis_message(event))
        except Exception:
            _log_publish_failure(event)
    hub.deliver(event)
    publish_to_pushpin(event)


def redis_message(event: StoredEvent) -> str:
    """The message other processes' hubs read (django-eventstream's format)."""
    return json.dumps(
        {
            "channel": event.channel,
            "event_type": event.event_type,
            "data": json.dumps(event.data),
            "pub_id": str(event.eid),
        }
    )


def _log_publish_failure(event: StoredEvent) -> None:
    # Subscribers will find the event in storage on the next event or resync.
    logger.warning("Redis publish failed for %s:%s", event.channel, event.eid, exc_info=True)


def publish_to_pushpin(event: StoredEvent) -> None:
    if settings.GRIP_URL:
        # Behind Pushpin: queued for a background thread, so the request never waits on Pushpin.
        from plans.grip import publisher

        publisher.enqueue(event)
