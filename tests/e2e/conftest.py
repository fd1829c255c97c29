"""Browser tests: pytest-playwright on Debian's Chromium, against a real daphne (`live_daphne`).

Playwright's sync API keeps an asyncio loop running in the test thread for as long as it is started,
and Django refuses ORM calls while a loop runs (SynchronousOnlyOperation). pytest-playwright starts it
once per session, which would turn every Django test collected after this folder into an "async
context". So the Playwright fixtures are re-declared here with package scope: the loop runs only while
tests/e2e runs, and DJANGO_ALLOW_ASYNC_UNSAFE is set for exactly that time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import (
    Browser,
    BrowserContext,
    BrowserType,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from aep.models import Membership
from tests.factories import UserFactory

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
PASSWORD = "correct-horse-battery"


# Machines running several suites at once can be slow: wait up to 10 s for the page to get there
# (tests that measure latency pass their own, shorter timeout).
expect.set_options(timeout=10_000)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ["--disable-gpu"]}


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 860}, "locale": "en-GB", "timezone_id": "UTC"}


@pytest.fixture(autouse=True)
def _fast_password_hashing() -> None:
    """Overrides the suite's MD5 hasher: daphne (another process) checks passwords with the real
    settings, so users that log in through the page need a hash it knows."""


@pytest.fixture
def tester(live_daphne: Any, org_a: Any) -> Any:
    """A member of org A with a password, committed where the server can see it."""
    user = UserFactory(username="tester", first_name="Tess", last_name="Ter", password=PASSWORD)
    Membership.objects.create(user=user, org=org_a)
    return user


def session_cookie(user: Any, server: Any) -> dict[str, Any]:
    """A logged-in session for `user` (stored in the test database the server reads), as a cookie."""
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.url}


@pytest.fixture
def logged_in(new_context: Any, live_daphne: Any) -> Callable[[Any], Page]:
    """A page in a fresh browser context, already logged in as the given user."""

    def open_page(user: Any) -> Page:
        context: BrowserContext = new_context()
        context.add_cookies([session_cookie(user, live_daphne)])
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    return open_page
