"""Archived plans to search: made through the plan services, exactly as the API archives them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from memory_graph.models import MemoryNode
from plans import services as plan_services


@pytest.fixture
def archive() -> Callable[..., MemoryNode]:
    """archive(org, title, steps=[...], participants=[...], description="") -> the plan_session node."""

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
        plan = plan_services.archive_plan(org=org, user=None, plan_id=plan.id)
        return MemoryNode.objects.get(id=plan.memory_node_id)

    return make
