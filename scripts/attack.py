#!/usr/bin/env python3
"""The attacks of docs/RELIABILITY.md section 5 at full size, against a server this script starts
(embedded SQLite in a temporary folder), as `make run` starts it or, with --plain, as plain
`daphne` / `uvicorn --http httptools` (what ran before aep.daphne_server and aep.uvicorn_protocol).

  .venv/bin/python scripts/attack.py body --server daphne [--plain] [--mib 500] [--chunked]
  .venv/bin/python scripts/attack.py slowloris --server uvicorn [--plain] [--connections 1000]

`body` sends a POST of --mib MiB to /api/plan/start and prints when the answer came, how much the
server took, and its peak RSS (VmHWM) before and after. `slowloris` opens --connections
connections that send a request line, then one header line every 2 s, and prints how many are
still open after 3, 8, 12, 16 and 25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops import processes  # noqa: E402

MiB = 1024 * 1024
PLAIN = {
    "daphne": lambda port: [
        str(processes.BIN / "daphne"),
        *("-e", f"tcp:{port}:interface=127.0.0.1:backlog={processes.BACKLOG}"),
        processes.ASGI_APP,
    ],
    "uvicorn": lambda port: [
        str(processes.BIN / "uvicorn"),
        processes.ASGI_APP,
        *("--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--lifespan", "off"),
        *("--loop", "uvloop", "--http", "httptools"),
    ],
}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def body_attack(port: int, pid: int, mib: int, chunked: bool) -> str:
    before = peak_rss_mib(pid)
    total = mib * MiB
    head = b"POST /api/plan/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % total
    piece = b"x" * 65536
    chunk = b"10000\r\n" + piece + b"\r\n" if chunked else piece
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        started, sent = time.monotonic(), 0
        sock.settimeout(2)
        try:
            while sent < total:
                sock.sendall(chunk)
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped taking the body (closed, reset, or no room for 2 s)
        sock.settimeout(60)
        try:
            answer = sock.recv(200).split(b"\r\n")[0].decode()
        except OSError as error:
            answer = repr(error)
        elapsed = time.monotonic() - started
    time.sleep(0.5)
    return (
        f"{'chunked' if chunked else 'announced'} {mib} MiB: {answer!r} after {elapsed:.2f} s, "
        f"{sent / MiB:.1f} MiB sent, peak RSS {before:.0f} -> {peak_rss_mib(pid):.0f} MiB"
    )


async def slow_client(port: int, open_now: list[bool], i: int, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    open_now[i] = True
    writer.write(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    async def read_until_closed() -> None:
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        open_now[i] = False

    reading = asyncio.create_task(read_until_closed())
    while not stop.is_set() and open_now[i]:
        await asyncio.sleep(2)
        try:
            writer.write(b"X-Slow: 1\r\n")
            await writer.drain()
        except OSError:
            open_now[i] = False
    reading.cancel()
    writer.close()


async def slowloris(port: int, connections: int) -> str:
    open_now, stop = [False] * connections, asyncio.Event()
    clients = [asyncio.create_task(slow_client(port, open_now, i, stop)) for i in range(connections)]
    started, seen = time.monotonic(), []
    for at in (3, 8, 12, 16, 25):
        await asyncio.sleep(started + at - time.monotonic())
        seen.append(f"{at} s: {sum(open_now)}")
    stop.set()
    await asyncio.gather(*clients, return_exceptions=True)
    return f"{connections} connections, a header line every 2 s; open after " + ", ".join(seen)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("attack", choices=("body", "slowloris"))
    parser.add_argument("--server", choices=processes.SERVERS, default="daphne")
    parser.add_argument("--plain", action="store_true", help="plain daphne/uvicorn, without the app's limits")
    parser.add_argument("--mib", type=int, default=500)
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "SQLITE_PATH": str(Path(folder) / "attack.sqlite3")}
        server = processes.ServerProcess(env, server=args.server, log_path=Path(folder) / "server.log")
        if args.plain:
            plain = PLAIN[args.server]
            processes.server_command = lambda server, port, host="127.0.0.1": plain(port)  # type: ignore[assignment]
        with server:
            assert server.process is not None
            if args.attack == "body":
                result = body_attack(server.port, server.process.pid, args.mib, args.chunked)
            else:
                result = asyncio.run(slowloris(server.port, args.connections))
        print(f"{'plain ' if args.plain else ''}{args.server}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
