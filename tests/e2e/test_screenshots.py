"""The screenshots in docs/screenshots/, taken in headless Chromium against a real daphne.

Opt-in, since they rewrite files in the repository:
`AEP_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/test_screenshots.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aep.models import Membership
from plans import services
from tests.e2e.conftest import CHROMIUM, SKIP_REASON, session_cookie
from tests.factories import OrganizationFactory, UserFactory

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)
if not os.environ.get("AEP_SCREENSHOTS"):
    pytest.skip("screenshots are taken only with AEP_SCREENSHOTS=1", allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

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
        "Search relevance",
        "Ranking of memory search results: title matches first, then recency.",
        [],
        [],
    ),
    (
        "Mobile release 2.4",
        "Everything between code freeze and the store submission, with owners and dates.",
        ["Lee", "Maya", "Sam", "Ana"],
        [("Lee", "Freeze the release branch"), ("Ana", "Smoke test on Android 12"), ("Sam", "Store notes")],
    ),
]


def shoot(page: Page, name: str, full_page: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # step animations finish
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)


def test_take_screenshots(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any, new_context: Any, browser: Any
) -> None:
    OrganizationFactory(id="org-z", name="Platform Team")
    Membership.objects.create(user=tester, org_id="org-z")
    url = live_daphne.url

    login_page = new_context().new_page()
    login_page.goto(f"{url}/accounts/login/?next=/plans")
    shoot(login_page, "login")

    page = logged_in(tester)
    page.goto(f"{url}/plans")
    expect(page.get_by_role("heading", name="No plans yet")).to_be_visible()
    shoot(page, "plans-empty")

    plans = []
    for title, description, participants, steps in PLANS:
        plan = services.start_plan(
            org=org_a, user=tester, title=title, description=description, participants=participants
        )
        for owner, text in steps:
            services.add_step(org=org_a, user=tester, plan_id=plan.id, text=text, owner=owner)
        plans.append(plan)
    services.archive_plan(org=org_a, user=tester, plan_id=plans[2].id)

    page.goto(f"{url}/plans")
    expect(page.locator(".plan-card")).to_have_count(4)
    shoot(page, "plans")
    page.goto(f"{url}/plans?archived=1")
    shoot(page, "plans-archived")

    page.goto(f"{url}/plan/{plans[0].id}")
    expect(page.locator("#live-indicator")).to_have_text("Live")
    page.get_by_label("Step", exact=True).fill("Announce the switch in the changelog")
    page.get_by_role("button", name="Add Step").click()
    expect(page.locator("#steps li.step")).to_have_count(5)
    page.mouse.move(0, 0)
    shoot(page, "plan-detail", full_page=True)
    page.get_by_role("button", name="Archive Plan").click()
    shoot(page, "plan-archive-confirm")

    page.goto(f"{url}/plan/{plans[2].id}")
    shoot(page, "plan-archived")

    page.goto(f"{url}/plans/new")
    page.get_by_label("Description").fill("A plan without a title")
    page.get_by_role("button", name="Create Plan").click()
    expect(page.locator("#id_title_error")).to_be_visible()
    shoot(page, "new-plan-error")

    mobile = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2
    )
    mobile.add_cookies([session_cookie(tester, live_daphne)])
    phone = mobile.new_page()
    phone.goto(f"{url}/plans")
    shoot(phone, "plans-mobile")
    phone.goto(f"{url}/plan/{plans[0].id}")
    shoot(phone, "plan-detail-mobile", full_page=True)
    mobile.close()

    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    admin_page = logged_in(admin)
    admin_page.goto(f"{url}/admin/plans/liveplan/")
    shoot(admin_page, "admin-plans")
    admin_page.goto(f"{url}/admin/plans/liveplan/{plans[0].id}/change/")
    shoot(admin_page, "admin-plan", full_page=True)
