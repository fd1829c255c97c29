"""End to end in Chromium against a real daphne: archive a plan, find it in /memory by typing (htmx,
debounced, no Enter, no page load), open its node page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from plans import services
from plans.models import LivePlan
from tests.e2e.conftest import CHROMIUM, SKIP_REASON

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]


@pytest.fixture
def watch_errors() -> Iterator[Any]:
    errors: list[str] = []

    def watch(page: Page) -> list[str]:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return errors

    yield watch


def test_archive_then_find_it_in_memory_as_you_type(
    logged_in: Any, live_daphne: Any, tester: Any, org_a: Any, watch_errors: Any
) -> None:
    url = live_daphne.url
    plan = services.start_plan(
        org=org_a, user=tester, title="Zeppelin hangar retrofit", participants=["Maya", "Jonas"]
    )
    for owner, text in [("Maya", "Measure the doors"), ("Jonas", "Order the steel"), ("Maya", "Paint it")]:
        services.add_step(org=org_a, user=tester, plan_id=plan.id, text=text, owner=owner)
    other = services.start_plan(org=org_a, user=tester, title="Quarterly budget")
    services.archive_plan(org=org_a, user=tester, plan_id=other.id)

    page = logged_in(tester)
    errors = watch_errors(page)
    page.goto(f"{url}/plan/{plan.id}")
    page.get_by_role("button", name="Archive Plan").click()
    page.get_by_role("dialog", name="Archive this plan?").get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(f"{url}/plans")
    node_id = str(LivePlan.objects.get(id=plan.id).memory_node_id)

    page.get_by_role("link", name="Memory", exact=True).click()
    expect(page).to_have_url(f"{url}/memory")
    box = page.get_by_label("Search memory")
    expect(box).to_be_focused()  # autofocus
    results = page.locator("#results .memory-result")
    expect(results).to_have_count(2)  # the initial state: recent nodes

    # Marks this document: a full page load (a submitted form) would lose it.
    page.evaluate("window.__sameDocument = true")
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/memory/search?" in r.url else None)
    box.press_sequentially("zeppel", delay=40)  # a half-typed word, and no Enter
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Zeppelin hangar retrofit")
    expect(results.first).to_contain_text("Maya, Jonas")
    expect(page.locator("#results-status")).to_have_text("1 result for “zeppel”, best match first")
    assert page.evaluate("window.__sameDocument") is True
    # debounced: not one request per key (6 keys, 40 ms apart, within one 300 ms delay)
    assert 1 <= len(searches) < 6, searches
    assert searches[-1].endswith("/memory/search?q=zeppel&kind=")
    expect(page).to_have_url(f"{url}/memory?q=zeppel")  # shareable: a reload shows the same results

    results.first.get_by_role("link", name="Zeppelin hangar retrofit").click()
    expect(page).to_have_url(f"{url}/memory/{node_id}")
    expect(page.get_by_role("heading", name="Zeppelin hangar retrofit", level=1)).to_be_visible()
    expect(page.locator(".step-text")).to_have_text(["Measure the doors", "Order the steel", "Paint it"])
    expect(page.locator(".step-owner")).to_have_text(["Maya", "Jonas", "Maya"])
    page.get_by_role("link", name="Open the plan").click()
    expect(page).to_have_url(re.compile(rf"/plan/{plan.id}$"))
    expect(page.get_by_role("link", name="View in Memory")).to_have_attribute("href", f"/memory/{node_id}")
    assert errors == []
