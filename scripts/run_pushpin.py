#!/usr/bin/env python3
"""`make run-pushpin`: the whole app (pages, API, streams) through Pushpin on 127.0.0.1:PORT.

Starts N daphne processes on internal ports with GRIP_URL/GRIP_KEY set, then Pushpin in front of
them (config from ops.pushpin), and stops everything on Ctrl-C or when any of them dies. The
environment (DATABASE_URL, REDIS_URL, SECRET_KEY, ...) is passed on to daphne as `make run` does.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops.processes import ServerProcess, free_port  # noqa: E402
from ops.pushpin import INSTALL_HINT, PushpinProcess, pushpin_installed  # noqa: E402


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

    servers: list[ServerProcess] = []
    pushpin: PushpinProcess | None = None

    def stop(*_: object) -> None:
        if pushpin is not None:
            pushpin.stop()
        for server in servers:
            server.stop()

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: a background job starts with SIGINT ignored, and SIGTERM must clean up too.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        origin_ports = [free_port() for _ in range(max(1, args.origins))]
        servers.extend(
            ServerProcess(env, port=port, log_path=workdir / f"daphne-{port}.log").launch()
            for port in origin_ports
        )
        for server in servers:
            server.wait_ready()
        pushpin = PushpinProcess(workdir, args.port, origin_ports, publish_port=publish_port, key=key).start()
        print(
            f"Live Plan Mode through Pushpin on http://127.0.0.1:{args.port}/  "
            f"(daphne on {', '.join(map(str, origin_ports))}; GRIP_URL={env['GRIP_URL']}; "
            f"Pushpin config and logs in {workdir})",
            flush=True,
        )
        while True:
            for server in servers:
                if not server.running():
                    print(f"daphne exited; stopping. Its log:\n{server.log_tail()}", file=sys.stderr)
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
