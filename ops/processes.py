"""Server processes of the app: the command line of each ASGI server, free ports, start and stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's scripts: daphne, uvicorn
ASGI_APP = "aep.asgi:application"
SERVERS = ("daphne", "uvicorn")
BACKLOG = 4096  # pending connections the kernel queues: a burst of streams must not be refused
# The servers with the app's connection limits (body size, header and body timeouts: aep.http_limits):
# daphne's command line through aep.daphne_server, uvicorn's httptools protocol with them.
DAPHNE_MODULE = "aep.daphne_server"
UVICORN_PROTOCOL = "aep.uvicorn_protocol:LimitedHttpToolsProtocol"


def production_env(
    base: Mapping[str, str],
    *,
    database_url: str = "",
    redis_url: str = "",
    sqlite_path: str = "",
    max_streams_per_user: int = 1000,
) -> dict[str, str]:
    """`base` (usually os.environ) with the settings of a server run as in production (DEBUG off,
    secure-cookie checks off for plain-HTTP loopback), on PostgreSQL `database_url` or the SQLite
    file `sqlite_path`, with Redis when `redis_url` is given. The per-user stream cap is lifted to
    `max_streams_per_user` and the write rate limit is off: a benchmark opens every stream and
    sends every request as one user."""
    env = {k: v for k, v in base.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    env.update(
        DEBUG="0",
        SECRET_KEY="bench-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_COOKIES="0",
        LOG_LEVEL="WARNING",
        MAX_STREAMS_PER_USER=str(max_streams_per_user),
        API_WRITE_RATE="off",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env["SQLITE_PATH"] = sqlite_path
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(server: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that serves the app with `server` (daphne or uvicorn) on host:port."""
    if server == "uvicorn":
        return [
            str(BIN / "uvicorn"),
            ASGI_APP,
            *("--host", host, "--port", str(port), "--backlog", str(BACKLOG), "--no-access-log"),
            *("--lifespan", "off", "--loop", "uvloop", "--http", UVICORN_PROTOCOL),
        ]
    if server == "daphne":
        endpoint = f"tcp:{port}:interface={host}:backlog={BACKLOG}"
        return [sys.executable, "-m", DAPHNE_MODULE, "-e", endpoint, ASGI_APP]
    raise ValueError(f"unknown server {server!r} (one of {', '.join(SERVERS)})")


def listening_line(server: str, port: int, host: str = "127.0.0.1") -> str:
    """What `server` prints once it has bound its port."""
    if server == "uvicorn":
        return f"Uvicorn running on http://{host}:{port}"
    return f"Listening on TCP address {host}:{port}"


def listeners(port: int) -> set[int]:
    """The pids with a socket listening on 127.0.0.1:`port` or on every address (Linux /proc; empty
    elsewhere). A test's server must be the only one on its port: connections to a port that two
    processes share (SO_REUSEPORT) would go to either."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    pids = set()
    if not inodes:
        return pids
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        pids.add(int(fd_dir.parent.name))
                        break
    return pids


def stop_group(process: subprocess.Popen[bytes] | None, kill: bool = False, timeout: float = 10.0) -> None:
    """Stop a process started with `start_new_session=True` and everything in its group: children
    that outlive their parent (Pushpin's services, code-server's extension hosts) are killed too."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # what is left of the group


class ServerProcess:
    """One app server on 127.0.0.1:`port`, in its own process group, logging to `log_path`.

    It counts as started only once its own log says it bound its port (another server could hold
    the port, and this one would then exit with "address in use" while the other answered in its
    place), and then a request answers."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        server: str = "daphne",
        port: int | None = None,
        log_path: Path | None = None,
        ready_path: str = "/api/schema/",
    ) -> None:
        self.env = dict(env)
        self.server = server
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"aep-{server}-{self.port}.log"  # noqa: S108
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, timeout: float = 30.0) -> ServerProcess:
        return self.launch().wait_ready(timeout)

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it (`wait_ready` waits): several servers then
        start side by side."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                server_command(self.server, self.port),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> ServerProcess:
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.server} on port {self.port} exited early; log: {self.log_tail()}")
            if self._bound(self._log_offset) and self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.server} did not answer within {timeout}s; log: {self.log_tail()}")

    def _bound(self, log_offset: int) -> bool:
        with self.log_path.open("rb") as own_log:
            own_log.seek(log_offset)
            if listening_line(self.server, self.port).encode() not in own_log.read():
                return False
        assert self.process is not None
        others = listeners(self.port) - {self.process.pid}
        if others:
            raise RuntimeError(f"port {self.port} is also listened on by pid(s) {sorted(others)}")
        return True

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=2):  # noqa: S310 (loopback)
                return True
        except urllib.error.HTTPError:
            return True  # an answer, even a 401
        except OSError:
            return False

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, kill: bool = False) -> None:
        stop_group(self.process, kill=kill)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
