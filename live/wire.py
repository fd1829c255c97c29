"""The message an event travels in between processes over Redis pub/sub.

django-eventstream's format on its pub/sub channel `events_channel`: `{"channel", "event_type",
"data" (JSON text), "pub_id" (the event id)}`, so its own tools can read what this project sends.
"""

from __future__ import annotations

import json

from live.storage import StoredEvent

REDIS_PUBSUB_CHANNEL = "events_channel"


def encode(event: StoredEvent) -> str:
    return json.dumps(
        {
            "channel": event.channel,
            "event_type": event.event_type,
            "data": json.dumps(event.data),
            "pub_id": str(event.eid),
        }
    )


def decode(raw: bytes | str) -> StoredEvent:
    """The event in a message; ValueError when the message is malformed or carries no id."""
    try:
        message = json.loads(raw)
        if message.get("pub_id") is None:
            raise ValueError("no event id")
        data = message["data"]
        return StoredEvent(
            str(message["channel"]),
            int(message["pub_id"]),
            str(message["event_type"]),
            json.loads(data) if isinstance(data, str) else data,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed event message: {exc}") from None
