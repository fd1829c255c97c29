"""Fan-out latency: N subscribers on one plan, steps POSTed at a fixed rate (open loop).

Starts its own server (embedded SQLite by default, or --database-url / --redis-url), seeds a user and
a plan, opens N streams from this process over loopback, sends the steps, and reports per-delivery
latency (POST sent -> event received), step-add latency, completeness and duplicates.

`--server` is daphne (what `make run SERVER=daphne` serves), uvicorn, or `peer`: the lean seed build
of ../shared/peer (FastAPI; its own venv, `--peer-python`), driven by the same client, so that both
are measured side by side in one session (issue 21).

    .venv/bin/python bench/fanout.py --subscribers 100 --steps 50 --rate 20
    .venv/bin/python bench/fanout.py --server peer --subscribers 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = Path(sys.executable)
sys.path.insert(0, str(ROOT))

from ops.processes import ServerProcess, free_port, production_env, stop_group  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


async def subscriber(
    port: int,
    path: str,
    headers: dict[str, str],
    ready: asyncio.Event,
    arrivals: dict[str, list[float]],
    expected: int,
    stop: asyncio.Event,
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = [
        f"GET {path} HTTP/1.0",
        "Accept: text/event-stream",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(request) + "\r\n\r\n").encode())
    buffer = b""
    seen = 0
    connected = False
    try:
        while not stop.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                break
            now = time.perf_counter()
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        data = json.loads(line[6:])
                        kind = data.get("type", "step")  # the peer's steps carry no type
                        if kind == "connected" and not connected:
                            connected = True
                            ready.set()
                        elif kind == "step" and "text" in data:
                            arrivals.setdefault(data["text"], []).append(now)
                            seen += 1
            if seen >= expected:
                break
    finally:
        writer.close()
    return seen


async def run(args: argparse.Namespace, server: ServerProcess, token: str, org: str) -> dict:
    headers = {"Authorization": f"Token {token}", "X-Org-Id": org}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        plan_id = (await client.post("/api/plan/start", json={"title": "bench"})).json()["plan_id"]
        path = f"/api/plan/{plan_id}/stream"
        arrivals: dict[str, list[float]] = {}
        stop = asyncio.Event()
        readies = [asyncio.Event() for _ in range(args.subscribers)]
        connect_started = time.perf_counter()
        tasks = []
        for i, ready in enumerate(readies):
            tasks.append(
                asyncio.create_task(subscriber(server.port, path, headers, ready, arrivals, args.steps, stop))
            )
            if i % 100 == 99:
                await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
        connect_all = time.perf_counter() - connect_started
        await asyncio.sleep(0.5)

        sent_at: dict[str, float] = {}
        add_latency: list[float] = []

        async def post(i: int) -> None:
            text = f"step-{i}"
            sent_at[text] = time.perf_counter()
            response = await client.post(
                "/api/plan/step", json={"plan_id": plan_id, "text": text, "owner": "bench"}
            )
            add_latency.append(time.perf_counter() - sent_at[text])
            assert response.status_code == 200, response.text

        posts = []
        interval = 1.0 / args.rate
        start = time.perf_counter()
        for i in range(args.steps):
            await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
            posts.append(asyncio.create_task(post(i)))
        await asyncio.gather(*posts)
        await asyncio.wait(tasks, timeout=30)
        stop.set()
        for task in tasks:
            task.cancel()
        deliveries = [t - sent_at[text] for text, times in arrivals.items() for t in times]
        received = sum(len(times) for times in arrivals.values())
        duplicates = sum(max(0, len(times) - args.subscribers) for times in arrivals.values())
        return {
            "subscribers": args.subscribers,
            "steps": args.steps,
            "rate": args.rate,
            "connect_all_s": round(connect_all, 3),
            "fanout_ms": {k: round(v * 1000, 2) for k, v in summary(deliveries).items()},
            "step_add_ms": {k: round(v * 1000, 2) for k, v in summary(add_latency).items()},
            "completeness": received / (args.subscribers * args.steps),
            "duplicates": duplicates,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="steps per second")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--server", default="daphne", choices=["daphne", "uvicorn", "peer"])
    parser.add_argument("--peer-dir", default=str(ROOT.parent / "shared" / "peer"))
    parser.add_argument("--peer-python", default="/tmp/peer-venv/bin/python")  # noqa: S108 (the README's venv)
    parser.add_argument("--repeat", type=int, default=1, help="runs, each on a fresh server")
    args = parser.parse_args()
    results = [run_once(args) for _ in range(args.repeat)]
    print(json.dumps(results[0] if args.repeat == 1 else results, indent=2))


def start_peer(args: argparse.Namespace, tmp: str) -> tuple[subprocess.Popen[bytes], int]:
    """The lean seed build on a free port: its database is SQLite in `tmp`, or --database-url."""
    port = free_port()
    url = (
        args.database_url.replace("postgres://", "postgresql+psycopg://", 1)
        or f"sqlite:///{tmp}/peer.sqlite3"
    )
    command = [args.peer_python, "-m", "uvicorn", "--app-dir", args.peer_dir, "seed_peer:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env={**os.environ, "PEER_DATABASE_URL": url}, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/api/plan/list", headers={"X-Org-Id": "bench"}).status_code
                == 200
            ):
                return process, port
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the peer did not answer within 30 s")


class PeerServer:
    """What `run` needs of a server: its url and port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


def run_once(args: argparse.Namespace) -> dict:
    if args.server == "peer":
        tmp = tempfile.mkdtemp(prefix="aep-bench-peer-")
        process, port = start_peer(args, tmp)
        try:
            result = asyncio.run(run(args, PeerServer(port), "no-auth", "bench"))  # type: ignore[arg-type]
        finally:
            stop_group(process)
        result["server"] = "peer"
        return result
    return run_ours(args)


def run_ours(args: argparse.Namespace) -> dict:

    tmp = tempfile.mkdtemp(prefix="aep-bench-")
    # One bench user opens every stream and posts every step: production_env lifts the guards.
    env = production_env(
        os.environ,
        database_url=args.database_url,
        redis_url=args.redis_url,
        sqlite_path=f"{tmp}/bench.sqlite3",
        max_streams_per_user=args.subscribers + 100,
    )
    subprocess.run([str(PY), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    server = ServerProcess(env, server=args.server).start()
    try:
        org = "bench"
        out = subprocess.run(
            [str(PY), "manage.py", "create_api_token", "bench", "--org", org],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = asyncio.run(run(args, server, out.strip().splitlines()[-1], org))
    finally:
        server.stop()
    result["server"] = args.server
    return result


if __name__ == "__main__":
    main()
