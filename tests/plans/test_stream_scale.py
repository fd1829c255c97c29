"""Streams across processes (Redis) and many streams on one process (PostgreSQL).

These need the production services: TEST_REDIS_URL for cross-process delivery, and DATABASE_URL
pointing at PostgreSQL for the thousand-stream test. `.ci/run` provides both; elsewhere they skip
with the reason.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.plans.test_stream_live import auth, post_step, stream
from tests.servers import child_database_env
from tests.sse import open_raw_stream, read_until

pytestmark = pytest.mark.live

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set (CI sets it)")
needs_postgres = pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""), reason="needs DATABASE_URL=postgres://..."
)


@needs_redis
def test_a_step_posted_on_one_process_reaches_subscribers_on_another(
    live_daphne_factory, alice, org_a, plan_a
):
    one = live_daphne_factory(REDIS_URL=REDIS_URL)
    two = live_daphne_factory(REDIS_URL=REDIS_URL)
    with (
        stream(one, plan_a.id, auth(alice, org_a)) as on_one,
        stream(two, plan_a.id, auth(alice, org_a)) as on_two,
    ):
        on_one.next_event(), on_two.next_event()
        post_step(two, alice, org_a, plan_a.id, "from two")
        assert on_one.next_event(1.0).json["text"] == "from two"
        assert on_two.next_event(1.0).json["text"] == "from two"
        post_step(one, alice, org_a, plan_a.id, "from one")
        assert on_two.next_event(1.0).json["text"] == "from one"
        assert on_one.next_event(1.0).json["text"] == "from one"
        assert on_one.no_event(0.3) and on_two.no_event(0.3)


def _proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


APP_NAME = "aep_scale_test"


def _db_connections() -> int:
    """The server's connections to PostgreSQL: it names itself `APP_NAME` (run in a worker thread,
    then closed, so that the test's own connections are not counted or left open)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME])
            return cursor.fetchone()[0]
    finally:
        connection.close()


STREAMS = int(os.environ.get("SCALE_STREAMS", "1000"))
POOL = 10


@needs_postgres
def test_a_thousand_streams_on_one_process_share_a_small_pool(live_daphne_factory, alice, org_a, plan_a):
    server = live_daphne_factory(
        DATABASE_URL=f"{child_database_env()['DATABASE_URL']}?application_name={APP_NAME}",
        DB_POOL_MAX_SIZE=str(POOL),
        MAX_STREAMS_PER_USER=str(STREAMS + 10),
    )
    pid = server.process.pid
    before = _proc_status(pid)
    headers = auth(alice, org_a)
    path = f"/api/plan/{plan_a.id}/stream"

    async def run() -> dict[str, float]:
        connections = []
        started = time.monotonic()
        for batch in range(0, STREAMS, 100):
            opened = await asyncio.gather(
                *(
                    open_raw_stream("127.0.0.1", server.port, path, headers)
                    for _ in range(min(100, STREAMS - batch))
                )
            )
            await asyncio.gather(*(read_until(reader, b'"connected"', 30) for reader, _ in opened))
            connections.extend(opened)
        connect_seconds = time.monotonic() - started
        figures = {"connect_all_s": connect_seconds, "open": len(connections)}
        figures["db_connections_while_open"] = await asyncio.to_thread(_db_connections)
        during = _proc_status(pid)
        figures["threads"] = during["Threads"]
        figures["rss_kb_per_stream"] = (during["VmRSS"] - before["VmRSS"]) / STREAMS
        sent = time.monotonic()
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.url}/api/plan/step",
                json={"plan_id": str(plan_a.id), "text": "to all"},
                headers=headers,
            )
            assert response.status_code == 200
        latencies = await asyncio.gather(*(_arrival(reader, sent) for reader, _ in connections))
        figures["delivered"] = sum(1 for t in latencies if t is not None)
        received = sorted(t for t in latencies if t is not None)
        figures["delivery_p50_ms"] = received[len(received) // 2] * 1000
        figures["delivery_max_ms"] = received[-1] * 1000
        figures["db_connections_after_step"] = await asyncio.to_thread(_db_connections)
        for _, writer in connections:
            writer.close()
        return figures

    async def _arrival(reader, sent: float) -> float | None:  # type: ignore[no-untyped-def]
        try:
            await read_until(reader, b'"to all"', 30)
        except (TimeoutError, ConnectionError):
            return None
        return time.monotonic() - sent

    figures = asyncio.run(run())
    print(f"\n{STREAMS} streams, one daphne, pool {POOL}, threads before {before['Threads']}: {figures}")
    assert figures["open"] == STREAMS
    assert figures["delivered"] == STREAMS
    assert 0 < figures["db_connections_while_open"] <= POOL
    assert 0 < figures["db_connections_after_step"] <= POOL
    assert figures["threads"] < 50  # no thread per stream
