"""End to end in Chromium against a real daphne (DESIGN 13): "Similar archived plans" while a new
plan's title is typed (htmx, debounced), "Start from this" / "Start a plan from this", and the new plan
starting with the archived plan's steps; "Link" on a node page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from memory_graph.models import MemoryEdge, MemoryNode
from plans import services
from plans.models import LivePlan
from tests.e2e.conftest import CHROMIUM, SKIP_REASON

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]


def archived(org: Any, user: Any, title: str, steps: list[tuple[str, str]]) -> MemoryNode:
    plan = services.start_plan(org=org, user=user, title=title)
    for text, owner in steps:
        services.add_step(org=org, user=user, plan_id=plan.id, text=text, owner=owner)
    plan = services.archive_plan(org=org, user=user, plan_id=plan.id)  # embedded once it commits
    return MemoryNode.objects.get(id=plan.memory_node_id)


@pytest.fixture
def memory(org_a: Any, tester: Any) -> dict[str, MemoryNode]:
    return {
        "rotate": archived(
            org_a,
            tester,
            "Rotate the database credentials",
            [
                ("Generate new passwords", "Maya"),
                ("Update the vault", "Jonas"),
                ("Revoke the old users", "Maya"),
            ],
        ),
        "keys": archived(org_a, tester, "Rotate the API keys", [("Generate new keys", "Jonas")]),
        "party": archived(org_a, tester, "Summer party", [("Book the boat", "Maya")]),
    }


def test_similar_plans_while_typing_then_start_from_one(
    logged_in: Any, live_daphne: Any, tester: Any, memory: dict[str, MemoryNode]
) -> None:
    url = live_daphne.url
    page = logged_in(tester)
    page.goto(f"{url}/plans/new")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/memory/similar?" in r.url else None)
    page.get_by_label("Title").press_sequentially("postgres password change", delay=30)

    similar = page.locator("#similar-plans")
    expect(similar.get_by_role("heading", name="Similar archived plans")).to_be_visible()
    expect(similar.locator("li").first).to_contain_text("Rotate the database credentials")
    expect(similar).not_to_contain_text("Summer party")
    assert 1 <= len(requests) < 10, requests  # debounced: 24 keys, 30 ms apart, well under one per key

    similar.locator("li").first.get_by_role("link", name="Start from this").click()
    expect(page).to_have_url(re.compile(rf"/plans/new\?template={memory['rotate'].id}$"))
    expect(page.get_by_role("note")).to_contain_text("Starting from Rotate the database credentials")
    expect(page.get_by_label("Title")).to_have_value("Rotate the database credentials")
    page.get_by_label("Title").fill("Rotate the database credentials, Q3")
    page.get_by_role("button", name="Create Plan").click()

    expect(page).to_have_url(re.compile(r"/plan/[0-9a-f-]{36}$"))
    expect(page.locator(".step-text")).to_have_text(
        ["Generate new passwords", "Update the vault", "Revoke the old users"]
    )
    plan = LivePlan.objects.get(title="Rotate the database credentials, Q3")
    assert [(s.owner, s.done) for s in plan.steps.order_by("position")] == [
        ("Maya", False),
        ("Jonas", False),
        ("Maya", False),
    ]


def test_node_page_starts_a_plan_and_links_a_similar_node(
    logged_in: Any, live_daphne: Any, tester: Any, memory: dict[str, MemoryNode]
) -> None:
    url = live_daphne.url
    page = logged_in(tester)
    page.goto(f"{url}/memory/{memory['rotate'].id}")
    similar = page.locator(".related-list li")
    expect(similar.first).to_contain_text("Rotate the API keys")
    similar.first.get_by_role("button", name="Link to Rotate the API keys").click()
    expect(page.locator(".edge-list").first).to_contain_text("relates_to")
    expect(page.locator(".edge-list").first).to_contain_text("Rotate the API keys")
    assert MemoryEdge.objects.filter(
        source=memory["rotate"], target=memory["keys"], kind="relates_to"
    ).exists()

    page.get_by_role("link", name="Start a plan from this").click()
    expect(page).to_have_url(f"{url}/plans/new?template={memory['rotate'].id}")
    expect(page.get_by_role("note")).to_contain_text("3 steps")
