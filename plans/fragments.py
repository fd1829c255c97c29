"""Server-rendered HTML fragments for live page updates (htmx SSE named events).

The page renders its steps and participants with the same partials (`plans/_step.html`,
`plans/_participants.html`), so a streamed step looks exactly like one that was there at load time.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

STEP_TEMPLATE = "plans/_step.html"
PARTICIPANTS_TEMPLATE = "plans/_participants.html"
ARCHIVED_TEMPLATE = "plans/_archived_banner.html"


def _parse_ts(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def render_event_html(data: dict[str, Any]) -> tuple[str, str] | None:
    """The (event name, HTML) of an event's fragment, or None for events pages do not render."""
    kind = data.get("type")
    try:
        if kind == "step":
            step = SimpleNamespace(
                id=data["id"], text=data["text"], owner=data["owner"], ts=_parse_ts(data.get("ts"))
            )
            participants = {"participants": data.get("participants", []), "oob": True}
            html = render_to_string(STEP_TEMPLATE, {"step": step})
            return "step_html", html + render_to_string(PARTICIPANTS_TEMPLATE, participants)
        if kind == "archived":
            context = {"plan_id": data["plan_id"], "memory_node_id": data.get("memory_node_id")}
            return "archived_html", render_to_string(ARCHIVED_TEMPLATE, context)
    except TemplateDoesNotExist:
        return None
    return None
