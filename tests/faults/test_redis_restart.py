"""Redis dies (SIGKILL) and comes back: writes go on, subscribers on other processes catch up.

Two daphne processes share a throwaway Redis; a subscriber streams from process 1 while steps are
posted to process 2. Redis is killed, more steps are posted (they must be committed: 200), Redis is
started again on the same port and more steps are posted. The subscriber on process 1 receives every
committed step exactly once, in order, within a bounded time after Redis is back: its hub reconnects
and re-reads from storage what it missed.

The servers run with the production write throttle (`API_WRITE_RATE`, counted in Django's cache,
which is Redis when REDIS_URL is set): with Redis down it must let writes through.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from plans import services
from tests.faults.procs import needs_redis_server
from tests.plans.test_stream_live import auth, stream

pytestmark = [pytest.mark.faults, pytest.mark.live, needs_redis_server]

BEFORE, DURING, AFTER = 10, 10, 10  # steps posted with Redis up, down, and up again
CATCH_UP_SECONDS = 15.0  # bound on delivery after Redis is back (the hub's backoff is at most 5 s)


def _post(client: httpx.Client, url: str, headers: dict[str, str], plan_id: str, text: str) -> httpx.Response:
    return client.post(f"{url}/api/plan/step", json={"plan_id": plan_id, "text": text}, headers=headers)


def test_steps_committed_while_redis_is_down_reach_subscribers_once_it_is_back(
    live_daphne_factory, redis_server, alice, org_a
):
    env = {"REDIS_URL": redis_server.url, "API_WRITE_RATE": "600/min"}
    one = live_daphne_factory(**env)
    two = live_daphne_factory(**env)
    headers = auth(alice, org_a)
    plan_id = str(services.start_plan(org=org_a, user=alice, title="Redis drill").id)
    received: list[str] = []
    statuses: dict[str, list[int]] = {"before": [], "during": [], "after": []}
    bodies_during: list[str] = []

    def read_steps(subscriber: Any, count: int, timeout: float) -> float:
        """Read until `count` steps in all have arrived; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        while len(received) < count:
            event = subscriber.next_event(max(0.01, deadline - time.monotonic()))
            if event.json["type"] == "step":
                received.append(event.json["id"])
        return time.monotonic() - started

    with stream(one, plan_id, headers) as subscriber, httpx.Client(timeout=20) as client:
        assert subscriber.next_event(10).json["type"] == "connected"
        for n in range(BEFORE):
            statuses["before"].append(_post(client, two.url, headers, plan_id, f"before {n}").status_code)
        read_steps(subscriber, BEFORE, 10)

        redis_server.kill()
        down_started = time.monotonic()
        for n in range(DURING):
            response = _post(client, two.url, headers, plan_id, f"during {n}")
            statuses["during"].append(response.status_code)
            if response.status_code != 200:
                bodies_during.append(f"{response.status_code} {response.headers.get('content-type')}")
        write_seconds_down = time.monotonic() - down_started
        time.sleep(1.0)  # let both hubs notice the lost subscription and back off

        redis_server.start()
        back_at = time.monotonic()
        committed_down = sum(1 for s in statuses["during"] if s == 200)
        # The hub of process 1 reconnects and re-reads what it missed, with no new event needed.
        catch_up_seconds = read_steps(subscriber, BEFORE + committed_down, CATCH_UP_SECONDS)
        for n in range(AFTER):
            statuses["after"].append(_post(client, two.url, headers, plan_id, f"after {n}").status_code)
        committed = BEFORE + committed_down + sum(1 for s in statuses["after"] if s == 200)
        read_steps(subscriber, committed, CATCH_UP_SECONDS)
        total_seconds_after_restart = time.monotonic() - back_at
        assert subscriber.no_event(0.5), "an event arrived twice or out of place"

    plan_steps = [
        s["id"] for s in httpx.get(f"{two.url}/api/plan/{plan_id}", headers=headers).json()["steps"]
    ]
    figures = {
        "statuses": {phase: sorted(set(codes)) for phase, codes in statuses.items()},
        "non_200_while_down": bodies_during[:3],
        "write_seconds_while_down": round(write_seconds_down, 3),
        "steps_written": len(plan_steps),
        "steps_read": len(received),
        "duplicates": len(received) - len(set(received)),
        "catch_up_after_restart_s": round(catch_up_seconds, 3),
        "all_delivered_after_restart_s": round(total_seconds_after_restart, 3),
    }
    print(f"\nredis restart: {figures}")

    assert statuses["before"] == [200] * BEFORE
    assert statuses["during"] == [200] * DURING, f"writes failed while Redis was down: {bodies_during}"
    assert statuses["after"] == [200] * AFTER
    assert received == plan_steps  # every committed step, exactly once, in order
