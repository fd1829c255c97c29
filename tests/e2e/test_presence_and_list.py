"""Presence and the live list in Chromium, two people at once, against a real daphne (DESIGN 11):
who is looking at a plan shows on its page, and the list page follows the org's plans live."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from aep.models import Membership
from plans import services
from tests.e2e.conftest import CHROMIUM, SKIP_REASON
from tests.factories import UserFactory, token_for

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]
SHOTS = os.environ.get("AEP_SCREENSHOTS", "")


@pytest.fixture
def partner(tester: Any, org_a: Any) -> Any:
    user = UserFactory(username="partner", first_name="Pat", last_name="Partner")
    Membership.objects.create(user=user, org=org_a)
    return user


def api(server: Any, user: Any, method: str, path: str, **body: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Token {token_for(user)}", "X-Org-Id": "org-a"}
    response = httpx.request(method, f"{server.url}{path}", json=body or None, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def viewers(page: Page) -> Any:
    return page.locator("#viewers .viewer-name")


def test_viewers_of_a_plan_see_each_other_come_and_go(
    logged_in: Any, live_daphne: Any, tester: Any, partner: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Incident review")
    mine = logged_in(tester)
    mine.goto(f"{live_daphne.url}/plan/{plan.id}")
    expect(viewers(mine)).to_have_text(["Tess Ter"])
    theirs = logged_in(partner)
    theirs.goto(f"{live_daphne.url}/plan/{plan.id}")
    expect(viewers(theirs)).to_have_text(["Tess Ter", "Pat Partner"])  # first arrived first
    expect(viewers(mine)).to_have_text(["Tess Ter", "Pat Partner"], timeout=3_000)
    expect(mine.locator("#viewers .viewer-list")).to_have_attribute("aria-label", "2 viewing now")
    expect(mine.locator("#viewers .viewer-self")).to_have_attribute("data-user", "tester")  # "(you)"
    expect(theirs.locator("#viewers .viewer-self")).to_have_attribute("data-user", "partner")
    if SHOTS:
        mine.screenshot(path=f"{SHOTS}/presence.png", full_page=True)
    theirs.goto(f"{live_daphne.url}/plans")  # leaving the plan's page closes its stream
    expect(viewers(mine)).to_have_text(["Tess Ter"], timeout=3_000)


def test_the_list_follows_the_orgs_plans_live(
    logged_in: Any, live_daphne: Any, tester: Any, partner: Any, org_a: Any
) -> None:
    services.start_plan(org=org_a, user=tester, title="Already here")
    page = logged_in(tester)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_daphne.url}/plans")
    expect(page.locator("#org-live")).to_have_attribute("data-state", "live")
    cards = page.locator("#plan-cards .plan-card-title")
    expect(cards).to_have_text(["Already here"])
    expect(page.locator("#plans-count")).to_have_text("1")

    plan_id = api(live_daphne, partner, "POST", "/api/plan/start", title="Partner's new plan")["plan_id"]
    expect(cards).to_have_text(["Partner's new plan", "Already here"], timeout=3_000)  # no reload
    expect(page.locator("#plans-count")).to_have_text("2")

    card = page.locator(f"#plan-card-{plan_id}")
    api(live_daphne, partner, "POST", "/api/plan/step", plan_id=plan_id, text="Draft the agenda")
    expect(card).to_contain_text("0 of 1 done", timeout=3_000)
    expect(card.locator(".plan-card-meta")).to_contain_text("Participants1")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/list-live.png", full_page=True)

    api(live_daphne, partner, "POST", f"/api/plan/{plan_id}/archive")
    expect(cards).to_have_text(["Already here"], timeout=3_000)  # it left the active plans
    expect(page.locator("#plans-count")).to_have_text("1")
    assert errors == []


def test_an_org_whose_last_plan_is_archived_says_so_live(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="The only one")
    page = logged_in(tester)
    page.goto(f"{live_daphne.url}/plans")
    expect(page.locator("#org-live")).to_have_attribute("data-state", "live")
    api(live_daphne, tester, "POST", f"/api/plan/{plan.id}/archive")
    expect(page.locator("#empty-heading")).to_have_text("No active plans", timeout=3_000)
    api(live_daphne, tester, "POST", "/api/plan/start", title="A fresh start")
    expect(page.locator("#plan-cards .plan-card-title")).to_have_text(["A fresh start"], timeout=3_000)


def test_a_long_plans_page_shows_its_first_steps_live(
    logged_in: Any, live_daphne: Any, tester: Any, partner: Any, org_a: Any
) -> None:
    """A plan longer than PLAN_PAGE_STEPS (200) shows its first 200 steps and stays right while
    others change it: a step moved into view is fetched, one moved out leaves, a hidden step
    ticked off counts, and a new step (last) is not appended to the part shown."""
    plan = services.start_plan(org=org_a, user=tester, title="Migration checklist")
    ids = [
        services.add_step(org=org_a, user=tester, plan_id=plan.id, text=f"Step {n:03d}").id
        for n in range(205)
    ]
    page = logged_in(tester)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    expect(page.locator("#live-indicator")).to_have_text("Live")
    shown = page.locator("#steps li.step .step-text")
    expect(shown).to_have_count(200)
    expect(page.locator("#steps-more")).to_contain_text("of 205")
    expect(page.locator("#plan-progress")).to_have_text("0 of 205 done")

    api(live_daphne, partner, "POST", f"/api/plan/{plan.id}/steps/{ids[203]}/move", after=None)
    expect(shown.first).to_have_text("Step 203", timeout=3_000)  # moved into view: fetched
    api(live_daphne, partner, "POST", f"/api/plan/{plan.id}/steps/{ids[1]}/move", after=str(ids[204]))
    expect(page.locator("#steps li.step", has_text="Step 001")).to_have_count(0, timeout=3_000)
    api(live_daphne, partner, "PATCH", f"/api/plan/{plan.id}/steps/{ids[204]}", done=True)
    expect(page.locator("#plan-progress")).to_have_text("1 of 205 done", timeout=3_000)

    page.locator("#add-step-form textarea[name=text]").fill("Step added at the end")
    page.locator("#add-step-form button[type=submit]").click()
    expect(page.locator("#toast")).to_contain_text("at the end of the plan")
    expect(page.locator("#steps-more")).to_contain_text("of 206", timeout=3_000)
    expect(page.locator("#steps li.step", has_text="Step added at the end")).to_have_count(0)

    page.get_by_role("link", name="Show all steps").click()
    expect(shown).to_have_count(206)
    expect(shown.last).to_have_text("Step added at the end")
    assert errors == []
