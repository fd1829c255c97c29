"""Live events of a plan: channel names, payloads, and publishing after commit.

Events are sent only from services and only once the transaction has committed
(`transaction.on_commit`), so a subscriber never sees a step that was rolled back.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django_eventstream import send_event
from django_eventstream.channelmanager import DefaultChannelManager

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "plan-"


def plan_channel(plan_id: uuid.UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{plan_id}"


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


def publish_on_commit(plan_id: uuid.UUID | str, payload: dict[str, Any]) -> None:
    """Send `payload` as a default (`message`) event on the plan's channel after commit."""
    channel = plan_channel(plan_id)

    def send() -> None:
        send_event(channel, "message", payload)

    # robust: a failed publish is logged, it must not turn a committed write into an error response
    transaction.on_commit(send, robust=True)


class PlanChannelManager(DefaultChannelManager):
    """Only `plan-<uuid>` channels exist. Who may read one is decided before streaming starts
    (the stream view authenticates and scopes to the org), not here."""

    def can_read_channel(self, user: Any, channel: str) -> bool:
        return self.is_channel_reliable(channel)

    def is_channel_reliable(self, channel: str) -> bool:
        if not channel.startswith(CHANNEL_PREFIX):
            return False
        try:
            uuid.UUID(channel[len(CHANNEL_PREFIX) :])
        except ValueError:
            return False
        return True
