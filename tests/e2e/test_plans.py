"""End to end in Chromium against a real daphne: create, add steps, archive; live collaboration between two
browsers; the archived toggle; the live connection dropping and coming back."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aep.models import Membership
from memory_graph.models import MemoryNode
from plans import services
from plans.models import LivePlan, PlanStep
from tests.e2e.conftest import CHROMIUM, PASSWORD, SKIP_REASON
from tests.factories import UserFactory

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def partner(tester: Any, org_a: Any) -> Any:
    user = UserFactory(username="partner", first_name="Pat", last_name="Partner")
    Membership.objects.create(user=user, org=org_a)
    return user


@pytest.fixture
def js_errors(page: Page) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield errors


def steps_of(page: Page) -> Any:
    return page.locator("#steps li.step")


def wait_live(page: Page) -> None:
    expect(page.locator("#live-indicator")).to_have_text("Live")


def add_step(page: Page, text: str, owner: str | None = None) -> None:
    if owner is not None:
        page.get_by_label("Owner").fill(owner)
    page.get_by_label("Step", exact=True).fill(text)
    page.get_by_role("button", name="Add Step").click()


def test_create_a_plan_add_a_step_and_archive_it(
    page: Page, live_daphne: Any, tester: Any, js_errors: list[str]
) -> None:
    url = live_daphne.url
    page.goto(f"{url}/plans")
    expect(page).to_have_url(f"{url}/accounts/login/?next=/plans")
    page.get_by_label("Username").fill("tester")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/plans")
    expect(page.get_by_role("heading", name="No plans yet")).to_be_visible()

    page.get_by_role("link", name="New Plan").click()
    page.get_by_label("Title").fill("Launch the beta")
    page.get_by_label("Description").fill("Everything between code freeze and the announcement.")
    page.get_by_role("button", name="Create Plan").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/plan/{UUID}$"))
    expect(page.get_by_role("heading", name="Launch the beta")).to_be_visible()
    wait_live(page)

    expect(page.get_by_label("Owner")).to_have_value("Tess Ter")
    add_step(page, "Freeze the release branch", owner="tester")
    step = steps_of(page)
    expect(step).to_have_count(1)
    expect(step).to_contain_text("Freeze the release branch")
    expect(step.locator(".step-owner")).to_have_text("tester")
    # the form is cleared for the next step, the owner kept, the cursor back in the text
    expect(page.get_by_label("Step", exact=True)).to_have_value("")
    expect(page.get_by_label("Step", exact=True)).to_be_focused()
    expect(page.get_by_label("Owner")).to_have_value("tester")
    page.wait_for_timeout(800)  # the stream's copy of the step has arrived by now: dropped
    expect(step).to_have_count(1)

    page.get_by_role("button", name="Archive Plan").click()
    dialog = page.get_by_role("dialog", name="Archive this plan?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(f"{url}/plans")
    expect(page.get_by_text("“Launch the beta” was archived and saved to memory.")).to_be_visible()

    plan = LivePlan.objects.get()
    assert plan.archived and plan.org_id == "org-a"
    assert list(plan.steps.values_list("text", "owner")) == [("Freeze the release branch", "tester")]
    assert MemoryNode.objects.filter(id=plan.memory_node_id).exists()
    assert js_errors == []


def test_archive_can_be_cancelled(logged_in: Any, live_daphne: Any, tester: Any, org_a: Any) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Keep me")
    page = logged_in(tester)
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    page.get_by_role("button", name="Archive Plan").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert not LivePlan.objects.get(id=plan.id).archived


def test_validation_errors_show_inline(logged_in: Any, live_daphne: Any, tester: Any, org_a: Any) -> None:
    page = logged_in(tester)
    page.goto(f"{live_daphne.url}/plans/new")
    page.get_by_role("button", name="Create Plan").click()
    expect(page.locator("#id_title_error")).to_have_text("This field is required.")
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")

    plan = services.start_plan(org=org_a, user=tester, title="Errors")
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    page.get_by_role("button", name="Add Step").click()
    expect(page.locator("#id_text_error")).to_have_text("This field is required.")
    expect(steps_of(page)).to_have_count(0)
    add_step(page, "Now with text")
    expect(steps_of(page)).to_have_count(1)
    expect(page.locator("#id_text_error")).to_have_count(0)


def test_live_collaboration_two_browsers(
    logged_in: Any, live_daphne: Any, tester: Any, partner: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Pairing session")
    services.add_step(org=org_a, user=tester, plan_id=plan.id, text="Already there")
    first, second = logged_in(tester), logged_in(partner)
    for page in (first, second):
        page.goto(f"{live_daphne.url}/plan/{plan.id}")
        expect(steps_of(page)).to_have_count(1)
        wait_live(page)

    started = time.monotonic()
    add_step(first, "Pick the database", owner="tester")
    expect(steps_of(second)).to_have_count(2, timeout=2000)
    latency = time.monotonic() - started
    expect(steps_of(second).nth(1)).to_contain_text("Pick the database")
    assert latency < 2.0

    add_step(second, "Write the schema")
    expect(steps_of(first)).to_have_count(3, timeout=2000)

    first.wait_for_timeout(1000)  # late duplicates (the authors' own echoes) would have arrived by now
    expected = [str(s.id) for s in PlanStep.objects.filter(plan=plan).order_by("seq")]
    for page in (first, second):
        ids = [i.removeprefix("step-") for i in steps_of(page).evaluate_all("els => els.map(e => e.id)")]
        assert ids == expected  # every step exactly once, in order, on both pages
        expect(page.locator(".step-owner")).to_have_text(["Tess Ter", "tester", "Pat Partner"])
        # new owners joined the participants on both pages, as they did in the database
        expect(page.locator("#participants-list .chip")).to_have_text(["Tess Ter", "tester", "Pat Partner"])
    assert LivePlan.objects.get(id=plan.id).participants == ["Tess Ter", "tester", "Pat Partner"]


def test_a_step_committed_between_render_and_connect_is_not_lost(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any
) -> None:
    """The page renders, then (before its stream connects) someone adds a step: the stream replays it
    from the page's lastEventId, once."""
    plan = services.start_plan(org=org_a, user=tester, title="Race")
    page = logged_in(tester)
    held = []

    def add_a_step_then_connect(route: Any) -> None:
        if not held:
            held.append(services.add_step(org=org_a, user=tester, plan_id=plan.id, text="In the gap"))
        route.continue_()

    page.route(re.compile(r"/api/plan/.*/stream\?"), add_a_step_then_connect)
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    expect(steps_of(page)).to_have_count(1)
    expect(steps_of(page)).to_contain_text("In the gap")
    assert held
    page.wait_for_timeout(500)
    expect(steps_of(page)).to_have_count(1)


def test_the_archived_toggle_adds_archived_plans_beside_the_active_ones(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any
) -> None:
    services.start_plan(org=org_a, user=tester, title="Still going")
    done = services.start_plan(org=org_a, user=tester, title="All done")
    services.archive_plan(org=org_a, user=tester, plan_id=done.id)
    page = logged_in(tester)
    page.goto(f"{live_daphne.url}/plans")
    cards = page.locator(".plan-card")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("Still going")

    toggle = page.get_by_role("switch", name="Show Archived")
    toggle.check()
    expect(page).to_have_url(f"{live_daphne.url}/plans?archived=1")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("Still going")  # active first
    expect(cards.nth(1)).to_contain_text("All done")
    expect(cards.locator(".badge-archived")).to_have_text(["Archived"])

    toggle.uncheck()
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("Still going")


def test_archived_while_watching_turns_the_page_read_only(
    logged_in: Any, live_daphne: Any, tester: Any, partner: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Watched")
    watcher, archiver = logged_in(tester), logged_in(partner)
    watcher.goto(f"{live_daphne.url}/plan/{plan.id}")
    wait_live(watcher)
    watcher.get_by_label("Step", exact=True).fill("A draft I am still writing")
    # Archived through the server (another browser), whose process publishes the event: a service
    # called here, in the test process, would only store it (no Redis between the two processes).
    archiver.goto(f"{live_daphne.url}/plan/{plan.id}")
    archiver.get_by_role("button", name="Archive Plan").click()
    archiver.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(archiver).to_have_url(f"{live_daphne.url}/plans")

    expect(watcher.get_by_text("This plan is archived.")).to_be_visible(timeout=3000)
    # The draft stays visible (to copy), with a notice; it can no longer be sent.
    form = watcher.locator("#add-step-form")
    expect(form).to_contain_text("This plan was archived while you were writing")
    expect(form.get_by_label("Step", exact=True)).to_have_value("A draft I am still writing")
    expect(form.get_by_role("button", name="Add Step")).to_be_disabled()
    expect(watcher.get_by_role("button", name="Archive Plan")).to_have_count(0)
    expect(watcher.locator("#plan-header-actions .badge-archived")).to_have_text("Archived")
    expect(watcher.locator("#live-indicator")).to_have_text("Archived")


def test_connection_banner_when_the_server_goes_away_and_comes_back(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Flaky network")
    page = logged_in(tester)
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    wait_live(page)
    banner = page.locator("#live-banner")
    expect(banner).to_be_hidden()

    live_daphne.stop()
    expect(banner).to_contain_text("Live updates are interrupted", timeout=5000)
    expect(page.locator("#live-indicator")).to_have_text("Reconnecting…")
    services.add_step(org=org_a, user=tester, plan_id=plan.id, text="Added while you were away")

    live_daphne.start()
    expect(banner).to_contain_text("Live updates are back", timeout=15_000)
    wait_live(page)
    expect(steps_of(page)).to_have_count(1)  # replayed after the reconnect
    expect(steps_of(page)).to_contain_text("Added while you were away")


def test_a_step_that_cannot_be_sent_says_so_and_keeps_the_text(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Offline")
    page = logged_in(tester)
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    wait_live(page)
    page.route("**/step", lambda route: route.abort("connectionrefused"))  # the server is away
    add_step(page, "Written while offline")
    form = page.locator("#add-step-form")
    expect(form).to_contain_text("Not sent: the server cannot be reached")
    expect(form.get_by_label("Step", exact=True)).to_have_value("Written while offline")
    page.unroute("**/step")
    form.get_by_role("button", name="Add Step").click()
    expect(steps_of(page)).to_have_count(1)
    expect(form).not_to_contain_text("Not sent")
    assert PlanStep.objects.filter(plan=plan, text="Written while offline").count() == 1


def test_copy_link_copies_the_plans_address(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any
) -> None:
    plan = services.start_plan(org=org_a, user=tester, title="Share me")
    page = logged_in(tester)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_daphne.url)
    page.goto(f"{live_daphne.url}/plan/{plan.id}")
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Link copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_daphne.url}/plan/{plan.id}"
