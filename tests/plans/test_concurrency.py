"""Concurrent writers on one plan, through the API, on real transactions (SQLite file DB and PostgreSQL).

No step may be lost or duplicated, positions and event ids stay gap-free and in the same order, and
concurrent archives agree on one memory node.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django_eventstream.models import Event
from rest_framework.test import APIClient

from aep.models import AuditLog
from memory_graph.models import MemoryNode
from plans import services
from plans.models import LivePlan, PlanStep
from tests.factories import token_for

THREADS = 8
STEPS_PER_THREAD = 50
JOIN_TIMEOUT = 300  # a safety net against a deadlock hanging the run, not a timing assertion


def run_together(count: int, work: Callable[[int, APIClient], list[Any]], key: str) -> list[list[Any]]:
    """Run `work(index, client)` in `count` threads released together; return each thread's results.
    Any exception in a thread fails the test."""
    barrier = threading.Barrier(count)
    results: list[list[Any]] = [[] for _ in range(count)]
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
            client.defaults["HTTP_X_ORG_ID"] = "org-a"
            barrier.wait(timeout=JOIN_TIMEOUT)
            results[index] = work(index, client)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_steps_on_one_plan_are_all_kept_in_one_gap_free_order(org_a, alice):
    plan = services.start_plan(org=org_a, user=alice, title="Busy plan")
    key = token_for(alice)

    def add_steps(index: int, client: APIClient) -> list[tuple[int, str, str]]:
        outcomes = []
        for n in range(STEPS_PER_THREAD):
            text = f"t{index}-s{n}"
            response = client.post("/api/plan/step", {"plan_id": str(plan.id), "text": text}, format="json")
            body = response.json()
            outcomes.append((response.status_code, text, body.get("step", {}).get("id", body)))
        return outcomes

    outcomes = [o for per_thread in run_together(THREADS, add_steps, key) for o in per_thread]
    total = THREADS * STEPS_PER_THREAD
    assert [status for status, _, _ in outcomes] == [200] * total, [o for o in outcomes if o[0] != 200][:5]

    steps = list(PlanStep.objects.filter(plan=plan).order_by("seq"))
    assert len(steps) == total
    texts = [s.text for s in steps]
    assert sorted(texts) == sorted(f"t{i}-s{n}" for i in range(THREADS) for n in range(STEPS_PER_THREAD))
    assert [s.seq for s in steps] == list(range(1, total + 1))
    assert {str(s.id) for s in steps} == {step_id for _, _, step_id in outcomes}
    # Each thread's own steps keep the order that thread added them in.
    for i in range(THREADS):
        mine = [t for t in texts if t.startswith(f"t{i}-")]
        assert mine == [f"t{i}-s{n}" for n in range(STEPS_PER_THREAD)]

    plan.refresh_from_db()
    assert plan.step_count == total

    stored = list(Event.objects.filter(channel=f"plan-{plan.id}", eid__gt=0).order_by("eid"))
    assert [e.eid for e in stored] == list(range(1, total + 1))
    # Event n announces the step at position n: ids follow commit order.
    assert [json.loads(e.data)["id"] for e in stored] == [str(s.id) for s in steps]

    audit = AuditLog.objects.filter(action="PLAN_STEP", resource_id=str(plan.id))
    assert audit.count() == total
    assert sorted(row.details["seq"] for row in audit) == list(range(1, total + 1))

    api_view = APIClient()
    api_view.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = api_view.get(f"/api/plan/{plan.id}", HTTP_X_ORG_ID="org-a").json()
    assert [s["text"] for s in body["steps"]] == texts


@pytest.mark.django_db(transaction=True)
def test_concurrent_archives_agree_on_one_memory_node(org_a, alice):
    plan = services.start_plan(org=org_a, user=alice, title="Archive race")
    for n in range(3):
        services.add_step(org=org_a, user=alice, plan_id=plan.id, text=f"s{n}")
    key = token_for(alice)

    def archive(index: int, client: APIClient) -> list[tuple[int, Any]]:
        response = client.post(f"/api/plan/{plan.id}/archive", {}, format="json")
        return [(response.status_code, response.json())]

    outcomes = [o for per_thread in run_together(4, archive, key) for o in per_thread]
    assert [status for status, _ in outcomes] == [200] * 4, outcomes
    node_ids = {body["memory_node_id"] for _, body in outcomes}
    assert len(node_ids) == 1

    nodes = MemoryNode.objects.filter(kind="plan_session")
    assert nodes.count() == 1
    assert str(nodes.get().id) == node_ids.pop()
    assert nodes.get().metadata["step_count"] == 3
    assert LivePlan.objects.get(id=plan.id).archived
    assert AuditLog.objects.filter(action="PLAN_ARCHIVE", resource_id=str(plan.id)).count() == 1
    archived_events = [
        e for e in Event.objects.filter(channel=f"plan-{plan.id}", eid__gt=0) if '"archived"' in e.data
    ]
    assert len(archived_events) == 1
