"""Real daphne servers for tests that need live streaming (pytest-django's live_server is WSGI).

`live_daphne` starts `daphne aep.asgi:application` on a free port against the test database, in a
subprocess, and stops it (by pid, never by name) after the test. Tests that use it must commit their
data: the fixture pulls in `transactional_db`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from ops.processes import ServerProcess, free_port


def child_database_env() -> dict[str, str]:
    """Environment that points a child process at the database this test run uses."""
    settings = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(settings["NAME"])
    else:
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 5432
        user = settings.get("USER") or "postgres"
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{settings['NAME']}"
    env["DJANGO_SETTINGS_MODULE"] = "aep.settings"
    env["SECRET_KEY"] = django_settings.SECRET_KEY  # sessions made by the tests must verify there
    env.pop("REDIS_URL", None)  # cross-process tests pass it explicitly
    # A change is told to the org's stream before its request answers, not by the announcer thread a
    # moment later: a test's teardown (which empties the tables) never races a server's write.
    env["ORG_CHANGE_INTERVAL_SECONDS"] = "0"
    return env


class LiveServer(ServerProcess):
    """A server of the app on the test database, with `env_overrides` on top."""

    def __init__(
        self, env_overrides: dict[str, str] | None = None, port: int | None = None, server: str = "daphne"
    ) -> None:
        self.env_overrides = env_overrides or {}
        port = port or free_port()
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"aep-live-{server}-{port}.log"
        super().__init__({}, server=server, port=port, log_path=log)

    def start(self, timeout: float = 20.0) -> LiveServer:
        self.env = {**child_database_env(), **self.env_overrides}
        super().start(timeout)
        return self


def shared_server(server: str = "daphne") -> Iterator[LiveServer]:
    """Body of a long-lived server fixture: started once, stopped at the fixture's end."""
    live = LiveServer(server=server).start()
    try:
        yield live
    finally:
        live.stop()


def running(live: LiveServer) -> LiveServer:
    """The shared server, restarted if a test stopped it."""
    if not live.running():
        live.start()
    return live


def server_factory(server: str = "daphne") -> Iterator[Any]:
    """Body of a fixture that starts servers on demand (with extra environment) and stops them all."""
    servers: list[LiveServer] = []

    def make(**env: str) -> LiveServer:
        live = LiveServer(env_overrides=env, server=server)
        servers.append(live)
        return live.start()

    try:
        yield make
    finally:
        for live in servers:
            live.stop()


@pytest.fixture(scope="session")
def _shared_daphne(django_db_setup: Any, django_db_blocker: Any) -> Iterator[LiveServer]:
    yield from shared_server("daphne")


@pytest.fixture
def live_daphne(transactional_db: Any, _shared_daphne: LiveServer) -> LiveServer:
    """One daphne for the session (restarted if a test stopped it); each test commits its own data."""
    return running(_shared_daphne)


@pytest.fixture
def live_daphne_factory(transactional_db: Any) -> Iterator[Any]:
    """Start several servers (optionally with extra environment); all are stopped after the test."""
    yield from server_factory("daphne")
