"""The plan channel and every event it carries: declared once here, published by the services.

`PLAN_EVENTS` is the contract (live.contract): each event type a plan's stream sends, with its
fields. Services build payloads with the functions below and call `record()` inside their
transaction; tests validate every emitted payload against the contract, and the VS Code extension's
types are generated from it (`manage.py event_contract --typescript`).

The channel (`plan-<uuid>`) is registered with live/ by `plans.apps`: a member of the plan's org may
read it, and pages get each event rendered by `plans.fragments`.
"""

from __future__ import annotations

import uuid
from typing import Any

from aep.db import read_snapshot
from aep.models import Organization
from live import publish, sse
from live.channels import ChannelType
from live.contract import (
    BOOLEAN,
    INTEGER,
    STRING,
    TIMESTAMP,
    UUID,
    Contract,
    EventType,
    control_events,
    list_of,
    nullable,
    object_of,
    presence_event,
)
from live.presence import presence
from live.storage import StoredEvent, current_eid
from plans import fragments, selectors
from plans.serializers import plan_json, step_json

# STEP of DESIGN 10, as `plans.serializers.step_json` builds it.
STEP_FIELDS = {
    "id": UUID,
    "text": STRING,
    "owner": STRING,
    "ts": TIMESTAMP,
    "done": BOOLEAN,
    "done_by": nullable(STRING),
    "done_at": nullable(TIMESTAMP),
    "version": INTEGER,
    "updated_at": TIMESTAMP,
}
STEP = object_of(STEP_FIELDS)

PLAN_EVENTS = Contract.of(
    "plan",
    [
        *control_events("plan_id", UUID),
        presence_event("plan_id", UUID),
        EventType(
            "step",
            {"plan_id": UUID, **STEP_FIELDS, "participants": list_of(STRING)},
            "A step was added (last in the plan), with every field of a step; `participants` is the"
            " plan's list after it (its owner joins, up to the limit), so that no client applies that"
            " rule itself.",
        ),
        EventType(
            "step_updated",
            {"plan_id": UUID, "step": STEP},
            "A step's text, owner or done state changed: replace the step with this id, in place.",
        ),
        EventType(
            "step_moved",
            {"plan_id": UUID, "step_id": UUID, "after": nullable(UUID)},
            "Take the step out and put it right after `after` (null: first).",
        ),
        EventType(
            "step_deleted",
            {"plan_id": UUID, "step_id": UUID},
            "The step was deleted (it can be restored): take it out.",
        ),
        EventType(
            "step_restored",
            {"plan_id": UUID, "step": STEP, "after": nullable(UUID)},
            "A deleted step is back: put it right after `after` (null: first).",
        ),
        EventType(
            "plan_updated",
            {"plan_id": UUID, "title": STRING, "description": STRING, "version": INTEGER},
            "The plan's title or description changed; `version` is the plan's version after it.",
        ),
        EventType(
            "archived",
            {"plan_id": UUID, "memory_node_id": UUID},
            "The plan was archived into this memory node; it takes no more writes.",
        ),
    ],
)


# ITEM of DESIGN 11: a plan as `GET /api/plan/list` lists it, without its steps (the org's stream
# says how a plan is doing, `GET /api/plan/{id}` and the plan's stream say what is in it).
PLAN_ITEM = object_of(
    {
        "id": UUID,
        "org_id": STRING,
        "title": STRING,
        "description": STRING,
        "version": INTEGER,
        "progress": object_of({"done": INTEGER, "total": INTEGER}),
        "participants": list_of(STRING),
        "archived": BOOLEAN,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    }
)

ORG_EVENTS = Contract.of(
    "org",
    [
        *control_events("org_id", STRING),
        EventType("plan_started", {"plan": PLAN_ITEM}, "A plan was started in the org."),
        EventType(
            "plan_changed",
            {"plan": PLAN_ITEM},
            "A plan's title, steps, progress or participants changed: its list item now. At most"
            " one a second per plan (the last change of a burst always follows).",
        ),
        EventType(
            "plan_archived",
            {"plan_id": UUID, "memory_node_id": UUID},
            "A plan was archived into this memory node: it leaves the active plans.",
        ),
    ],
)


def _canonical_plan_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _authorize(org: Organization, key: str) -> str:
    """A member of the org may read the stream of any plan of that org (NotFound otherwise)."""
    return str(selectors.get_plan(org=org, plan_id=key).id)


PLAN_CHANNEL = ChannelType(
    name="plan",
    stream_path="/api/plan/{key}/stream",
    key_field="plan_id",
    authorize=_authorize,
    contract=PLAN_EVENTS,
    parse_key=_canonical_plan_id,
    render_html=fragments.render_event_html,
    presence=True,
)


def _authorize_org(org: Organization, key: str) -> str:
    """Every member of an org reads its stream; the org is the caller's (X-Org-Id, ?org=, or the
    one selected in the browser)."""
    return org.id


ORG_CHANNEL = ChannelType(
    name="org",
    stream_path="/api/org/stream",
    key_field="org_id",
    authorize=_authorize_org,
    contract=ORG_EVENTS,
    parse_key=lambda key: key,
    render_html=fragments.render_org_event_html,
)


def org_channel(org_id: str) -> str:
    return ORG_CHANNEL.channel(org_id)


def plan_channel(plan_id: uuid.UUID | str) -> str:
    return PLAN_CHANNEL.channel(str(plan_id))


def current_event_id(plan_id: uuid.UUID | str) -> str:
    """The SSE id of the plan's latest event. Pages read it BEFORE querying steps and connect with
    `?lastEventId=` so that nothing falls between render and connect."""
    channel = plan_channel(plan_id)
    return sse.event_id(channel, current_eid(channel))


def org_event_id(org_id: str) -> str:
    """The SSE id of the org channel's latest event (read before the list, as for a plan)."""
    channel = org_channel(org_id)
    return sse.event_id(channel, current_eid(channel))


def plan_snapshot(*, org: Organization, plan_id: uuid.UUID | str) -> tuple[Any, list[dict[str, Any]], str]:
    """The plan, its steps (API shape) and the SSE id of its latest event, read on one committed
    state: applying the events after that id to these steps gives exactly what a later read gives
    (DESIGN 10). NotFound for another org's plan."""
    with read_snapshot():
        plan = selectors.get_plan(org=org, plan_id=plan_id)
        last_event_id = current_event_id(plan.id)
        steps = selectors.steps_json([plan.id])[str(plan.id)]
    return plan, steps, last_event_id


def plan_page_snapshot(
    *, org: Organization, plan_id: uuid.UUID | str, limit: int, after: tuple[str, int] | None
) -> tuple[Any, list[dict[str, Any]], str | None, dict[str, int], str]:
    """`plan_snapshot` with a page of the steps: (plan, steps, next cursor, the whole plan's
    progress, last event id). Pages read at different times are each consistent, not together:
    a client that pages through a plan follows the stream from the first page's position."""
    with read_snapshot():
        plan = selectors.get_plan(org=org, plan_id=plan_id)
        last_event_id = current_event_id(plan.id)
        steps, cursor = selectors.steps_page(plan.id, limit=limit, after=after)
        progress = selectors.progress_of(plan.id)
    return plan, steps, cursor, progress, last_event_id


def plan_viewers(*, org: Organization, plan_id: uuid.UUID | str) -> list[dict[str, str]]:
    """Who has the plan's stream open now (live.presence); NotFound for another org's plan."""
    plan = selectors.get_plan(org=org, plan_id=plan_id)
    return presence.viewers_now(plan_channel(plan.id))


def step_payload(step: Any, participants: list[str]) -> dict[str, Any]:
    return {"type": "step", "plan_id": str(step.plan_id), **step_json(step), "participants": participants}


def step_updated_payload(step: Any) -> dict[str, Any]:
    return {"type": "step_updated", "plan_id": str(step.plan_id), "step": step_json(step)}


def step_moved_payload(step: Any, after: uuid.UUID | None) -> dict[str, Any]:
    return {
        "type": "step_moved",
        "plan_id": str(step.plan_id),
        "step_id": str(step.id),
        "after": str(after) if after else None,
    }


def step_deleted_payload(step: Any) -> dict[str, Any]:
    return {"type": "step_deleted", "plan_id": str(step.plan_id), "step_id": str(step.id)}


def step_restored_payload(step: Any, after: uuid.UUID | None) -> dict[str, Any]:
    return {
        "type": "step_restored",
        "plan_id": str(step.plan_id),
        "step": step_json(step),
        "after": str(after) if after else None,
    }


def plan_updated_payload(plan: Any) -> dict[str, Any]:
    return {
        "type": "plan_updated",
        "plan_id": str(plan.id),
        "title": plan.title,
        "description": plan.description,
        "version": plan.version,
    }


def archived_payload(plan: Any) -> dict[str, Any]:
    return {"type": "archived", "plan_id": str(plan.id), "memory_node_id": str(plan.memory_node_id)}


def plan_item(plan: Any, progress: dict[str, int]) -> dict[str, Any]:
    item = plan_json(plan, [], progress)
    del item["steps"]
    return item


def plan_started_payload(plan: Any, progress: dict[str, int]) -> dict[str, Any]:
    return {"type": "plan_started", "plan": plan_item(plan, progress)}


def plan_changed_payload(plan: Any, progress: dict[str, int]) -> dict[str, Any]:
    return {"type": "plan_changed", "plan": plan_item(plan, progress)}


def plan_archived_payload(plan: Any) -> dict[str, Any]:
    return {"type": "plan_archived", "plan_id": str(plan.id), "memory_node_id": str(plan.memory_node_id)}


def record_for_org(org_id: str, payload: dict[str, Any]) -> StoredEvent:
    """Store an event of the org's channel in the current transaction (broadcast after commit).
    Its counter row, locked until commit, keeps the channel's ids in commit order."""
    return publish.record(org_channel(org_id), payload)


def record(plan_id: uuid.UUID | str, payload: dict[str, Any]) -> StoredEvent:
    """Store a plan event in the current transaction; it is broadcast once that commits. The
    caller holds the plan's row lock, which keeps the channel's ids in commit order."""
    return publish.record(plan_channel(plan_id), payload)
