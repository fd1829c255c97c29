"""Fixtures of the plan test modules: a snapshot of everything a plan request could write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_eventstream.models import Event, EventCounter

from aep.models import AuditLog, Membership, Organization
from live import storage
from memory_graph.models import MemoryEdge, MemoryNode
from plans.models import LivePlan, PlanStep


def database_state() -> dict[str, Any]:
    """Row counts of every table a plan request writes, and the mutable state of every plan."""
    return {
        "plans": sorted(
            LivePlan.objects.values_list(
                "id", "org_id", "title", "description", "version", "step_count", "archived", "memory_node_id"
            )
        ),
        "participants": sorted(
            (str(plan_id), list(names))
            for plan_id, names in LivePlan.objects.values_list("id", "participants")
        ),
        "steps": sorted(
            PlanStep.objects.values_list(
                "id", "plan_id", "text", "owner", "done", "done_by", "version", "position", "deleted_at"
            )
        ),
        "audit": AuditLog.objects.count(),
        "events": Event.objects.count(),
        "event_counters": sorted(EventCounter.objects.values_list("name", "value")),
        "nodes": MemoryNode.objects.count(),
        "edges": MemoryEdge.objects.count(),
        "orgs": Organization.objects.count(),
        "memberships": Membership.objects.count(),
    }


@pytest.fixture
def db_state(db) -> Callable[[], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Call it before and after a request: equal results mean the request wrote nothing."""
    return database_state


class Broadcasts(list):  # type: ignore[type-arg]
    """The plan channels' events handed to `live.publish.broadcast`, in order; `org` holds the org
    channels' (what the list page hears), also in order."""

    def __init__(self) -> None:
        super().__init__()
        self.org: list[Any] = []

    def capture(self, event: Any) -> None:
        (self.org if event.channel.startswith("org-") else self).append(event)


@pytest.fixture
def broadcasts(monkeypatch: pytest.MonkeyPatch) -> Broadcasts:
    from live import publish

    sent = Broadcasts()
    monkeypatch.setattr(publish, "broadcast", sent.capture)
    return sent


@pytest.fixture
def emitted(broadcasts: Broadcasts) -> Broadcasts:
    """Every plan event broadcast (after commit), in order (and `.org`, the org's)."""
    return broadcasts


@pytest.fixture
def no_event_log_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    """No trim of the event log during the test. One event append in `EVENT_TRIM_EVERY`, counted
    per process, also trims the log (a query or two more, once in 200 writes): in a long run it
    would fall on any write that a query-count test measures."""
    monkeypatch.setattr(storage, "EVENT_TRIM_EVERY", 10**9)
