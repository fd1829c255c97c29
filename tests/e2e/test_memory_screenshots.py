"""The memory pages' screenshots in docs/screenshots/ (memory-search.png, memory-node.png, and a phone
view of each), taken in headless Chromium against a real daphne.

Opt-in, since they rewrite files in the repository:
`AEP_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/test_memory_screenshots.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from memory_graph.services import create_node, link
from plans import services
from plans.models import LivePlan
from tests.e2e.conftest import CHROMIUM, SKIP_REASON, session_cookie

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)
if not os.environ.get("AEP_SCREENSHOTS"):
    pytest.skip("screenshots are taken only with AEP_SCREENSHOTS=1", allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# (title, description, participants, [(owner, step)]): archived, in this order.
PLANS = [
    (
        "Auth service rollout",
        "Move every client to token auth before the old session endpoints go away in March.",
        ["Maya", "Jonas", "Priya"],
        [
            ("Maya", "Inventory every client that still calls /session"),
            ("Jonas", "Ship the token endpoint behind a feature flag"),
            ("Priya", "Write the migration guide for API consumers"),
            ("Maya", "Turn the flag on for internal tools first"),
        ],
    ),
    (
        "Q3 onboarding revamp",
        "Shorten time-to-first-plan for new teams: fewer steps, better empty states.",
        ["Priya", "Lee"],
        [("Priya", "Interview five new teams"), ("Lee", "Prototype the checklist")],
    ),
    ("Incident 4121 follow-up", "", ["Jonas"], [("Jonas", "Add an alert on replication lag")]),
    (
        "Mobile release 2.4",
        "Everything between code freeze and the store submission, with owners and dates.",
        ["Lee", "Maya", "Sam", "Ana"],
        [("Lee", "Freeze the release branch"), ("Ana", "Smoke test on Android 12"), ("Sam", "Store notes")],
    ),
]


def shoot(page: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # swaps and fonts settle
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def test_take_memory_screenshots(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any, browser: Any
) -> None:
    url = live_daphne.url
    nodes = []
    for title, description, participants, steps in PLANS:
        plan = services.start_plan(
            org=org_a, user=tester, title=title, description=description, participants=participants
        )
        for owner, text in steps:
            services.add_step(org=org_a, user=tester, plan_id=plan.id, text=text, owner=owner)
        nodes.append(
            LivePlan.objects.get(id=services.archive_plan(org=org_a, user=tester, plan_id=plan.id).id)
        )
    auth = nodes[0].memory_node
    review = create_node(
        org=org_a,
        kind="design_doc",
        content=json.dumps({"title": "Token auth design review"}),
    )
    link(source=review, target=auth, kind="used_in_planning")
    link(source=auth, target=nodes[2].memory_node, kind="followed_by")

    page = logged_in(tester)
    page.goto(f"{url}/memory")
    box = page.get_by_label("Search memory")
    box.press_sequentially("Maya", delay=40)
    expect(page.locator("#results-status")).to_contain_text("for “Maya”")
    page.mouse.move(0, 0)
    shoot(page, "memory-search")

    page.goto(f"{url}/memory/{auth.id}")
    expect(page.locator(".step")).to_have_count(4)
    shoot(page, "memory-node")

    mobile = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2
    )
    mobile.add_cookies([session_cookie(tester, live_daphne)])
    phone = mobile.new_page()
    phone.goto(f"{url}/memory?q=Maya")
    shoot(phone, "memory-search-mobile")
    phone.goto(f"{url}/memory/{auth.id}")
    shoot(phone, "memory-node-mobile")
    mobile.close()
