"""Fixtures for the VS Code extension inside code-server (see harness.py).

Every test here is skipped, with the reason, when Chromium, code-server (scripts/install_code_server.sh)
or a current `.vsix` is missing; with AEP_VSCODE_REQUIRED=1 (`make test-vscode`, CI) it fails instead.

- `code_server_factory(settings=..., files=...)`: a running code-server with the packaged extension
  installed in a throw-away profile, the given user settings and workspace files; all are stopped (their
  process groups killed) after the test.
- `open_workbench(server)`: a fresh browser context (so a fresh SecretStorage) showing its workbench.
- `aep_account`: org `acme`, a member with an API token, and an org `globex` the member is not in.
- `aep_settings(server_url, org)`: the extension's settings for a server.
- `open_plan(workbench, title)`: "AEP: Open Plan Panel", pick the plan, wait for the panel.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext

from aep.models import Organization
from tests.e2e.conftest import CHROMIUM
from tests.e2e.vscode.harness import (
    CODE_SERVER_HOME,
    CODE_SERVER_VERSION,
    VSIX,
    CodeServer,
    PlanPanel,
    Workbench,
    code_server_binary,
    vsix_problem,
)
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, token_for

REQUIRED = os.environ.get("AEP_VSCODE_REQUIRED", "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vscode: the packaged VS Code extension inside code-server (make test-vscode)"
    )


def missing_prerequisite() -> str | None:
    if not CHROMIUM.exists():
        return f"VS Code tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if code_server_binary() is None:
        where = os.environ.get("CODE_SERVER_BIN") or f"{CODE_SERVER_HOME}/node_modules/.bin/code-server"
        return (
            f"VS Code tests need code-server {CODE_SERVER_VERSION} at {where} "
            "(scripts/install_code_server.sh installs it; make test-vscode does everything)"
        )
    return vsix_problem()


@pytest.fixture(autouse=True)
def _vscode_prerequisites() -> None:
    reason = missing_prerequisite()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"AEP_VSCODE_REQUIRED is set but {reason}")
    pytest.skip(reason)


@pytest.fixture
def code_server_factory(tmp_path: Path) -> Iterator[Callable[..., CodeServer]]:
    servers: list[CodeServer] = []
    binary = code_server_binary()
    assert binary is not None

    def start(settings: dict[str, Any] | None = None, files: dict[str, str] | None = None) -> CodeServer:
        server = CodeServer(binary, tmp_path / f"code-server-{len(servers)}", settings or {}, files or {})
        servers.append(server)
        server.install_extension(VSIX)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="package")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """The workbench with the panel beside an editor needs more room than the web pages."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 860}}


@pytest.fixture
def open_workbench(new_context: Callable[..., BrowserContext]) -> Callable[[CodeServer], Workbench]:
    def open_(server: CodeServer) -> Workbench:
        context = new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        return Workbench(page, server).open()

    return open_


@dataclass
class AepAccount:
    org: Organization
    other_org: Organization
    user: Any
    token: str


@pytest.fixture
def aep_account(transactional_db: Any) -> AepAccount:
    """A member of org `acme` (orgs are slugs) with an API token; `globex` is an org they are not in.
    Committed (transactional_db), so servers in other processes see them."""
    org = OrganizationFactory(id="acme", name="Acme")
    other = OrganizationFactory(id="globex", name="Globex")
    user = UserFactory(username="dana", first_name="Dana", last_name="Dev")
    MembershipFactory(user=user, org=org)
    return AepAccount(org=org, other_org=other, user=user, token=token_for(user))


@pytest.fixture
def aep_settings() -> Callable[[str, str], dict[str, str]]:
    def settings(server_url: str, org: str = "acme") -> dict[str, str]:
        return {"aep.serverUrl": server_url, "aep.orgId": org}

    return settings


def set_token(workbench: Workbench, token: str) -> None:
    """'AEP: Set API Token' with `token`, and wait for the confirmation."""
    workbench.run_command("AEP: Set API Token")
    workbench.answer_input(token)
    workbench.expect_notification("AEP API token saved")


def open_plan(workbench: Workbench, title: str) -> PlanPanel:
    """'AEP: Open Plan Panel', pick the plan titled `title`, and wait until the panel shows it."""
    workbench.run_command("AEP: Open Plan Panel")
    workbench.pick(title)
    return PlanPanel(workbench).expect_open(title)
