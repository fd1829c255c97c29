"""The packaged extension (.vsix) inside a real VS Code (code-server 4.100.3), against a real server.

What a user sees: the token prompt, SecretStorage, the plan list and a new plan, the panel's steps
arriving live, a step typed in the panel and one from an editor selection reaching the server,
archiving, the reconnect after a server restart, and the messages for a wrong token and a server
that is down. The screenshots in docs/screenshots/vscode-*.png are taken here.

Run with `make test-vscode` (builds and packages the extension, installs code-server if needed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ops.processes import ROOT, free_port
from plans import services
from plans.models import LivePlan, PlanStep
from tests.e2e.vscode.conftest import AepAccount, open_plan, set_token
from tests.e2e.vscode.harness import CodeServer, PlanPanel, Workbench
from tests.servers import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.vscode]

SCREENSHOTS = ROOT / "docs" / "screenshots"
NOTES = (
    "Launch notes\nCheck the migration on a copy of production\nTell support about the new export button\n"
)


def api_step(server: LiveServer, account: AepAccount, plan_id: Any, text: str, owner: str) -> dict[str, Any]:
    """A step added through the HTTP API of the running server (as another client would)."""
    response = httpx.post(
        f"{server.url}/api/plan/step",
        json={"plan_id": str(plan_id), "text": text, "owner": owner},
        headers={"Authorization": f"Token {account.token}", "X-Org-Id": account.org.id},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["step"]


def stored_steps(plan_id: Any) -> list[tuple[str, str]]:
    return list(PlanStep.objects.filter(plan_id=plan_id).order_by("seq").values_list("text", "owner"))


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` until it returns something truthy (for state the UI sends to the server)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_token_plans_live_steps_selection_and_archive(
    live_daphne: LiveServer,
    aep_account: AepAccount,
    code_server_factory: Callable[..., CodeServer],
    open_workbench: Callable[[CodeServer], Workbench],
    aep_settings: Callable[..., dict[str, str]],
) -> None:
    org, user = aep_account.org, aep_account.user
    release = services.start_plan(org=org, user=user, title="Release 2.0", participants=["dana", "erin"])
    services.add_step(org=org, user=user, plan_id=release.id, text="Freeze the branch", owner="Erin")
    services.add_step(org=org, user=user, plan_id=release.id, text="Tag the release")
    services.start_plan(org=org, user=user, title="Hiring loop")
    services.start_plan(org=aep_account.other_org, user=user, title="Globex secret plan")

    server = code_server_factory(settings=aep_settings(live_daphne.url), files={"notes.txt": NOTES})
    wb = open_workbench(server)
    wb.open_file("notes.txt")  # the panel opens beside it

    # 1. No token yet: the user is told how to set one, and the notification's button does it.
    wb.run_command("AEP: Open Plan Panel")
    toast = wb.expect_notification("Set your API token: run 'AEP: Set API Token'")
    toast.get_by_role("button", name="Set API Token").click()

    # 2. "AEP: Set API Token" asks for it masked and keeps it in SecretStorage, not in settings.json:
    # it is still there after the window reloads.
    expect(wb.quick_input.locator(".quick-input-title")).to_have_text("AEP: Set API Token")
    expect(wb.quick_input_box).to_have_attribute("type", "password")
    wb.answer_input(aep_account.token)
    wb.expect_notification("AEP API token saved in VS Code's secret storage.")
    settings_text = (server.user_data_dir / "User" / "settings.json").read_text()
    assert aep_account.token not in settings_text
    wb.reload()
    editor = wb.open_file("notes.txt")

    # 3. "AEP: Open Plan Panel" lists the org's active plans (not another org's) and creates one.
    wb.run_command("AEP: Open Plan Panel")
    expect(wb.quick_pick_option(re.compile("^Release 2.0"))).to_be_visible()
    expect(wb.quick_input.locator(".quick-input-title")).to_have_text("AEP plans (org acme)")
    assert sorted(wb.quick_pick_labels()) == ["+ Create new plan", "Hiring loop", "Release 2.0"]
    release.refresh_from_db()  # step owners join the participants
    expect(wb.quick_pick_option(re.compile("^Release 2.0"))).to_contain_text(
        f"2 steps · {len(release.participants)} participants"
    )

    # 4. The panel shows a plan's steps, in order, with their owners, and its participants.
    wb.pick(re.compile("^Release 2.0"))
    panel = PlanPanel(wb).expect_open("Release 2.0")
    expect(panel.steps).to_have_count(2)
    assert panel.step_texts() == ["Freeze the branch", "Tag the release"]
    expect(panel.step("Freeze the branch")).to_contain_text("Erin")
    expect(panel.step("Tag the release")).to_contain_text("Dana Dev")
    expect(panel.participants).to_have_text(release.participants)
    expect(panel.step_count).to_have_text("2")
    panel.expect_live()

    wb.run_command("AEP: Open Plan Panel")
    wb.pick("+ Create new plan")
    expect(wb.quick_input.locator(".quick-input-title")).to_have_text("New plan")
    wb.answer_input("Launch checklist")
    panel.expect_open("Launch checklist")
    expect(panel.no_steps).to_be_visible()
    created = LivePlan.objects.get(org=org, title="Launch checklist")
    assert not created.archived
    assert created.created_by_id == user.id
    panel.expect_live()

    # 5. A step added through the API (another client) appears in the open panel, without a reload.
    # The panel reads the plan once when its stream opens; leave that read time to finish, so that
    # only the stream can bring this step.
    wb.page.wait_for_timeout(1_500)
    api_step(live_daphne, aep_account, created.id, "Book the launch room", owner="Erin")
    expect(panel.step("Book the launch room")).to_be_visible(timeout=10_000)
    expect(panel.step("Book the launch room")).to_contain_text("Erin")
    expect(panel.step_count).to_have_text("1")
    expect(panel.no_steps).to_be_hidden()
    expect(panel.participants).to_have_text(["Erin"])  # the owner joins the plan, as on the server

    # 6. A step typed in the panel reaches the server, signed with the user's name.
    panel.add_step("Write the announcement")
    expect(panel.step("Write the announcement")).to_be_visible()
    expect(panel.step_input).to_have_value("")
    assert wait_for(lambda: len(stored_steps(created.id)) == 2), stored_steps(created.id)
    assert stored_steps(created.id) == [
        ("Book the launch room", "Erin"),
        ("Write the announcement", "Dana Dev"),
    ]

    # 7. Text selected in an editor, then "Open in Plan Mode" from the context menu, becomes a step.
    # The command is in the palette under "AEP" too.
    line = wb.select_line(editor, "Check the migration on a copy of production")
    assert "AEP: Open in Plan Mode" in wb.palette_options("AEP")
    wb.close_quick_input()
    expect(editor.locator(".selected-text").first).to_be_visible()
    wb.context_menu(line, "Open in Plan Mode")
    wb.expect_notification('Step added to "Launch checklist".')
    expect(panel.step("Check the migration on a copy of production")).to_be_visible()
    assert panel.step_texts() == [
        "Book the launch room",
        "Write the announcement",
        "Check the migration on a copy of production",
    ]
    assert stored_steps(created.id)[-1] == ("Check the migration on a copy of production", "Dana Dev")
    expect(panel.step_count).to_have_text("3")
    assert LivePlan.objects.get(id=created.id).participants == ["Erin", "Dana Dev"]
    expect(panel.participants).to_have_text(["Erin", "Dana Dev"])
    wb.clear_notifications()
    panel.expect_live()
    wb.page.wait_for_timeout(1_500)  # the new step's highlight fades
    wb.screenshot(SCREENSHOTS / "vscode-panel.png")

    # 8. Archive from the panel: confirm, then the panel shows the plan archived and read-only.
    panel.archive_button.click()
    expect(wb.dialog()).to_contain_text('Archive "Launch checklist"?')
    wb.dialog_button("Archive").click()
    expect(panel.archived_badge).to_be_visible()
    expect(panel.archived_note).to_have_text(
        "This plan is archived in the memory graph; it takes no more steps."
    )
    expect(panel.step_input).to_be_hidden()
    expect(panel.add_button).to_be_hidden()
    expect(panel.archive_button).to_be_hidden()
    expect(panel.connection).to_be_hidden()
    wb.expect_notification(re.compile(r'Plan "Launch checklist" archived \(memory node [0-9a-f-]{36}\)'))
    created.refresh_from_db()
    assert created.archived
    assert created.memory_node_id is not None
    expect(panel.steps).to_have_count(3)
    wb.clear_notifications()
    wb.screenshot(SCREENSHOTS / "vscode-panel-archived.png")


def test_reconnects_after_a_server_restart_and_shows_what_was_missed(
    live_daphne_factory: Callable[..., LiveServer],
    aep_account: AepAccount,
    code_server_factory: Callable[..., CodeServer],
    open_workbench: Callable[[CodeServer], Workbench],
    aep_settings: Callable[..., dict[str, str]],
) -> None:
    live = live_daphne_factory()
    org, user = aep_account.org, aep_account.user
    plan = services.start_plan(org=org, user=user, title="Outage drill", participants=["dana"])
    services.add_step(org=org, user=user, plan_id=plan.id, text="Before the outage")

    server = code_server_factory(settings=aep_settings(live.url))
    wb = open_workbench(server)
    set_token(wb, aep_account.token)
    wb.clear_notifications()
    panel = open_plan(wb, "Outage drill")
    panel.expect_live()
    assert panel.step_texts() == ["Before the outage"]

    # 9. The server stops: the panel says it is reconnecting, and why, in words that say what to do.
    live.stop()
    expect(panel.connection).to_have_attribute("data-state", "reconnecting", timeout=15_000)
    expect(panel.connection).to_have_text("Reconnecting…")
    expect(panel.connection_detail).to_contain_text(f"Cannot reach the AEP server at {live.url}")
    expect(panel.connection_detail).to_contain_text("start it with make run")
    # Meanwhile a step is written straight through the service layer (the server is down).
    services.add_step(org=org, user=user, plan_id=plan.id, text="Added while the server was down")
    wb.screenshot(SCREENSHOTS / "vscode-panel-reconnecting.png")
    assert panel.step_texts() == ["Before the outage"]

    # The server comes back: the panel goes live again by itself and shows the step it missed,
    # then keeps receiving new ones; nothing is shown twice.
    live.start()
    panel.expect_live(timeout=45_000)
    expect(panel.connection_detail).to_be_hidden()
    expect(panel.step("Added while the server was down")).to_be_visible()
    api_step(live, aep_account, plan.id, "Added after the restart", owner="Erin")
    expect(panel.step("Added after the restart")).to_be_visible(timeout=10_000)
    assert panel.step_texts() == [
        "Before the outage",
        "Added while the server was down",
        "Added after the restart",
    ]
    expect(panel.step_count).to_have_text("3")


def test_wrong_token_and_server_down_say_what_to_do(
    live_daphne: LiveServer,
    aep_account: AepAccount,
    code_server_factory: Callable[..., CodeServer],
    open_workbench: Callable[[CodeServer], Workbench],
    aep_settings: Callable[..., dict[str, str]],
) -> None:
    org, user = aep_account.org, aep_account.user
    services.start_plan(org=org, user=user, title="Quarterly review")
    server = code_server_factory(settings=aep_settings(live_daphne.url))
    wb = open_workbench(server)

    # 10a. A wrong token: the message says so and its button asks for a new one, which then works.
    set_token(wb, "0123456789abcdef0123456789abcdef01234567")
    wb.clear_notifications()
    wb.run_command("AEP: Open Plan Panel")
    toast = wb.expect_notification("AEP: Your API token was rejected; run 'AEP: Set API Token'")
    toast.get_by_role("button", name="Set API Token").click()
    wb.answer_input(aep_account.token)
    wb.expect_notification("AEP API token saved")
    wb.clear_notifications()
    panel = open_plan(wb, "Quarterly review")
    panel.expect_live()

    # 10b. The server is not there (aep.serverUrl points at a port nobody listens on): the open panel
    # says it is reconnecting and why; a command says what to do, and its button opens the setting.
    dead_url = f"http://127.0.0.1:{free_port()}"
    wb.set_setting("aep.serverUrl", dead_url)
    expect(panel.connection).to_have_attribute("data-state", "reconnecting", timeout=15_000)
    expect(panel.connection_detail).to_contain_text(f"Cannot reach the AEP server at {dead_url}")
    wb.run_command("AEP: Open Plan Panel")
    toast = wb.expect_notification(
        re.compile(
            rf"AEP: Cannot reach the AEP server at {re.escape(dead_url)}( \(ECONNREFUSED\))?; "
            r"check aep\.serverUrl or start it with make run\."
        )
    )
    toast.get_by_role("button", name="Open Settings").click()
    settings_editor = wb.page.locator(".settings-editor")
    expect(settings_editor).to_be_visible()
    expect(settings_editor.locator('.setting-item-contents[data-key="aep.serverUrl"] input')).to_have_value(
        dead_url
    )
    wb.close_editor("Settings")

    # Pointing it back at the running server: the panel is live again without being reopened.
    wb.set_setting("aep.serverUrl", live_daphne.url)
    panel.expect_live(timeout=45_000)
    expect(panel.connection_detail).to_be_hidden()
