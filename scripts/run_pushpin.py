#!/usr/bin/env python3
"""`make run-pushpin`: the whole app (pages, API, streams) through Pushpin on 127.0.0.1:PORT.

Starts N daphne processes on internal ports with GRIP_URL/GRIP_KEY set, then Pushpin in front of
them (config from aep.pushpin), and stops everything on Ctrl-C or when any of them dies. The
environment (DATABASE_URL, REDIS_URL, SECRET_KEY, ...) is passed on to daphne as `make run` does.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aep.pushpin import INSTALL_HINT, PushpinProcess, pushpin_installed  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne on port {port} did not start within {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="Pushpin's port"
    )
    parser.add_argument(
        "--origins",
        type=int,
        default=int(os.environ.get("PUSHPIN_ORIGINS", "1")),
        help="daphne processes behind Pushpin (use REDIS_URL too if more than one)",
    )
    parser.add_argument(
        "--publish-port",
        type=int,
        default=int(os.environ.get("PUSHPIN_PUBLISH_PORT", "0")),
        help="Pushpin's publish port (default: a free one)",
    )
    parser.add_argument(
        "--workdir",
        default=os.environ.get("PUSHPIN_WORKDIR", ""),
        help="config, run and log folder (default: a new temporary folder)",
    )
    args = parser.parse_args()

    if not pushpin_installed():
        print(f"pushpin is not installed. Install it with:\n    {INSTALL_HINT}", file=sys.stderr)
        return 1

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="aep-pushpin-"))
    publish_port = args.publish_port or free_port()
    key = os.environ.get("GRIP_KEY") or secrets.token_urlsafe(32)
    env = {**os.environ, "GRIP_URL": f"http://127.0.0.1:{publish_port}", "GRIP_KEY": key}
    daphne_bin = str(Path(sys.executable).with_name("daphne"))

    children: list[subprocess.Popen[bytes]] = []
    pushpin: PushpinProcess | None = None

    def stop(*_: object) -> None:
        if pushpin is not None:
            pushpin.stop()
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: a background job starts with SIGINT ignored, and SIGTERM must clean up too.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        origin_ports = [free_port() for _ in range(max(1, args.origins))]
        for port in origin_ports:
            children.append(
                subprocess.Popen(
                    [
                        daphne_bin,
                        "-e",
                        f"tcp:{port}:interface=127.0.0.1:backlog=4096",
                        "aep.asgi:application",
                    ],
                    cwd=ROOT,
                    env=env,
                )
            )
        for port, child in zip(origin_ports, children, strict=True):
            wait_for_port(port, child)
        pushpin = PushpinProcess(workdir, args.port, origin_ports, publish_port=publish_port, key=key).start()
        print(
            f"Live Plan Mode through Pushpin on http://127.0.0.1:{args.port}/  "
            f"(daphne on {', '.join(map(str, origin_ports))}; GRIP_URL={env['GRIP_URL']}; "
            f"Pushpin config and logs in {workdir})",
            flush=True,
        )
        while True:
            for child in children:
                if child.poll() is not None:
                    print(f"daphne exited with {child.returncode}; stopping", file=sys.stderr)
                    return 1
            if pushpin.process is not None and pushpin.process.poll() is not None:
                print(f"pushpin exited; log:\n{pushpin.log_tail()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
