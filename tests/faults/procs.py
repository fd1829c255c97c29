"""Throwaway Redis and PostgreSQL servers for fault tests, on free ports, stopped by pid.

Never the shared services on 5432/6379 (TESTING.md): each fault test starts its own instance, breaks
it (SIGKILL, `pg_ctl -m immediate stop`), starts it again on the same port, and removes it at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.processes import ROOT, free_port

REDIS_SERVER = shutil.which("redis-server")
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server binary not found (apt-get install redis-server)"
)
needs_postgres_binaries = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists() or shutil.which("runuser") is None,
    reason=f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15), or no runuser",
)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; raise TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


class RedisProcess:
    """`redis-server` on 127.0.0.1:<free port>, no persistence."""

    def __init__(self) -> None:
        assert REDIS_SERVER is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"aep-faults-redis-{self.port}.log"

    def start(self, timeout: float = 10.0) -> RedisProcess:
        import redis

        assert self.process is None or self.process.poll() is not None, "already running"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(ready, timeout)
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the clients."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    stop = kill


class PostgresProcess:
    """A PostgreSQL 15 cluster in a temporary folder, run as the `postgres` user on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="aep-faults-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def init(self) -> PostgresProcess:
        shutil.chown(self.dir, user="postgres", group="postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
        return self

    def start(self) -> PostgresProcess:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-w",
            "-o",
            options,
            "start",
        )
        return self

    def crash(self) -> None:
        """`pg_ctl -m immediate stop`: every backend is killed at once, as in a crash."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def cleanup(self) -> None:
        """Stop the cluster if it still runs (by its postmaster's pid) and remove its folder."""
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                self.crash()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    """Run `manage.py` with this environment; returns its standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed: {result.stdout[-2000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


class StepWriter(threading.Thread):
    """Posts `count` steps to a plan at `rate` per second; remembers what the server acknowledged."""

    path = "/api/plan/step"

    def __init__(self, url: str, headers: dict[str, str], plan_id: str, count: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.plan_id = url, headers, plan_id
        self.count, self.interval = count, 1.0 / rate
        self.acknowledged: list[str] = []  # ids of what was answered 200, in order
        self.failures: list[tuple[int, str, float]] = []  # (status or 0, text, seconds) of the others
        self.stop_requested = threading.Event()

    def body(self, n: int) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "text": f"step {n + 1}"}

    def created_id(self, response: httpx.Response) -> str:
        return response.json()["step"]["id"]

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            started = time.monotonic()
            for n in range(self.count):
                if self.stop_requested.is_set():
                    return
                delay = started + n * self.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent = time.monotonic()
                try:
                    response = client.post(f"{self.url}{self.path}", json=self.body(n), headers=self.headers)
                except httpx.HTTPError as exc:
                    self.failures.append((0, repr(exc), time.monotonic() - sent))
                    continue
                if response.status_code == 200:
                    self.acknowledged.append(self.created_id(response))
                else:
                    self.failures.append((response.status_code, response.text[:300], time.monotonic() - sent))


class PlanWriter(StepWriter):
    """Starts `count` plans at `rate` per second."""

    path = "/api/plan/start"

    def body(self, n: int) -> dict[str, Any]:
        return {"title": f"plan {n + 1}", "participants": ["drill"]}

    def created_id(self, response: httpx.Response) -> str:
        return response.json()["plan_id"]
