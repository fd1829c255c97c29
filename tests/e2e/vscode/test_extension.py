"""The packaged extension (.vsix) inside a real VS Code (code-server 4.100.3), against a real server.

What a user sees: the token prompt, SecretStorage, the plan list and a new plan, the panel's steps
arriving live, a step typed in the panel and one from an editor selection reaching the server,
archiving, the reconnect after a server restart, and the messages for a wrong token and a server
that is down; working a plan (DESIGN 10) in the panel (tick, edit in place, a stale edit, Move
up/down by keyboard, Delete and Undo, rename) and another user's changes arriving live; "Here now"
(DESIGN 11): the panel's user, and another viewer coming and going, live. The
screenshots in docs/screenshots/vscode-*.png are taken here (vscode-panel-working.png only with
AEP_SCREENSHOTS=1).

Run with `make test-vscode` (builds and packages the extension, installs code-server if needed).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from aep.models import Membership
from ops.processes import ROOT, free_port
from plans import services
from plans.models import LivePlan, PlanStep
from tests.e2e.vscode.conftest import AepAccount, open_plan, set_token
from tests.e2e.vscode.harness import CodeServer, PlanPanel, Workbench
from tests.factories import MembershipFactory, UserFactory, token_for
from tests.servers import LiveServer
from tests.sse import SseStream

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


def api(
    server: LiveServer, token: str, org: str, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A call to the HTTP API of the running server, as another client would make it."""
    response = httpx.request(
        method,
        f"{server.url}{path}",
        json=body,
        headers={"Authorization": f"Token {token}", "X-Org-Id": org},
        timeout=10,
    )
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def screenshot_path(name: str, tmp_path: Any) -> Any:
    """docs/screenshots/<name> with AEP_SCREENSHOTS=1, else a temp folder (the docs stay as they are)."""
    return (SCREENSHOTS if os.environ.get("AEP_SCREENSHOTS") == "1" else tmp_path) / name


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
    # Who is here is not known meanwhile: the panel does not keep a list that may be wrong.
    expect(panel.viewer_names).to_have_count(0)
    expect(panel.viewers_unknown).to_have_text("Not known while the panel is not live.")
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
    expect(panel.viewer_names).to_have_text(["Dana Dev"], timeout=10_000)  # the new stream's presence
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


def test_working_a_plan_in_the_panel(
    live_daphne: LiveServer,
    aep_account: AepAccount,
    code_server_factory: Callable[..., CodeServer],
    open_workbench: Callable[[CodeServer], Workbench],
    aep_settings: Callable[..., dict[str, str]],
    tmp_path: Any,
) -> None:
    org, user, token = aep_account.org, aep_account.user, aep_account.token
    plan = services.start_plan(org=org, user=user, title="Sprint 12", participants=["dana"])
    texts = ["Write the changelog", "Run the migration", "Update the docs", "Email the customers"]
    ids = {text: str(services.add_step(org=org, user=user, plan_id=plan.id, text=text).id) for text in texts}
    # Another member of the org, working on the same plan through the API.
    erin = UserFactory(username="erin", first_name="Erin", last_name="Ops")
    MembershipFactory(user=erin, org=org)
    erin_token = token_for(erin)

    def server_plan() -> dict[str, Any]:
        return api(live_daphne, token, org.id, "GET", f"/api/plan/{plan.id}")

    def server_texts() -> list[str]:
        return [step["text"] for step in server_plan()["steps"]]

    server = code_server_factory(settings=aep_settings(live_daphne.url))
    wb = open_workbench(server)
    set_token(wb, token)
    wb.clear_notifications()
    panel = open_plan(wb, "Sprint 12")
    panel.expect_live()
    assert panel.step_texts() == texts
    expect(panel.progress).to_have_text("0 of 4 done")

    # 11. Tick a step: struck through, "done by" the user, counted; the server has it done by them.
    panel.checkbox("Run the migration").check()
    expect(panel.step("Run the migration")).to_have_class(re.compile(r"\bdone\b"))
    expect(panel.step("Run the migration")).to_contain_text("done by Dana Dev")
    expect(panel.progress).to_have_text("1 of 4 done")
    migration = server_plan()["steps"][1]
    assert (migration["text"], migration["done"], migration["done_by"]) == (
        "Run the migration",
        True,
        "Dana Dev",
    )
    assert server_plan()["progress"] == {"done": 1, "total": 4}

    # 12. Edit in place: double-click, type, Enter saves; Edit, type, Escape cancels.
    panel.edit_step("Update the docs", "Update the user guide")
    expect(panel.step("Update the user guide")).to_be_visible()
    expect(panel.editor("Update the user guide")).to_be_hidden()
    assert wait_for(lambda: server_texts()[2] == "Update the user guide"), server_texts()
    panel.button("Write the changelog", "Edit step").click()
    panel.editor("Write the changelog").fill("Not this")
    panel.editor("Write the changelog").press("Escape")
    expect(panel.editor("Write the changelog")).to_be_hidden()
    expect(panel.button("Write the changelog", "Edit step")).to_be_focused()
    assert panel.step_texts() == [
        "Write the changelog",
        "Run the migration",
        "Update the user guide",
        texts[3],
    ]

    # 13. Someone else changes the step while it is being edited: saving says so, with the version,
    # and keeps the user's text; saving again replaces theirs.
    panel.button("Email the customers", "Edit step").click()
    panel.editor("Email the customers").fill("Email the customers and partners")
    api(
        live_daphne,
        erin_token,
        org.id,
        "PATCH",
        f"/api/plan/{plan.id}/steps/{ids[texts[3]]}",
        {"text": "Email everyone"},
    )
    expect(panel.step("Email everyone")).to_be_visible()  # live, while the editor stays open
    editor = panel.editor("Email everyone")
    expect(editor).to_have_value("Email the customers and partners")
    editor.press("Enter")
    note = panel.step("Email everyone").locator(".edit-note")
    expect(note).to_contain_text("Someone else changed this step since you loaded it (it is now version 2)")
    expect(note).to_contain_text("Their text: \u201cEmail everyone\u201d")
    expect(editor).to_have_value("Email the customers and partners")
    assert server_texts()[3] == "Email everyone", "nothing was written"
    editor.press("Enter")
    expect(panel.step("Email the customers and partners")).to_be_visible()
    expect(panel.editor("Email the customers and partners")).to_be_hidden()
    assert wait_for(lambda: server_texts()[3] == "Email the customers and partners"), server_texts()

    # 14. Move up twice with the keyboard: the focus stays on the button, each move is announced.
    panel.move_with_keyboard("Email the customers and partners", "up")
    expect(panel.announcer).to_have_text('Moved "Email the customers and partners" to position 3 of 4')
    expect(panel.button("Email the customers and partners", "Move up")).to_be_focused()
    wb.page.keyboard.press("Enter")
    expect(panel.announcer).to_have_text('Moved "Email the customers and partners" to position 2 of 4')
    moved = [
        "Write the changelog",
        "Email the customers and partners",
        "Run the migration",
        "Update the user guide",
    ]
    assert panel.step_texts() == moved
    assert wait_for(lambda: server_texts() == moved), server_texts()
    panel.button("Write the changelog", "Move down").click()
    expect(panel.announcer).to_have_text('Moved "Write the changelog" to position 2 of 4')
    moved = [
        "Email the customers and partners",
        "Write the changelog",
        "Run the migration",
        "Update the user guide",
    ]
    assert wait_for(lambda: server_texts() == moved), server_texts()
    expect(panel.button("Email the customers and partners", "Move up")).to_be_disabled()
    expect(panel.button("Update the user guide", "Move down")).to_be_disabled()

    # 15. Delete, then Undo: the step leaves (on the server too) and comes back where it was.
    # With the keyboard: Enter on Delete, the focus goes to Undo; Enter there, back on the step.
    panel.button("Run the migration", "Delete step").focus()
    wb.page.keyboard.press("Enter")
    expect(panel.step("Run the migration")).to_have_count(0)
    expect(panel.undo_button).to_be_focused()
    expect(panel.toast).to_be_visible()
    expect(panel.toast).to_contain_text("Deleted \u201cRun the migration\u201d.")
    expect(panel.progress).to_have_text("0 of 3 done")
    assert wait_for(lambda: "Run the migration" not in server_texts()), server_texts()
    wb.page.keyboard.press("Enter")
    expect(panel.step("Run the migration")).to_be_visible()
    expect(panel.toast).to_be_hidden()
    expect(panel.button("Run the migration", "Delete step")).to_be_focused()
    assert panel.step_texts() == moved
    expect(panel.progress).to_have_text("1 of 4 done")
    assert wait_for(lambda: server_texts() == moved), server_texts()
    assert server_plan()["steps"][2]["done"] is True  # restored as it was, ticked

    # 16. Rename the plan: the panel, its tab and the server have the new title.
    panel.rename("Sprint 12: release")
    expect(panel.title).to_have_text("Sprint 12: release")
    expect(panel.rename_input).to_be_hidden()
    expect(panel.rename_button).to_be_enabled()
    expect(wb.page.locator(".tabs-container .tab", has_text="Sprint 12: release")).to_be_visible()
    assert wait_for(lambda: server_plan()["title"] == "Sprint 12: release")
    assert server_plan()["version"] == 2
    expect(panel.error).to_be_hidden()
    wb.clear_notifications()
    wb.page.wait_for_timeout(1_500)  # highlights fade
    wb.screenshot(screenshot_path("vscode-panel-working.png", tmp_path))


def test_another_users_changes_arrive_live_in_the_panel(
    live_daphne: LiveServer,
    aep_account: AepAccount,
    code_server_factory: Callable[..., CodeServer],
    open_workbench: Callable[[CodeServer], Workbench],
    aep_settings: Callable[..., dict[str, str]],
) -> None:
    org, user = aep_account.org, aep_account.user
    plan = services.start_plan(org=org, user=user, title="Launch week", participants=["dana"])
    texts = ["Book the room", "Print the badges", "Order the food"]
    ids = [str(services.add_step(org=org, user=user, plan_id=plan.id, text=text).id) for text in texts]
    erin = UserFactory(username="erin", first_name="Erin", last_name="Ops")
    MembershipFactory(user=erin, org=org)
    erin_token = token_for(erin)

    def erin_does(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return api(live_daphne, erin_token, org.id, method, f"/api/plan/{plan.id}{path}", body)

    server = code_server_factory(settings=aep_settings(live_daphne.url))
    wb = open_workbench(server)
    set_token(wb, aep_account.token)
    wb.clear_notifications()
    panel = open_plan(wb, "Launch week")
    panel.expect_live()
    expect(panel.progress).to_have_text("0 of 3 done")

    # 17. Erin ticks a step: struck through, "done by Erin Ops", counted; no reload.
    erin_does("PATCH", f"/steps/{ids[1]}", {"done": True})
    expect(panel.step("Print the badges")).to_have_class(re.compile(r"\bdone\b"), timeout=10_000)
    expect(panel.step("Print the badges")).to_contain_text("done by Erin Ops")
    expect(panel.checkbox("Print the badges")).to_be_checked()
    expect(panel.progress).to_have_text("1 of 3 done")

    # She moves the last step first, then edits it.
    erin_does("POST", f"/steps/{ids[2]}/move", {"after": None})
    expect(panel.steps.first).to_contain_text("Order the food", timeout=10_000)
    assert panel.step_texts() == ["Order the food", "Book the room", "Print the badges"]
    erin_does("PATCH", f"/steps/{ids[2]}", {"text": "Order the food (vegan too)"})
    expect(panel.step("Order the food (vegan too)")).to_be_visible(timeout=10_000)

    # She deletes a step: it leaves the panel; she restores it: it comes back where it was.
    erin_does("DELETE", f"/steps/{ids[0]}")
    expect(panel.step("Book the room")).to_have_count(0, timeout=10_000)
    expect(panel.progress).to_have_text("1 of 2 done")
    expect(panel.toast).to_be_hidden()  # only the user's own deletes offer an Undo
    erin_does("POST", f"/steps/{ids[0]}/restore")
    expect(panel.step("Book the room")).to_be_visible(timeout=10_000)
    assert panel.step_texts() == ["Order the food (vegan too)", "Book the room", "Print the badges"]

    # She renames the plan: the panel's title and its tab follow.
    erin_does("PATCH", "", {"title": "Launch week (moved to May)"})
    expect(panel.title).to_have_text("Launch week (moved to May)", timeout=10_000)
    expect(wb.page.locator(".tabs-container .tab", has_text="Launch week (moved to May)")).to_be_visible()

    # What the panel shows is what a fresh GET returns.
    fresh = api(live_daphne, aep_account.token, org.id, "GET", f"/api/plan/{plan.id}")
    assert [step["text"] for step in fresh["steps"]] == panel.step_texts()
    assert fresh["progress"] == {"done": 1, "total": 3}
    expect(panel.progress).to_have_text("1 of 3 done")
    panel.expect_live()


def test_here_now_shows_who_has_the_plan_open_live(
    live_daphne: LiveServer,
    aep_account: AepAccount,
    code_server_factory: Callable[..., CodeServer],
    open_workbench: Callable[[CodeServer], Workbench],
    aep_settings: Callable[..., dict[str, str]],
    tmp_path: Any,
) -> None:
    org, user = aep_account.org, aep_account.user
    plan = services.start_plan(org=org, user=user, title="Design review", participants=["dana"])
    services.add_step(org=org, user=user, plan_id=plan.id, text="Read the proposal")
    # Another user of the org, a viewer (DESIGN 12): she only reads, and counts as here all the same.
    erin = UserFactory(username="erin", first_name="Erin", last_name="Ops")
    MembershipFactory(user=erin, org=org, role=Membership.Role.VIEWER)
    erin_headers = {"Authorization": f"Token {token_for(erin)}", "X-Org-Id": org.id}
    stream_url = f"{live_daphne.url}/api/plan/{plan.id}/stream"

    def presence_names() -> list[str]:
        body = api(live_daphne, aep_account.token, org.id, "GET", f"/api/plan/{plan.id}/presence")
        return [viewer["name"] for viewer in body["viewers"]]

    server = code_server_factory(settings=aep_settings(live_daphne.url))
    wb = open_workbench(server)
    set_token(wb, aep_account.token)
    wb.clear_notifications()
    panel = open_plan(wb, "Design review")
    panel.expect_live()

    # 18. The panel's own user is here now: their name, their initial.
    expect(panel.viewer_names).to_have_text(["Dana Dev"], timeout=10_000)
    expect(panel.viewer_avatars).to_have_text(["D"])
    expect(panel.here_now).to_have_attribute("aria-label", "1 person viewing now")
    expect(panel.viewers_unknown).to_be_hidden()
    assert presence_names() == ["Dana Dev"]

    # Erin opens the plan (another client's stream): she shows up in the panel, live, after Dana.
    with SseStream(stream_url, headers=erin_headers, presence=True) as erin_stream:
        assert erin_stream.status_code == 200
        assert erin_stream.next_event(10).json["type"] == "connected"
        expect(panel.viewer_names).to_have_text(["Dana Dev", "Erin Ops"], timeout=10_000)
        expect(panel.viewer_avatars).to_have_text(["D", "E"])
        expect(panel.here_now).to_have_attribute("aria-label", "2 people viewing now")
        assert presence_names() == ["Dana Dev", "Erin Ops"]
        expect(panel.steps).to_have_count(1)  # presence changes nothing of the plan
        wb.clear_notifications()
        wb.screenshot(screenshot_path("vscode-panel-here-now.png", tmp_path))

    # Her stream closes: she leaves the panel's list; Dana is still here.
    expect(panel.viewer_names).to_have_text(["Dana Dev"], timeout=15_000)
    expect(panel.here_now).to_have_attribute("aria-label", "1 person viewing now")
    panel.expect_live()
