"""Working a plan in Chromium, two people at once, against a real daphne (DESIGN 10): tick off, edit in
place, move with the buttons and by drag and drop, delete and undo, rename; every change shows on the
other page live, and an edit is never lost to someone else's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aep.models import Membership
from plans import services
from plans.models import LivePlan
from plans.selectors import live_steps
from tests.e2e.conftest import CHROMIUM, SKIP_REASON
from tests.factories import UserFactory

if not CHROMIUM.exists():
    pytest.skip(SKIP_REASON, allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.live]


@pytest.fixture
def partner(tester: Any, org_a: Any) -> Any:
    user = UserFactory(username="partner", first_name="Pat", last_name="Partner")
    Membership.objects.create(user=user, org=org_a)
    return user


@pytest.fixture
def plan(tester: Any, org_a: Any) -> Any:
    plan = services.start_plan(org=org_a, user=tester, title="Release 2.4")
    for text in ("Freeze the branch", "Run the migrations", "Tag the release"):
        services.add_step(org=org_a, user=tester, plan_id=plan.id, text=text)
    return plan


@pytest.fixture
def two_pages(
    logged_in: Any, live_daphne: Any, tester: Any, partner: Any, plan: Any
) -> Iterator[tuple[Page, Page]]:
    pages = (logged_in(tester), logged_in(partner))
    errors: list[str] = []
    for page in pages:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_daphne.url}/plan/{plan.id}")
        expect(page.locator("#live-indicator")).to_have_text("Live")
    yield pages
    assert errors == []


def texts(page: Page) -> Any:
    return page.locator("#steps li.step .step-text")


def step(page: Page, text: str) -> Any:
    return page.locator("#steps li.step", has_text=text)


def db_texts(plan: Any) -> list[str]:
    return list(live_steps(plan.id).values_list("text", flat=True))


def test_ticking_a_step_shows_for_both_with_progress(two_pages: tuple[Page, Page], plan: Any) -> None:
    mine, theirs = two_pages
    expect(mine.locator("#plan-progress")).to_have_text("0 of 3 done")
    step(mine, "Freeze the branch").get_by_role("checkbox").check()
    for page in two_pages:
        expect(step(page, "Freeze the branch").get_by_role("checkbox")).to_be_checked()
        expect(step(page, "Freeze the branch")).to_contain_text("Done by Tess Ter")
        expect(page.locator("#plan-progress")).to_have_text("1 of 3 done")
    step(theirs, "Freeze the branch").get_by_role("checkbox").uncheck()
    expect(step(mine, "Freeze the branch").get_by_role("checkbox")).not_to_be_checked()
    expect(mine.locator("#plan-progress")).to_have_text("0 of 3 done")
    assert [s.done for s in live_steps(plan.id)] == [False, False, False]


def test_editing_in_place_and_keyboard_moves(two_pages: tuple[Page, Page], plan: Any) -> None:
    mine, theirs = two_pages
    step(mine, "Run the migrations").get_by_role("button", name="Edit step").click()
    field = mine.locator("#steps textarea[name=text]")
    expect(field).to_be_focused()
    field.fill("Run the database migrations")
    field.press("Enter")
    for page in two_pages:
        expect(texts(page)).to_have_text(
            ["Freeze the branch", "Run the database migrations", "Tag the release"]
        )

    # Escape cancels an edit and puts the step back as it was.
    step(mine, "Tag the release").get_by_role("button", name="Edit step").click()
    mine.locator("#steps textarea[name=text]").fill("never saved")
    mine.locator("#steps textarea[name=text]").press("Escape")
    expect(texts(mine)).to_have_text(["Freeze the branch", "Run the database migrations", "Tag the release"])

    # The partner moves a step up from the keyboard; the button keeps focus and the move is announced.
    up = step(theirs, "Tag the release").get_by_role("button", name="Move up")
    up.focus()
    theirs.keyboard.press("Enter")
    expected = ["Freeze the branch", "Tag the release", "Run the database migrations"]
    for page in two_pages:
        expect(texts(page)).to_have_text(expected)
    expect(theirs.locator("#sr-status")).to_have_text("Moved “Tag the release” to position 2 of 3.")
    expect(step(theirs, "Tag the release").get_by_role("button", name="Move up")).to_be_focused()
    theirs.keyboard.press("Enter")
    for page in two_pages:
        expect(texts(page)).to_have_text(
            ["Tag the release", "Freeze the branch", "Run the database migrations"]
        )
    assert db_texts(plan) == ["Tag the release", "Freeze the branch", "Run the database migrations"]


def test_drag_and_drop_reorders_for_both(two_pages: tuple[Page, Page], plan: Any) -> None:
    mine, _ = two_pages
    handle = step(mine, "Tag the release").locator(".step-handle")
    target = step(mine, "Freeze the branch")
    box = target.bounding_box()
    assert box is not None
    handle.hover()
    mine.mouse.down()
    mine.mouse.move(box["x"] + 40, box["y"] + box["height"] / 2, steps=10)
    mine.mouse.move(box["x"] + 40, box["y"] + 3, steps=10)
    mine.wait_for_timeout(200)
    mine.mouse.up()
    expected = ["Tag the release", "Freeze the branch", "Run the migrations"]
    for page in two_pages:
        expect(texts(page)).to_have_text(expected)
    assert db_texts(plan) == expected


def test_delete_and_undo_put_the_step_back_where_it_was(two_pages: tuple[Page, Page], plan: Any) -> None:
    mine, theirs = two_pages
    step(mine, "Run the migrations").get_by_role("button", name="Delete step").click()
    for page in two_pages:
        expect(texts(page)).to_have_text(["Freeze the branch", "Tag the release"])
        expect(page.locator("#plan-progress")).to_have_text("0 of 2 done")
    toast = mine.locator("#toast")
    expect(toast).to_contain_text("Deleted “Run the migrations”.")
    expect(theirs.locator("#toast")).to_be_hidden()  # only the author gets the Undo
    toast.get_by_role("button", name="Undo").click()
    for page in two_pages:
        expect(texts(page)).to_have_text(["Freeze the branch", "Run the migrations", "Tag the release"])
    expect(toast).to_be_hidden()
    # the restored step works like any other
    step(theirs, "Run the migrations").get_by_role("checkbox").check()
    expect(step(mine, "Run the migrations").get_by_role("checkbox")).to_be_checked()


def test_someone_elses_change_never_eats_an_edit(
    two_pages: tuple[Page, Page], plan: Any, org_a: Any, partner: Any
) -> None:
    mine, _ = two_pages
    step(mine, "Freeze the branch").get_by_role("button", name="Edit step").click()
    field = mine.locator("#steps textarea[name=text]")
    field.fill("Freeze the branch at noon")
    first = live_steps(plan.id).first()
    services.update_step(
        org=org_a, user=partner, plan_id=plan.id, step_id=first.id, text="Freeze main instead"
    )
    notice = mine.locator(".step-edit-notice")
    expect(notice).to_contain_text("Someone else changed this step")
    expect(notice).to_contain_text("Freeze main instead")
    expect(field).to_have_value("Freeze the branch at noon")  # kept
    mine.get_by_role("button", name="Save").click()
    expect(texts(mine).first).to_have_text("Freeze the branch at noon")
    assert db_texts(plan)[0] == "Freeze the branch at noon"


def test_a_stale_save_comes_back_with_both_texts(
    two_pages: tuple[Page, Page], plan: Any, org_a: Any, partner: Any
) -> None:
    """Without the live notice (the stream is slower than the save): the server refuses the stale
    version and the form comes back with the other text, the editor's kept."""
    mine, _ = two_pages
    step(mine, "Tag the release").get_by_role("button", name="Edit step").click()
    field = mine.locator("#steps textarea[name=text]")
    field.fill("Tag v2.4.0")
    last = list(live_steps(plan.id))[-1]
    # Change it behind the page's back, with the page's live connection closed (the sse extension
    # closes it when its element is cleaned up), so that only the server can tell.
    mine.evaluate(
        "() => document.querySelectorAll('[sse-connect]')"
        ".forEach(e => htmx.trigger(e, 'htmx:beforeCleanupElement'))"
    )
    services.update_step(org=org_a, user=partner, plan_id=plan.id, step_id=last.id, text="Tag v2.4.0-rc1")
    with mine.expect_response(lambda r: r.url.endswith("/update")) as saved:
        mine.get_by_role("button", name="Save").click()
    assert saved.value.status == 409
    notice = mine.locator(".step-edit-notice")
    expect(notice).to_contain_text("It now says: “Tag v2.4.0-rc1”")
    expect(mine.locator("#steps textarea[name=text]")).to_have_value("Tag v2.4.0")
    mine.get_by_role("button", name="Save").click()
    expect(mine.locator("#steps textarea[name=text]")).to_have_count(0)  # saved: the editor is gone
    expect(texts(mine).last).to_have_text("Tag v2.4.0")
    assert db_texts(plan)[-1] == "Tag v2.4.0"


def test_renaming_the_plan_shows_for_both(two_pages: tuple[Page, Page], plan: Any, live_daphne: Any) -> None:
    mine, theirs = two_pages
    mine.get_by_role("button", name="Edit Plan").click()
    mine.get_by_label("Title").fill("Release 2.4.1")
    mine.get_by_label("Description").fill("Hotfix for the login bug")
    mine.get_by_role("button", name="Save").click()
    for page in two_pages:
        expect(page.locator("h1.plan-title")).to_have_text("Release 2.4.1")
    expect(theirs.locator(".plan-desc")).to_have_text("Hotfix for the login bug")
    assert LivePlan.objects.get(id=plan.id).title == "Release 2.4.1"
    theirs.goto(f"{live_daphne.url}/plans")
    expect(theirs.locator(".plan-card", has_text="Release 2.4.1")).to_contain_text("0 of 3 done")
    if os.environ.get("AEP_SCREENSHOTS") == "1":
        mine.screenshot(path="docs/screenshots/plan-working.png", full_page=True)
