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

import json
import logging
import re
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction

from plans.event_storage import StoredEvent, current_eid, storage

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "plan-"
REDIS_PUBSUB_CHANNEL = "events_channel"  # django-eventstream's hard-coded pub/sub channel


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
    event = storage.append_event(plan_channel(plan_id), "message", payload)
    transaction.on_commit(lambda: broadcast(event), robust=True)
    return event


_redis_client: Any = None


def _redis() -> Any:
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def broadcast(event: StoredEvent) -> None:
    """Deliver a stored event to every subscriber, in this process and (with Redis) in all others."""
    from plans.hub import hub

    hub.deliver_threadsafe(event)  # this process' streams first: no round trip to Redis before them
    if getattr(settings, "EVENTSTREAM_REDIS", None):
        message = {
            "channel": event.channel,
            "event_type": event.event_type,
            "data": json.dumps(event.data),
            "pub_id": str(event.eid),
        }
        try:
            _redis().publish(REDIS_PUBSUB_CHANNEL, json.dumps(message))
        except Exception:
            # Subscribers will find the event in storage on the next event or resync.
            logger.warning("Redis publish failed for %s:%s", event.channel, event.eid, exc_info=True)
        # This process' streams drop the Redis copy as a duplicate.
    if settings.GRIP_URL:
        # Behind Pushpin: queued for a background thread, so the request never waits on Pushpin.
        from plans.grip import publisher

        publisher.enqueue(event)
