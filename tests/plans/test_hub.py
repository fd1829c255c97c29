"""The hub's fan-out: a chunk of streams per loop turn, every stream still in event-id order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plans import hub as hub_module
from plans.event_storage import StoredEvent

CHANNEL = "plan-00000000-0000-0000-0000-000000000001"


@pytest.fixture
def quiet_hub(monkeypatch, settings) -> hub_module.Hub:  # type: ignore[no-untyped-def]
    """A hub of its own, with no Redis listener and no storage poll (no database here)."""
    monkeypatch.setattr(hub_module, "POLL_SECONDS", 0)
    settings.EVENTSTREAM_REDIS = None
    return hub_module.Hub()


def event(eid: int) -> StoredEvent:
    return StoredEvent(CHANNEL, eid, "message", {"type": "step", "text": f"step {eid}"})


def subscribe_writers(hub: hub_module.Hub, count: int, log: list[Any]) -> list[hub_module.Subscriber]:
    """`count` caught-up streams whose ASGI send completes at once and logs (stream, event id)."""
    subscribers = []
    for index in range(count):
        subscriber = hub.subscribe(CHANNEL)

        async def send(message: dict[str, Any], index: int = index) -> None:
            eid = int(message["body"].split(b":", 2)[2].split(b"\n", 1)[0])
            log.append((index, eid))

        subscriber.sender = send
        subscribers.append(subscriber)
    return subscribers


async def turns_until(done: Any, turns: int = 10_000) -> None:
    """Let the loop turn until `done()`; fail rather than hang if it never is."""
    for _ in range(turns):
        if done():
            return
        await asyncio.sleep(0)
    raise AssertionError("the fan-out did not finish")


def test_other_work_runs_between_chunks_of_one_fan_out(quiet_hub, monkeypatch):
    monkeypatch.setattr(hub_module, "FANOUT_CHUNK", 64)
    log: list[Any] = []

    async def scenario() -> None:
        subscribe_writers(quiet_hub, 200, log)
        loop = asyncio.get_running_loop()
        loop.call_soon(log.append, "a request's turn")
        quiet_hub.deliver(event(1))
        assert len(log) == 64  # the first chunk is written at once, the rest on later turns
        await turns_until(lambda: len(log) == 201)

    asyncio.run(scenario())
    turn = log.index("a request's turn")
    assert 64 <= turn < 200
    assert sorted(entry for entry in log if entry != "a request's turn") == [(i, 1) for i in range(200)]


def test_events_delivered_during_a_fan_out_reach_every_stream_in_order(quiet_hub, monkeypatch):
    monkeypatch.setattr(hub_module, "FANOUT_CHUNK", 7)
    log: list[Any] = []

    async def scenario() -> list[hub_module.Subscriber]:
        subscribers = subscribe_writers(quiet_hub, 50, log)
        for eid in (1, 2, 3):
            quiet_hub.deliver(event(eid))  # before the previous one has reached every stream
        await turns_until(lambda: len(log) == 150)
        return subscribers

    subscribers = asyncio.run(scenario())
    for index in range(50):
        assert [eid for i, eid in log if i == index] == [1, 2, 3]
    # every write went straight to the stream: none had to queue in its inbox out of order
    assert all(s.inbox == [] and s.last_sent == 3 for s in subscribers)


def test_a_new_loop_starts_with_no_fan_out_left_from_the_old_one(quiet_hub, monkeypatch):
    monkeypatch.setattr(hub_module, "FANOUT_CHUNK", 1)
    first: list[Any] = []
    second: list[Any] = []

    async def interrupted() -> None:
        subscribers = subscribe_writers(quiet_hub, 5, first)
        quiet_hub.deliver(event(1))
        for subscriber in subscribers:  # as their streams do when the server stops
            quiet_hub.unsubscribe(subscriber)

    async def fresh() -> None:
        subscribe_writers(quiet_hub, 2, second)
        quiet_hub.deliver(event(1))
        await turns_until(lambda: len(second) == 2)

    old_loop = asyncio.new_event_loop()
    old_loop.run_until_complete(interrupted())  # stops with the fan-out unfinished
    old_loop.close()
    assert len(first) < 5
    asyncio.run(fresh())
    assert sorted(second) == [(0, 1), (1, 1)]
