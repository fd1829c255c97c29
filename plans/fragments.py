"""Server-rendered HTML fragments for live page updates (htmx SSE named events).

The page renders its steps and participants with the same partials (`plans/_step.html`,
`plans/_participants.html`), so a streamed step looks exactly like one that was there at load time.
The page views answer their own htmx requests with the same fragment as the event they caused
(`render_event_html`), so the author's page and everyone else's change the same way.

Events:
- `step_html` (a new step): appended to the list, participants swapped out-of-band.
- `presence_html` (who is here): the viewers' list, swapped in place.
- `plan_html` (every other change): out-of-band swaps (a changed step in place, the plan's title)
  and, for changes of order, `<template data-op=...>` instructions that static/js/plan.js carries
  out: `move` (a step after another), `delete` (a step out), `place` (a restored step, its HTML
  inside, after another). htmx alone cannot move an element it has no copy of.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.html import format_html

STEP_TEMPLATE = "plans/_step.html"
PARTICIPANTS_TEMPLATE = "plans/_participants.html"
ARCHIVED_TEMPLATE = "plans/_archived_banner.html"
PLAN_HEADING_TEMPLATE = "plans/_plan_heading.html"
VIEWERS_TEMPLATE = "plans/_viewers.html"
PLAN_CARD_TEMPLATE = "plans/_plan_card.html"


def _parse_ts(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def step_view(plan_id: str, data: dict[str, Any]) -> SimpleNamespace:
    """A step as the templates read it, from its JSON shape (an event's or the API's)."""
    return SimpleNamespace(
        id=data["id"],
        plan_id=plan_id,
        text=data["text"],
        owner=data["owner"],
        ts=_parse_ts(data.get("ts")),
        done=data.get("done", False),
        done_by=data.get("done_by"),
        done_at=_parse_ts(data.get("done_at")),
        version=data.get("version", 1),
    )


def render_step(plan_id: str, step: Any, *, oob: bool = False) -> str:
    return render_to_string(STEP_TEMPLATE, {"step": step, "plan_id": plan_id, "oob": oob})


def render_viewers(viewers: list[dict[str, Any]], count: int) -> str:
    return render_to_string(
        VIEWERS_TEMPLATE, {"viewers": viewers, "count": count, "more": count - len(viewers)}
    )


def _op(op: str, step_id: str, after: str | None, inner: str = "") -> str:
    return format_html(
        '<template data-op="{}" data-step="{}" data-after="{}">{}</template>', op, step_id, after or "", inner
    )


def render_event_html(data: dict[str, Any]) -> tuple[str, str] | None:
    """The (event name, HTML) of an event's fragment, or None for events pages do not render."""
    kind = data.get("type")
    plan_id = data.get("plan_id", "")
    try:
        if kind == "step":
            participants = {"participants": data.get("participants", []), "oob": True}
            html = render_step(plan_id, step_view(plan_id, data))
            return "step_html", html + render_to_string(PARTICIPANTS_TEMPLATE, participants)
        if kind == "step_updated":
            return "plan_html", render_step(plan_id, step_view(plan_id, data["step"]), oob=True)
        if kind == "step_moved":
            return "plan_html", _op("move", data["step_id"], data["after"])
        if kind == "step_deleted":
            return "plan_html", _op("delete", data["step_id"], None)
        if kind == "step_restored":
            step = data["step"]
            return "plan_html", _op(
                "place", step["id"], data["after"], render_step(plan_id, step_view(plan_id, step))
            )
        if kind == "plan_updated":
            context = {"title": data["title"], "description": data["description"], "oob": True}
            return "plan_html", render_to_string(PLAN_HEADING_TEMPLATE, context)
        if kind == "presence":
            return "presence_html", render_viewers(data["viewers"], data["count"])
        if kind == "archived":
            context = {"plan_id": data["plan_id"], "memory_node_id": data.get("memory_node_id")}
            return "archived_html", render_to_string(ARCHIVED_TEMPLATE, context)
    except TemplateDoesNotExist:
        return None
    return None


def card_view(item: dict[str, Any]) -> SimpleNamespace:
    """A list card as `plans/_plan_card.html` reads it, from an org event's ITEM."""
    return SimpleNamespace(
        id=item["id"],
        title=item["title"],
        description=item["description"],
        archived=item["archived"],
        steps_done=item["progress"]["done"],
        steps_total=item["progress"]["total"],
        participants=item["participants"],
        updated_at=_parse_ts(item["updated_at"]),
        updated_ago="just now",
    )


def render_org_event_html(data: dict[str, Any]) -> tuple[str, str] | None:
    """The list page's fragment of an org event (`org_html`): a card, or the plan leaving, as a
    `<template data-op>` instruction that static/js/plan_list.js carries out."""
    kind = data.get("type")
    if kind in ("plan_started", "plan_changed"):
        card = render_to_string(PLAN_CARD_TEMPLATE, {"plan": card_view(data["plan"])})
        op = "add" if kind == "plan_started" else "update"
        return "org_html", format_html(
            '<template data-op="{}" data-plan="{}">{}</template>', op, data["plan"]["id"], card
        )
    if kind == "plan_archived":
        return "org_html", format_html(
            '<template data-op="archived" data-plan="{}"></template>', data["plan_id"]
        )
    return None
