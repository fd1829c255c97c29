"""/metrics with several server processes (PROMETHEUS_MULTIPROC_DIR): counters are summed over all."""

from __future__ import annotations

import httpx
import pytest

from tests.plans.test_stream_live import auth, post_step, stream

pytestmark = pytest.mark.live


def sample(server, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    text = httpx.get(f"{server.url}/metrics").text
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in text.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric.split("{")[0] == name and all(w in metric for w in wanted):
            total += float(value)
    return total


def test_counters_and_stream_gauge_add_up_across_processes(
    live_daphne_factory, tmp_path, alice, org_a, plan_a
):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    one = live_daphne_factory(**env)
    two = live_daphne_factory(**env)
    post_step(one, alice, org_a, plan_a.id, "on one")
    post_step(two, alice, org_a, plan_a.id, "on two")
    post_step(two, alice, org_a, plan_a.id, "on two again")
    for server in (one, two):  # whichever process is scraped, it reports all of them
        assert sample(server, "plan_events_total", event="PLAN_STEP", org_id="org-a") == 3
        assert sample(server, "plan_step_latency_count", org_id="org-a") == 3
        assert sample(server, "plan_active_total", org_id="org-a") == 1
    with stream(one, plan_a.id, auth(alice, org_a)) as s1, stream(two, plan_a.id, auth(alice, org_a)) as s2:
        s1.next_event(), s2.next_event()
        assert sample(one, "plan_streams_open") == 2
