"""Accounts in Chromium (DESIGN 12): an admin invites, the invitee signs up through the link, makes an
API token on /settings/tokens and uses it with curl; a viewer sees no write controls and cannot
write."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aep.models import Membership
from plans import services
from tests.e2e.conftest import PASSWORD
from tests.factories import UserFactory


@pytest.fixture
def ada(live_daphne: Any, org_a: Any) -> Any:
    user = UserFactory(username="ada", first_name="Ada", password=PASSWORD)
    Membership.objects.create(user=user, org=org_a, role="admin")
    return user


def curl(url: str, token: str, *args: str) -> tuple[int, Any]:
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            "-H",
            f"Authorization: Token {token}",
            "-H",
            "X-Org-Id: org-a",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body) if body else None


def invite(page: Page, url: str, role: str) -> str:
    page.goto(f"{url}/org/members")
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Make invitation link").click()
    link = page.locator("#invite-link")
    expect(link).to_be_visible()
    return link.inner_text().strip()


def sign_up(page: Page, link: str, username: str) -> None:
    page.goto(link)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up and join").click()


def make_token(page: Page, url: str, name: str) -> str:
    page.goto(f"{url}/settings/tokens")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Make token").click()
    secret = page.locator("#new-token")
    expect(secret).to_be_visible()
    return secret.inner_text().strip()


def test_invite_sign_up_token_and_curl(
    logged_in: Any, new_context: Any, live_daphne: Any, ada: Any, org_a: Any
) -> None:
    url = live_daphne.url
    admin = logged_in(ada)
    link = invite(admin, url, "member")
    assert link.startswith(f"{url}/invite/inv_")

    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    newcomer = context.new_page()
    sign_up(newcomer, link, "nina")
    expect(newcomer).to_have_url(f"{url}/plans")
    expect(newcomer.get_by_text("your role is member")).to_be_visible()

    secret = make_token(newcomer, url, "curl on my laptop")
    assert secret.startswith("aep_")
    newcomer.get_by_role("button", name="Copy").click()
    expect(newcomer.get_by_role("button", name="Copied")).to_be_visible()
    assert newcomer.evaluate("navigator.clipboard.readText()") == secret

    status, body = curl(
        f"{url}/api/plan/start",
        secret,
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"title": "From curl"}',
    )
    assert status == 200 and body["status"] == "started"
    status, body = curl(f"{url}/api/plan/list", secret)
    assert status == 200 and [p["title"] for p in body["plans"]] == ["From curl"]

    newcomer.goto(f"{url}/settings/tokens")  # the secret is not shown again; revoke it
    expect(newcomer.locator("#new-token")).to_have_count(0)
    newcomer.once("dialog", lambda dialog: dialog.accept())
    newcomer.get_by_role("button", name="Revoke").click()
    expect(newcomer.get_by_text("You have no API tokens yet")).to_be_visible()
    assert curl(f"{url}/api/plan/list", secret)[0] == 401

    admin.goto(f"{url}/org/members")
    expect(admin.locator("#member-nina")).to_contain_text("nina")
    context.close()


def test_a_viewer_cannot_write(
    logged_in: Any, new_context: Any, live_daphne: Any, ada: Any, org_a: Any
) -> None:
    url = live_daphne.url
    plan = services.start_plan(org=org_a, user=ada, title="Read me")
    services.add_step(org=org_a, user=ada, plan_id=plan.id, text="A step to read")
    link = invite(logged_in(ada), url, "viewer")

    context = new_context()
    viewer = context.new_page()
    sign_up(viewer, link, "vera")
    expect(viewer).to_have_url(f"{url}/plans")
    expect(viewer.get_by_role("link", name="New Plan")).to_have_count(0)

    viewer.goto(f"{url}/plan/{plan.id}")
    expect(viewer.get_by_text("A step to read")).to_be_visible()
    expect(viewer.locator("#add-step-form")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Archive Plan")).to_be_hidden()

    secret = make_token(viewer, url, "read only")
    assert curl(f"{url}/api/plan/{plan.id}", secret)[0] == 200
    status, body = curl(
        f"{url}/api/plan/step",
        secret,
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"plan_id": str(plan.id), "text": "no"}),
    )
    assert status == 403 and "viewer" in body["detail"]
    context.close()
