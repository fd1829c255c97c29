"""Working a plan under random operations (DESIGN 10): the services against a plain list model,
and concurrent writers against a client that fetched in between. Runs on SQLite and, in CI, on
PostgreSQL."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from aep.errors import DomainError
from live.storage import events_after
from plans import services
from plans.events import plan_channel
from tests.plans.test_events import apply_event, described, position

TEXTS = st.text(alphabet="abc xyz\u2028é", min_size=1, max_size=12).filter(lambda t: t.strip())


class PlanMachine(RuleBasedStateMachine):
    """Random adds, edits, ticks, moves, deletes and restores; after each, the API's plan is the
    model's (order, text, done), and the plan fetched at the start plus every event since is too."""

    def __init__(self, client: Any, org: Any, user: Any) -> None:
        super().__init__()
        self.client, self.org, self.user = client, org, user

    @initialize()
    def start(self) -> None:
        plan = services.start_plan(org=self.org, user=self.user, title="Model")
        self.plan_id = plan.id
        self.order: list[uuid.UUID] = []  # live steps, in order
        self.text: dict[uuid.UUID, str] = {}
        self.done: dict[uuid.UUID, bool] = {}
        self.deleted: list[uuid.UUID] = []
        self.fetched = self._get()

    def _get(self) -> dict[str, Any]:
        return self.client.get(f"/api/plan/{self.plan_id}").json()

    def _call(self, service: Any, **kwargs: Any) -> Any:
        return service(org=self.org, user=self.user, plan_id=self.plan_id, **kwargs)

    @rule(text=TEXTS)
    def add(self, text: str) -> None:
        step = self._call(services.add_step, text=text)
        self.order.append(step.id)
        self.text[step.id], self.done[step.id] = text.strip(), False

    @precondition(lambda self: self.order)
    @rule(data=st.data(), text=TEXTS)
    def edit(self, data: st.DataObject, text: str) -> None:
        step_id = data.draw(st.sampled_from(self.order))
        self._call(services.update_step, step_id=step_id, text=text)
        self.text[step_id] = text.strip()

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def tick(self, data: st.DataObject) -> None:
        step_id = data.draw(st.sampled_from(self.order))
        self._call(services.update_step, step_id=step_id, done=not self.done[step_id])
        self.done[step_id] = not self.done[step_id]

    @precondition(lambda self: len(self.order) > 1)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        step_id = data.draw(st.sampled_from(self.order))
        rest = [s for s in self.order if s != step_id]
        after = data.draw(st.sampled_from([None, *rest]))
        self._call(services.move_step, step_id=step_id, after=after)
        rest.insert(0 if after is None else rest.index(after) + 1, step_id)
        self.order = rest

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        step_id = data.draw(st.sampled_from(self.order))
        # Where it goes back: after the live step before it, skipping any that are deleted later.
        self._call(services.delete_step, step_id=step_id)
        self.order.remove(step_id)
        self.deleted.append(step_id)

    @precondition(lambda self: self.deleted)
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        step_id = data.draw(st.sampled_from(self.deleted))
        _, after = self._call(services.restore_step, step_id=step_id)
        self.deleted.remove(step_id)
        self.order.insert(0 if after is None else self.order.index(after) + 1, step_id)

    @invariant()
    def the_api_shows_the_model(self) -> None:
        got = self._get()
        assert [uuid.UUID(s["id"]) for s in got["steps"]] == self.order
        assert [s["text"] for s in got["steps"]] == [self.text[s] for s in self.order]
        assert [s["done"] for s in got["steps"]] == [self.done[s] for s in self.order]
        assert got["progress"] == {"done": sum(self.done[s] for s in self.order), "total": len(self.order)}

    @invariant()
    def the_first_fetch_plus_events_is_a_fresh_fetch(self) -> None:
        replayed = {**self.fetched, "steps": [dict(s) for s in self.fetched["steps"]]}
        for event in events_after(plan_channel(self.plan_id), position(self.fetched)):
            apply_event(replayed, event.data)
        assert described(replayed) == described(self._get())


@pytest.mark.django_db
def test_random_operations_keep_the_api_the_events_and_the_model_equal(client_a, org_a, alice) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        lambda: PlanMachine(client_a, org_a, alice),
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


OPERATIONS = ("add", "edit", "tick", "move", "delete", "restore", "rename")


def _random_operation(rng: random.Random, org: Any, user: Any, plan_id: uuid.UUID) -> None:
    """One random write; refusals caused by other writers (a step deleted meanwhile) are fine."""
    steps = list(services.selectors.live_steps(plan_id).values_list("id", flat=True))
    deleted = list(
        services.PlanStep.objects.filter(plan_id=plan_id, deleted_at__isnull=False).values_list(
            "id", flat=True
        )
    )
    kind = rng.choice(OPERATIONS) if steps else "add"
    common = {"org": org, "user": user, "plan_id": plan_id}
    try:
        if kind == "add":
            services.add_step(**common, text=f"step {rng.random():.4f}")
        elif kind == "edit":
            services.update_step(**common, step_id=rng.choice(steps), text=f"edit {rng.random():.4f}")
        elif kind == "tick":
            services.update_step(**common, step_id=rng.choice(steps), done=rng.random() < 0.5)
        elif kind == "move":
            services.move_step(**common, step_id=rng.choice(steps), after=rng.choice([None, *steps]))
        elif kind == "delete":
            services.delete_step(**common, step_id=rng.choice(steps))
        elif kind == "restore" and deleted:
            services.restore_step(**common, step_id=rng.choice(deleted))
        elif kind == "rename":
            services.update_plan(**common, title=f"plan {rng.random():.4f}")
    except DomainError as refused:
        assert refused.status_code in (400, 404), refused  # lost a race with another writer


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_converge_for_every_client(make_client, org_a, alice) -> None:
    """Four writers do random operations on one plan while clients fetch it at different moments;
    each fetched plan plus the events after its position is exactly the final plan."""
    plan = services.start_plan(org=org_a, user=alice, title="Busy")
    for n in range(6):
        services.add_step(org=org_a, user=alice, plan_id=plan.id, text=f"seed {n}")
    client = make_client(alice, org_a)
    started = threading.Barrier(5)
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        started.wait()
        try:
            for _ in range(25):
                _random_operation(rng, org_a, alice, plan.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    fetches = []
    for _ in range(5):
        fetches.append(client.get(f"/api/plan/{plan.id}").json())
    for thread in threads:
        thread.join()
    assert errors == []
    fresh = client.get(f"/api/plan/{plan.id}").json()
    for fetched in fetches:
        for event in events_after(plan_channel(plan.id), position(fetched)):
            apply_event(fetched, event.data)
        assert described(fetched) == described(fresh)
    assert position(fresh) > position(fetches[0])
