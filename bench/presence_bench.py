"""Presence and the org's stream under load (issue 17), against a server of its own.

1. Join storm: V viewers (distinct users, each with a token) open one plan's stream at R per second;
   per viewer, the connect latency (request -> `connected`) and how many presence messages it got
   from its arrival until 2 s after the last one.
2. Fan-out with everyone there: S steps at 20/s to that plan; per delivery, POST sent -> event.
3. The org's stream: P plans, W watchers of `/api/org/stream`; one step to each of P plans at 50/s
   (a first change: told at once); per delivery, POST sent -> that plan's `plan_changed`.

    .venv/bin/python bench/presence_bench.py --viewers 1000 --rate 100 --plans 1000 --watchers 100
    .venv/bin/python bench/presence_bench.py --database-url postgres://... --redis-url redis://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = Path(sys.executable)
sys.path.insert(0, str(ROOT))

from bench.fanout import summary  # noqa: E402
from ops.processes import ServerProcess, production_env  # noqa: E402

STEP_TEXT = re.compile(rb'"text":"bench (\d+)"')
PLAN_CHANGED = re.compile(rb'"type":"plan_changed","plan":\{"id":"([0-9a-f-]{36})"')


def seed(count: int, plans: int) -> None:
    """(In a child process with the server's environment) V users with tokens in org `bench`, and
    P plans; prints JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aep.settings")
    django.setup()
    from django.contrib.auth import get_user_model

    from aep.accounts import tokens
    from aep.models import Membership, Organization
    from plans import services

    org, _ = Organization.objects.get_or_create(id="bench", defaults={"name": "Bench"})
    users = get_user_model().objects
    secrets = []
    for i in range(count):
        user, _ = users.get_or_create(username=f"viewer{i:05d}", defaults={"first_name": f"Viewer {i}"})
        Membership.objects.get_or_create(user=user, org=org)
        secrets.append(tokens.token_create(user=user, name="bench")[1])
    owner = users.get(username="viewer00000")
    plan_ids = [str(services.start_plan(org=org, user=owner, title=f"Plan {n}").id) for n in range(plans)]
    print(json.dumps({"secrets": secrets, "plans": plan_ids}))


class Reader:
    """One raw stream: the bytes it got, and when `connected` came."""

    def __init__(self) -> None:
        self.opened = 0.0
        self.connected = 0.0
        self.data = bytearray()
        self.arrivals: list[tuple[float, bytes]] = []


async def open_reader(port: int, path: str, headers: dict[str, str], reader_state: Reader) -> Any:
    reader_state.opened = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.0", "Accept: text/event-stream", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def pump() -> None:
        while chunk := await reader.read(65536):
            now = time.perf_counter()
            if not reader_state.connected and b'"type":"connected"' in reader_state.data + chunk:
                reader_state.connected = now
            reader_state.data += chunk
            reader_state.arrivals.append((now, chunk))

    return writer, asyncio.create_task(pump())


async def run(args: argparse.Namespace, server: ServerProcess, seeded: dict[str, Any]) -> dict[str, Any]:
    secrets, plans = seeded["secrets"], seeded["plans"]
    if args.one_user:  # the same load with one viewer (presence all but idle): its cost, by difference
        secrets = [secrets[0]] * len(secrets)
    plan = plans[0]
    path = f"/api/plan/{plan}/stream"
    viewers = [Reader() for _ in secrets]
    opened = []
    started = time.perf_counter()
    for i, (secret, state) in enumerate(zip(secrets, viewers, strict=True)):
        await asyncio.sleep(max(0.0, started + i / args.rate - time.perf_counter()))
        headers = {"Authorization": f"Token {secret}", "X-Org-Id": "bench"}
        opened.append(await open_reader(server.port, path, headers, state))
    storm_s = time.perf_counter() - started
    await asyncio.sleep(2.0)
    presence_counts = [bytes(v.data).count(b'"type":"presence"') for v in viewers]
    presence_bytes = [
        sum(len(m) for m in re.findall(rb'data: \{"type":"presence".*\n', bytes(v.data))) for v in viewers
    ]
    connect = [v.connected - v.opened for v in viewers if v.connected]
    for v in viewers:
        v.arrivals.clear()

    owner = {"Authorization": f"Token {secrets[0]}", "X-Org-Id": "bench"}
    async with httpx.AsyncClient(base_url=server.url, headers=owner, timeout=30) as client:
        sent: dict[int, float] = {}
        add_ms: list[float] = []

        async def post(plan_id: str, index: int) -> None:
            sent[index] = time.perf_counter()
            response = await client.post(
                "/api/plan/step", json={"plan_id": plan_id, "text": f"bench {index}"}
            )
            add_ms.append(time.perf_counter() - sent[index])
            response.raise_for_status()

        posts = []
        t0 = time.perf_counter()
        for i in range(args.steps):
            await asyncio.sleep(max(0.0, t0 + i / 20 - time.perf_counter()))
            posts.append(asyncio.create_task(post(plan, i)))
        await asyncio.gather(*posts)
        await asyncio.sleep(2.0)
        fanout = [
            when - sent[int(m)]
            for v in viewers
            for when, chunk in v.arrivals
            for m in STEP_TEXT.findall(chunk)
            if int(m) in sent
        ]
        delivered = len(fanout)
        for writer, task in opened:
            writer.close()
            task.cancel()

        # The org's stream: W watchers, one first change on each of P plans.
        watchers = [Reader() for _ in range(args.watchers)]
        held = [await open_reader(server.port, "/api/org/stream", owner, w) for w in watchers]
        await asyncio.sleep(1.0)
        org_connect = [w.connected - w.opened for w in watchers if w.connected]
        changed_plans = plans[1 : 1 + args.plans]
        plan_sent: dict[str, float] = {}

        async def change(plan_id: str, index: int) -> None:
            plan_sent[plan_id] = time.perf_counter()
            await post(plan_id, 100_000 + index)

        posts = []
        t0 = time.perf_counter()
        for i, plan_id in enumerate(changed_plans):
            await asyncio.sleep(max(0.0, t0 + i / 50 - time.perf_counter()))
            posts.append(asyncio.create_task(change(plan_id, i)))
        await asyncio.gather(*posts)
        await asyncio.sleep(2.0)
        org_fanout = []
        for w in watchers:
            seen: set[str] = set()
            for when, chunk in w.arrivals:
                for raw in PLAN_CHANGED.findall(chunk):
                    plan_id = raw.decode()
                    if plan_id in plan_sent and plan_id not in seen:
                        seen.add(plan_id)
                        org_fanout.append(when - plan_sent[plan_id])
        for writer, task in held:
            writer.close()
            task.cancel()

    def ms(values: list[float]) -> dict[str, float]:
        return {k: round(v * 1000, 1) for k, v in summary(values).items()}

    def counts(values: list[int]) -> dict[str, float]:
        ordered = sorted(values)
        return {"min": ordered[0], "p50": ordered[len(ordered) // 2], "max": ordered[-1]}

    return {
        "viewers": len(secrets),
        "join_rate_per_s": args.rate,
        "storm_s": round(storm_s, 2),
        "connected": len(connect),
        "connect_ms": ms(connect),
        "presence_messages_per_viewer": counts(presence_counts),
        "presence_kb_per_viewer": counts([round(b / 1024) for b in presence_bytes]),
        "fanout_ms": ms(fanout),
        "fanout_completeness": delivered / (len(secrets) * args.steps),
        "step_add_ms": ms(add_ms[: args.steps]),
        "org_watchers": args.watchers,
        "org_plans_changed": len(changed_plans),
        "org_connect_ms": ms(org_connect),
        "org_fanout_ms": ms(org_fanout),
        "org_completeness": len(org_fanout) / max(1, args.watchers * len(changed_plans)),
        "org_step_add_ms": ms(add_ms[args.steps :]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="new viewers per second")
    parser.add_argument("--steps", type=int, default=50, help="steps at 20/s with everyone there")
    parser.add_argument("--plans", type=int, default=1000, help="plans changed once each, at 50/s")
    parser.add_argument("--watchers", type=int, default=100, help="org-stream subscribers")
    parser.add_argument("--one-user", action="store_true", help="every stream by one user (a baseline)")
    parser.add_argument("--server", default="daphne", choices=["daphne", "uvicorn"])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--seed", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed(*args.seed)
        return

    tmp = tempfile.mkdtemp(prefix="aep-presence-bench-")
    env = production_env(
        os.environ,
        database_url=args.database_url,
        redis_url=args.redis_url,
        sqlite_path=f"{tmp}/bench.sqlite3",
        max_streams_per_user=args.viewers + args.watchers + 100,
    )
    subprocess.run([str(PY), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    seeding = [str(PY), __file__, "--seed", str(args.viewers), str(args.plans + 1)]
    seeded = json.loads(
        subprocess.run(seeding, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    )
    server = ServerProcess(env, server=args.server).start()
    try:
        result = asyncio.run(run(args, server, seeded))
    finally:
        server.stop()
    result["server"] = args.server
    result["one_user"] = args.one_user
    result["database"] = "postgresql" if args.database_url else "sqlite"
    result["redis"] = bool(args.redis_url)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
