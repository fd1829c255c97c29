"""A server process dies (SIGKILL) under its streams: clients move to another process and lose nothing.

Two daphne processes share a throwaway Redis. Clients stream a plan from process 1 while steps are
posted to process 2 at a steady rate; process 1 is killed mid-way. Each client reconnects to process 2
with the `Last-Event-ID` of the last event it got and, at the end, has every step exactly once, in
the plan's order (as the API returns it).
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from plans import services
from tests.faults.procs import StepWriter, needs_redis_server, wait_until
from tests.plans.test_stream_live import auth
from tests.sse import SseStream

pytestmark = [pytest.mark.faults, pytest.mark.live, needs_redis_server]

STEPS = 60
RATE = 20.0  # steps per second
CLIENTS = 3
KILL_AFTER = 20  # steps acknowledged before process 1 is killed


class StreamingClient(threading.Thread):
    """Reads a plan's stream from the first server; when the stream breaks, reconnects to the next
    server with the last event id it received. Keeps every step event it saw, duplicates included."""

    def __init__(self, urls: list[str], plan_id: str, headers: dict[str, str], expected: int) -> None:
        super().__init__(daemon=True)
        self.urls, self.plan_id, self.headers, self.expected = urls, plan_id, headers, expected
        self.steps: list[str] = []  # step ids, in arrival order
        self.resets: list[str | None] = []  # ids of `reset` events (history lost): there must be none
        self.last_event_id: str | None = None
        self.connects: list[tuple[str, str | None]] = []  # (server, Last-Event-ID sent)
        self.reconnect_seconds: float | None = None
        self.read_before_break: int | None = None
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self.stop_requested = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        broken_at: float | None = None
        for url in self.urls:
            headers = dict(self.headers)
            if self.last_event_id is not None:
                headers["Last-Event-ID"] = self.last_event_id
            stream = wait_until(lambda url=url, headers=headers: self._open(url, headers), 15, 0.1)
            if broken_at is not None:
                self.reconnect_seconds = time.monotonic() - broken_at
            self.connects.append((url, headers.get("Last-Event-ID")))
            with stream:
                try:
                    while len(set(self.steps)) < self.expected and not self.stop_requested.is_set():
                        event = stream.next_event(max(0.1, deadline - time.monotonic()))
                        data = event.json
                        if data["type"] == "connected":
                            self.connected.set()
                        elif data["type"] == "step":
                            self.steps.append(data["id"])
                        elif data["type"] == "reset":
                            self.resets.append(event.id)
                        if event.id:
                            self.last_event_id = event.id
                    return
                except (ConnectionError, OSError):
                    broken_at = time.monotonic()  # the server went away: try the next one
                    self.read_before_break = len(self.steps)

    def _open(self, url: str, headers: dict[str, str]) -> SseStream | None:
        try:
            stream = SseStream(f"{url}/api/plan/{self.plan_id}/stream", headers=headers)
        except OSError:
            return None
        if stream.status_code != 200:
            stream.close()
            return None
        return stream


def test_clients_of_a_killed_process_resume_on_another_and_miss_nothing(
    live_daphne_factory, redis_server, alice, org_a
):
    env = {"REDIS_URL": redis_server.url}
    one = live_daphne_factory(**env)
    two = live_daphne_factory(**env)
    headers = auth(alice, org_a)
    plan = services.start_plan(org=org_a, user=alice, title="Crash drill")
    plan_id = str(plan.id)

    clients = [StreamingClient([one.url, two.url], plan_id, headers, STEPS) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.connected.wait(15), "a client could not connect to process 1"

    writer = StepWriter(two.url, headers, plan_id, STEPS, RATE)
    writer.start()
    wait_until(lambda: len(writer.acknowledged) >= KILL_AFTER or not writer.is_alive(), 30)
    killed_at_step = len(writer.acknowledged)
    one.stop(kill=True)  # SIGKILL to the daphne process (by its pid's process group)
    writer.join(timeout=60)
    assert not writer.is_alive(), "the writer did not finish in time"
    for client in clients:
        client.join(timeout=45)
    for client in clients:
        client.stop_requested.set()

    response = httpx.get(f"{two.url}/api/plan/{plan_id}", headers=headers, timeout=20)
    assert response.status_code == 200
    plan_steps = [step["id"] for step in response.json()["steps"]]

    figures = {
        "steps_written": len(writer.acknowledged),
        "write_failures": writer.failures,
        "killed_after_step": killed_at_step,
        "steps_in_plan": len(plan_steps),
        "read_per_client": [len(c.steps) for c in clients],
        "duplicates_per_client": [len(c.steps) - len(set(c.steps)) for c in clients],
        "read_from_process_1": [c.read_before_break for c in clients],
        "reconnect_s": [round(c.reconnect_seconds or -1, 3) for c in clients],
        "resets": [c.resets for c in clients],
    }
    print(f"\ndaphne crash: {figures}")

    assert not writer.failures, "posting to process 2 failed while process 1 died"
    assert plan_steps == writer.acknowledged
    for client in clients:
        assert client.error is None, repr(client.error)
        assert [url for url, _ in client.connects] == [one.url, two.url], client.connects
        assert client.connects[1][1] is not None  # it resumed with a Last-Event-ID
        assert client.resets == []
        assert client.steps == plan_steps  # every step, exactly once, in order
