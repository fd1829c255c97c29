"""Archived plans to search: made through the plan services, exactly as the API archives them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from memory_graph.models import MemoryNode
from plans import services as plan_services


@pytest.fixture
def archive(django_capture_on_commit_callbacks: Any) -> Callable[..., MemoryNode]:
    """archive(org, title, steps=[...], participants=[...], description="") -> the plan_session node,
    embedded (its after-commit work run, as it runs when a request's transaction commits)."""

    def make(
        org: Any,
        title: str,
        steps: Iterable[str] = (),
        participants: Iterable[str] = (),
        description: str = "",
    ) -> MemoryNode:
        plan = plan_services.start_plan(
            org=org, user=None, title=title, description=description, participants=list(participants)
        )
        for text in steps:
            plan_services.add_step(org=org, user=None, plan_id=plan.id, text=text, owner="tester")
        with django_capture_on_commit_callbacks(execute=True):
            plan = plan_services.archive_plan(org=org, user=None, plan_id=plan.id)
        return MemoryNode.objects.get(id=plan.memory_node_id)

    return make
