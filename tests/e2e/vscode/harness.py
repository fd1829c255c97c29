"""Drive the packaged VS Code extension inside code-server (VS Code 1.100.3 in the browser).

`CodeServer` runs one code-server with a throw-away profile (user data, extensions, XDG folders and a
workspace under a temp folder), the extension's `.vsix` installed and a given settings.json. It runs
in its own session (`start_new_session`) and `stop()` kills the whole process group: the extension
host and the file watcher outlive the main process otherwise.

`Workbench` wraps a Playwright page showing that code-server: the command palette, QuickPick and input
boxes, notifications, modal dialogs, the explorer, an editor's selection and context menu, and the
extension's webview panel (an iframe inside an iframe: `frame_locator` twice).

`PlanPanel` reads and works the AEP plan panel inside that webview (title, connection status, steps,
the add-step box, Archive, "Here now"; and working a plan: tick, edit in place, Move up/down, Delete
and Undo, rename, progress), by the ids, classes and accessible names the panel's HTML gives them
(vscode-extension/src/webview.ts).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import FrameLocator, Locator, Page, expect

from ops.processes import ROOT, free_port, stop_group

CODE_SERVER_VERSION = "4.100.3"
CODE_SERVER_HOME = Path(os.environ.get("CODE_SERVER_HOME") or Path.home() / ".cache" / "aep-code-server")
VSIX = Path(os.environ.get("AEP_VSIX") or ROOT / "vscode-extension" / "aep-live-plan.vsix")
EXTENSION_SOURCES = [
    ROOT / "vscode-extension" / "package.json",
    *sorted((ROOT / "vscode-extension" / "src").glob("*.ts")),
]

# VS Code's own chrome kept quiet and deterministic: no welcome page, tips, update checks, git scans.
BASE_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "workbench.colorTheme": "Default Dark Modern",
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "git.enabled": False,
    "git.autoRepositoryDetection": False,
    "security.workspace.trust.enabled": False,
    "editor.minimap.enabled": False,
    "chat.commandCenter.enabled": False,
    "window.commandCenter": False,
}


def code_server_binary() -> Path | None:
    """`$CODE_SERVER_BIN`, else the cache folder scripts/install_code_server.sh fills."""
    explicit = os.environ.get("CODE_SERVER_BIN")
    candidate = Path(explicit) if explicit else CODE_SERVER_HOME / "node_modules" / ".bin" / "code-server"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def vsix_problem() -> str | None:
    """Why the packaged extension cannot be tested as it is now, or None."""
    if not VSIX.is_file():
        return f"the extension is not packaged: {VSIX} is missing (make test-vscode builds it)"
    built = VSIX.stat().st_mtime
    stale = [p.name for p in EXTENSION_SOURCES if p.stat().st_mtime > built]
    if stale and not os.environ.get("AEP_VSIX"):
        return (
            f"{VSIX.name} is older than {', '.join(stale)}: rebuild it "
            "(make test-vscode, or cd vscode-extension && npm run package)"
        )
    return None


class CodeServer:
    """One code-server with a throw-away profile; `start()`, then `stop()` (kills its process group)."""

    def __init__(self, binary: Path, root: Path, settings: dict[str, Any], files: dict[str, str]) -> None:
        self.binary = binary
        self.root = root
        self.user_data_dir = root / "user-data"
        self.extensions_dir = root / "extensions"
        self.workspace = root / "workspace"
        self.xdg = root / "xdg"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "code-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        for folder in (self.user_data_dir / "User", self.extensions_dir, self.workspace):
            folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = self.workspace / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.write_settings(settings)

    @property
    def workbench_url(self) -> str:
        return f"{self.url}/?folder={self.workspace}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VSCODE_"))}
        env.update(
            XDG_CONFIG_HOME=str(self.xdg / "config"),
            XDG_DATA_HOME=str(self.xdg / "data"),
            XDG_CACHE_HOME=str(self.xdg / "cache"),
        )
        return env

    def profile_args(self) -> list[str]:
        return ["--extensions-dir", str(self.extensions_dir), "--user-data-dir", str(self.user_data_dir)]

    def write_settings(self, settings: dict[str, Any]) -> None:
        """The user's settings.json (BASE_SETTINGS under `settings`), for the next start: code-server does
        not notice a change made behind its back while it runs. Use `Workbench.set_setting` then."""
        path = self.user_data_dir / "User" / "settings.json"
        path.write_text(json.dumps({**BASE_SETTINGS, **settings}, indent=2))

    def read_settings(self) -> dict[str, Any]:
        """settings.json as it is on disk now ({} while VS Code is half-way through rewriting it)."""
        try:
            return json.loads((self.user_data_dir / "User" / "settings.json").read_text())
        except json.JSONDecodeError:
            return {}

    def install_extension(self, vsix: Path) -> None:
        result = subprocess.run(
            [str(self.binary), *self.profile_args(), "--install-extension", str(vsix), "--force"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0 or "successfully installed" not in result.stdout:
            raise RuntimeError(f"installing {vsix} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, timeout: float = 60.0) -> CodeServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                *("--bind-addr", f"127.0.0.1:{self.port}"),
                *("--auth", "none"),
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                *self.profile_args(),
                str(self.workspace),
            ],
            cwd=self.root,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"code-server exited early; log:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"code-server did not answer within {timeout}s; log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_group(self.process, timeout=5)  # its extension hosts outlive the main process
        self.process = None


class Workbench:
    """A Playwright page showing code-server's workbench."""

    WEBVIEW_OUTER = "iframe.webview.ready"
    WEBVIEW_INNER = "iframe#active-frame"

    def __init__(self, page: Page, server: CodeServer) -> None:
        self.page = page
        self.server = server

    # Loading -----------------------------------------------------------------------------------------

    def open(self, timeout: float = 90_000) -> Workbench:
        self.page.goto(self.server.workbench_url)
        self.wait_ready(timeout)
        return self

    def reload(self, timeout: float = 90_000) -> Workbench:
        self.page.reload()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 90_000) -> None:
        expect(self.page.locator(".monaco-workbench .part.statusbar")).to_be_visible(timeout=timeout)
        expect(self.page.locator(".explorer-folders-view")).to_be_visible(timeout=timeout)

    # Command palette, QuickPick, input box ------------------------------------------------------------

    @property
    def quick_input(self) -> Locator:
        return self.page.locator(".quick-input-widget")

    @property
    def quick_input_box(self) -> Locator:
        return self.quick_input.locator(".quick-input-box input")

    def quick_pick_option(self, name: str | re.Pattern[str]) -> Locator:
        return self.quick_input.get_by_role("option", name=name)

    def quick_pick_labels(self) -> list[str]:
        labels = self.quick_input.locator(".monaco-list-row .label-name")
        return [text.strip() for text in labels.all_inner_texts()]

    def palette_options(self, text: str) -> list[str]:
        """The command titles the palette lists for `text` (the palette is left open)."""
        self.page.keyboard.press("F1")
        self.quick_input_box.fill(f">{text}")
        self.page.wait_for_timeout(500)
        return self.quick_pick_labels()

    def run_command(self, title: str, timeout: float = 45.0) -> None:
        """Run a command by typing its title in the palette, as a user would. Retries while the
        extension's contributions are not registered yet (the first seconds after the page loads), and
        when the palette closes under the typing (a webview that takes the focus as it appears)."""
        deadline = time.monotonic() + timeout
        option = self.quick_pick_option(re.compile(rf"^{re.escape(title)}\b"))
        while True:
            try:
                self.close_quick_input()
                self.page.keyboard.press("F1")
                expect(self.quick_input_box).to_be_visible(timeout=3_000)
                self.quick_input_box.fill(f">{title}", timeout=3_000)
                expect(option.first).to_be_visible(timeout=1_500)
                option.first.click(timeout=3_000)
                return
            except (AssertionError, PlaywrightError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"command {title!r} not in the palette; it lists {self.quick_pick_labels()}"
                    ) from None

    def close_quick_input(self) -> None:
        if self.quick_input.is_visible():
            self.page.keyboard.press("Escape")
            expect(self.quick_input).to_be_hidden()

    def pick(self, name: str | re.Pattern[str]) -> None:
        option = self.quick_pick_option(name)
        expect(option.first).to_be_visible()
        option.first.click()

    def answer_input(self, text: str) -> None:
        expect(self.quick_input_box).to_be_visible()
        self.quick_input_box.fill(text)
        self.quick_input_box.press("Enter")

    # Notifications and dialogs ----------------------------------------------------------------------

    def notification(self, text: str | re.Pattern[str]) -> Locator:
        return self.page.locator(".notifications-toasts .notification-toast", has_text=text)

    def expect_notification(self, text: str | re.Pattern[str], timeout: float = 15_000) -> Locator:
        toast = self.notification(text)
        expect(toast.first).to_be_visible(timeout=timeout)
        return toast.first

    def clear_notifications(self) -> None:
        toasts = self.page.locator(".notifications-toasts .notification-toast")
        if toasts.count():
            self.run_command("Notifications: Clear All Notifications")
            expect(toasts).to_have_count(0)

    def dialog(self) -> Locator:
        return self.page.locator(".monaco-dialog-box")

    def dialog_button(self, name: str) -> Locator:
        return self.dialog().get_by_role("button", name=name, exact=True)

    # Files, editor, context menu --------------------------------------------------------------------

    def open_file(self, name: str) -> Locator:
        """Open a workspace file from the explorer; returns its editor."""
        self.page.locator(".explorer-folders-view .monaco-list-row", has_text=name).first.click()
        tab = self.page.locator(".tabs-container .tab", has_text=name)
        expect(tab.first).to_be_visible()
        editor = self.page.locator(".editor-group-container", has=tab.first).locator(".monaco-editor").first
        expect(editor).to_be_visible()
        return editor

    def select_line(self, editor: Locator, text: str) -> Locator:
        """Select the whole line holding `text` with the keyboard; returns the line."""
        line = editor.locator(".view-line", has_text=text).first
        line.click()
        self.page.keyboard.press("Home")
        self.page.keyboard.press("Shift+End")
        expect(editor.locator(".selected-text").first).to_be_visible()
        return line

    def context_menu(self, target: Locator, item: str) -> None:
        """Right-click `target` and choose `item` from VS Code's context menu."""
        target.click(button="right")
        menu = self.page.locator(".context-view .monaco-menu")
        entry = menu.locator(".action-item", has_text=item).first
        expect(entry).to_be_visible()
        # A menu ignores a click that comes right after it opened (the mouse-up of the right-click
        # that opened it): point at the entry, give it a moment, click, and again if it stayed open.
        entry.hover()
        for _ in range(3):
            self.page.wait_for_timeout(300)
            entry.click()
            try:
                expect(menu).to_be_hidden(timeout=2_000)
                return
            except AssertionError:
                continue
        raise AssertionError(f"the context menu entry {item!r} did not react to clicks")

    # Settings ---------------------------------------------------------------------------------------

    def set_setting(self, key: str, value: str) -> None:
        """Change a text setting in the Settings editor, as a user would; returns once VS Code has
        written it to settings.json, with the Settings editor closed again."""
        self.run_command("Preferences: Open User Settings")
        editor = self.page.locator(".settings-editor")
        expect(editor).to_be_visible()
        self.page.keyboard.type(key)
        field = editor.locator(f'.setting-item-contents[data-key="{key}"] input')
        expect(field).to_be_visible()
        field.fill(value)
        field.press("Tab")
        deadline = time.monotonic() + 10
        while self.server.read_settings().get(key) != value:
            if time.monotonic() > deadline:
                raise AssertionError(f"VS Code did not save {key}={value!r}: {self.server.read_settings()}")
            time.sleep(0.2)
        self.close_editor("Settings")
        expect(editor).to_be_hidden()

    def close_editor(self, title: str) -> None:
        """Close an editor tab with its close button."""
        tab = self.page.locator(".tabs-container .tab", has_text=title).first
        tab.hover()
        tab.get_by_role("button", name=re.compile("^Close")).click()
        expect(tab).to_be_hidden()

    # The extension's webview panel ------------------------------------------------------------------

    def webview(self) -> FrameLocator:
        """The content frame of the (only) visible webview panel."""
        return self.page.frame_locator(self.WEBVIEW_OUTER).frame_locator(self.WEBVIEW_INNER)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))


class PlanPanel:
    """The AEP plan panel (vscode-extension/src/webview.ts) as a user sees it."""

    def __init__(self, workbench: Workbench) -> None:
        self.workbench = workbench
        self.frame = workbench.webview()
        self.title = self.frame.locator("#plan-title")
        self.connection = self.frame.locator("#connection")
        self.connection_detail = self.frame.locator("#connection-detail")
        self.error = self.frame.locator("#error")
        self.steps = self.frame.locator("#steps > li.step")
        self.step_count = self.frame.locator("#step-count")
        self.no_steps = self.frame.locator("#no-steps")
        self.participants = self.frame.locator("#participants > li")
        self.step_input = self.frame.locator("#step-text")
        self.add_button = self.frame.locator("#add-step-button")
        self.archive_button = self.frame.locator("#archive-button")
        self.reconnect_button = self.frame.locator("#reconnect-button")
        self.archived_badge = self.frame.locator("#archived-badge")
        self.archived_note = self.frame.locator("#archived-note")
        self.progress = self.frame.locator("#progress")
        self.announcer = self.frame.locator("#announcer")
        self.toast = self.frame.locator("#toast")
        self.undo_button = self.frame.locator("#undo-button")
        self.rename_button = self.frame.get_by_role("button", name="Rename plan")
        self.rename_input = self.frame.locator("#rename-input")
        self.rename_note = self.frame.locator("#rename-note")
        # "Here now" (DESIGN 11): who has the plan open, from the stream's presence events.
        self.here_now = self.frame.locator("#viewers")
        self.viewer_names = self.frame.locator("#viewers > li.viewer .viewer-name")
        self.viewer_avatars = self.frame.locator("#viewers > li.viewer .avatar")
        self.viewers_unknown = self.frame.locator("#viewers-unknown")

    def step(self, text: str) -> Locator:
        return self.frame.locator("#steps > li.step", has=self.frame.locator(".text", has_text=text))

    def step_texts(self) -> list[str]:
        return [t.strip() for t in self.frame.locator("#steps > li.step .text").all_inner_texts()]

    def expect_open(self, title: str, timeout: float = 20_000) -> PlanPanel:
        expect(self.title).to_have_text(title, timeout=timeout)
        return self

    def expect_live(self, timeout: float = 20_000) -> None:
        expect(self.connection).to_have_attribute("data-state", "open", timeout=timeout)
        expect(self.connection).to_have_text("Live")

    def add_step(self, text: str) -> None:
        self.step_input.fill(text)
        self.add_button.click()

    # Working a plan ---------------------------------------------------------------------------------

    def checkbox(self, text: str) -> Locator:
        """The step's "Done" checkbox (its accessible name is "Done: <text>")."""
        return self.step(text).get_by_role("checkbox")

    def button(self, text: str, action: str) -> Locator:
        """A step's button by its accessible name: "Edit step", "Move up", "Move down", "Delete step"."""
        return self.step(text).get_by_role("button", name=re.compile(rf"^{re.escape(action)}: "))

    def editor(self, text: str) -> Locator:
        return self.step(text).locator("textarea.edit-text")

    def edit_step(self, text: str, new_text: str, *, double_click: bool = True) -> None:
        """Open the step's editor (double-click its text, or its Edit button), type, press Enter."""
        step = self.step(text)
        if double_click:
            step.locator(".text").dblclick()
        else:
            self.button(text, "Edit step").click()
        editor = step.locator("textarea.edit-text")
        expect(editor).to_be_focused()
        editor.fill(new_text)
        editor.press("Enter")

    def move_with_keyboard(self, text: str, direction: str) -> None:
        """Focus the step's Move up / Move down button and press Enter, as a keyboard user does."""
        self.button(text, f"Move {direction}").focus()
        self.workbench.page.keyboard.press("Enter")

    def delete(self, text: str) -> None:
        self.button(text, "Delete step").click()

    def rename(self, title: str) -> None:
        self.rename_button.click()
        expect(self.rename_input).to_be_focused()
        self.rename_input.fill(title)
        self.rename_input.press("Enter")
