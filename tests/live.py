"""Real daphne servers for tests that need live streaming (pytest-django's live_server is WSGI).

`live_daphne` starts `daphne aep.asgi:application` on a free port against the test database, in a
subprocess, and stops it (by pid, never by name) after the test. Tests that use it must commit their
data: the fixture pulls in `transactional_db`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = Path(sys.executable).with_name("daphne")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    return env


def server_command(server: str, port: int) -> list[str]:
    """The command line of `make run` for `SERVER=daphne` (default) or `SERVER=uvicorn`."""
    if server == "uvicorn":
        return [
            str(DAPHNE.with_name("uvicorn")),
            "aep.asgi:application",
            *("--host", "127.0.0.1", "--port", str(port), "--backlog", "4096", "--no-access-log"),
            *("--lifespan", "off", "--loop", "uvloop", "--http", "httptools"),
        ]
    return [str(DAPHNE), "-e", f"tcp:{port}:interface=127.0.0.1:backlog=4096", "aep.asgi:application"]


class LiveServer:
    def __init__(
        self, env_overrides: dict[str, str] | None = None, port: int | None = None, server: str = "daphne"
    ) -> None:
        self.server = server
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env_overrides = env_overrides or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"aep-live-daphne-{self.port}.log"

    def listening_line(self) -> str:
        """What this server prints once it has bound its own port."""
        if self.server == "uvicorn":
            return f"Uvicorn running on http://127.0.0.1:{self.port}"
        return f"Listening on TCP address 127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LiveServer:
        env = {**child_database_env(), **self.env_overrides}
        # Only this start's log lines count: an answer on the port proves nothing until this process
        # says it has bound it (another test's server could hold the port, and this one would then
        # exit with "address in use" while the other answered in its place).
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            server_command(self.server, self.port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early; log: {self.log_path.read_text()[-3000:]}")
            with self.log_path.open("rb") as own_log:
                own_log.seek(log_offset)
                bound = self.listening_line().encode() in own_log.read()
            if not bound:
                time.sleep(0.1)
                continue
            try:
                with urllib.request.urlopen(f"{self.url}/api/schema/", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"daphne did not answer within {timeout}s; log: {self.log_path.read_text()[-3000:]}"
        )

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()


def shared_server(server: str = "daphne") -> Iterator[LiveServer]:
    """Body of a long-lived server fixture: started once, stopped at the fixture's end."""
    live = LiveServer(server=server).start()
    try:
        yield live
    finally:
        live.stop()


def running(live: LiveServer) -> LiveServer:
    """The shared server, restarted if a test stopped it."""
    if live.process is None or live.process.poll() is not None:
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
