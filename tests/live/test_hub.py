"""The per-process hub (live.hub) without a server: ordering, gaps, duplicates, slow and failing
streams, coalesced reads, the storage poll, and recovery after a lost Redis connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from live import hub as hub_module
from live import wire
from live.hub import EncodedEvent, Hub, Subscriber
from live.storage import StoredEvent

CHANNEL = "plan-00000000-0000-0000-0000-000000000001"


def event(eid: int, channel: str = CHANNEL) -> StoredEvent:
    return StoredEvent(
        channel, eid, "message", {"type": "archived", "plan_id": "p", "memory_node_id": str(eid)}
    )


def ids_written(messages: list[dict[str, Any]]) -> list[int]:
    """The event numbers in the bodies a stream was sent, in order."""
    found = []
    for message in messages:
        for line in message["body"].decode().splitlines():
            if line.startswith("id: "):
                found.append(int(line.rsplit(":", 1)[1]))
    return found


def instant_sender(messages: list[dict[str, Any]]) -> Callable[[dict[str, Any]], Any]:
    """An ASGI send that completes without suspending (as daphne's does)."""

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    return send


def caught_up(sub: Subscriber, send: Callable[[dict[str, Any]], Any], last: int = 0) -> Subscriber:
    """A subscriber in the state live.stream leaves it in once it has caught up."""
    sub.last_sent, sub.sender = last, send
    return sub


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


class TestSubscriber:
    def test_in_order_events_are_written_straight_to_the_stream(self) -> None:
        messages: list[dict[str, Any]] = []
        sub = caught_up(Subscriber(CHANNEL), instant_sender(messages))
        for eid in (1, 2, 3):
            sub.offer(EncodedEvent(event(eid)))
        assert ids_written(messages) == [1, 2, 3]
        assert sub.last_sent == 3 and sub.inbox == [] and sub.busy == 0

    def test_an_event_after_a_gap_waits_in_the_inbox_and_wakes_the_stream(self) -> None:
        async def scenario() -> None:
            messages: list[dict[str, Any]] = []
            sub = caught_up(Subscriber(CHANNEL), instant_sender(messages))
            sub.offer(EncodedEvent(event(1)))
            waiting = asyncio.ensure_future(sub.wait(asyncio.get_running_loop(), asyncio.Future(), 5))
            await asyncio.sleep(0)
            sub.offer(EncodedEvent(event(3)))  # 2 is missing: the stream's loop must fill the gap
            await asyncio.wait_for(waiting, 1)
            assert ids_written(messages) == [1]
            # The missing event, arriving while the inbox holds work, is queued too (never written
            # ahead of the loop), and the loop takes them in id order.
            sub.offer(EncodedEvent(event(2)))
            assert ids_written(messages) == [1]
            assert [item.eid for item in sub.take()] == [2, 3]

        run(scenario())

    def test_an_event_seen_before_is_dropped(self) -> None:
        messages: list[dict[str, Any]] = []
        sub = caught_up(Subscriber(CHANNEL), instant_sender(messages), last=2)
        sub.offer(EncodedEvent(event(1)))
        sub.offer(EncodedEvent(event(2)))
        sub.offer(EncodedEvent(event(3)))
        sub.offer(EncodedEvent(event(3)))
        assert ids_written(messages) == [3] and sub.inbox == []

    def test_until_caught_up_everything_goes_to_the_inbox(self) -> None:
        sub = Subscriber(CHANNEL)  # no sender yet: live.stream is still replaying
        sub.offer(EncodedEvent(event(1)))
        assert [item.eid for item in sub.take()] == [1]

    def test_a_slow_stream_holds_its_next_events_until_its_write_finishes(self) -> None:
        async def scenario() -> None:
            written: list[dict[str, Any]] = []
            release = asyncio.get_running_loop().create_future()

            async def slow_send(message: dict[str, Any]) -> None:
                await release  # a full socket buffer
                written.append(message)

            sub = caught_up(Subscriber(CHANNEL), slow_send)
            sub.offer(EncodedEvent(event(1)))
            assert sub.busy == 1 and written == []
            sub.offer(EncodedEvent(event(2)))  # must not overtake event 1
            assert [item.eid for item in sub.inbox] == [2]
            release.set_result(None)
            for _ in range(5):
                await asyncio.sleep(0)
            assert ids_written(written) == [1] and sub.busy == 0
            assert sub.sender is slow_send  # still connected: the stream's loop writes event 2

        run(scenario())

    def test_a_failing_write_hands_the_stream_back_to_its_loop(self) -> None:
        async def scenario() -> None:
            async def broken_send(message: dict[str, Any]) -> None:
                raise OSError("connection reset")

            sub = caught_up(Subscriber(CHANNEL), broken_send)
            waiting = asyncio.ensure_future(sub.wait(asyncio.get_running_loop(), asyncio.Future(), 5))
            await asyncio.sleep(0)
            sub.offer(EncodedEvent(event(1)))
            await asyncio.wait_for(waiting, 1)
            assert sub.sender is None  # the loop then sees the disconnect and ends the stream

        run(scenario())


class TestHub:
    def test_deliver_reaches_every_subscriber_of_the_channel_and_no_other(self) -> None:
        async def scenario() -> None:
            hub = Hub()
            out: dict[str, list[dict[str, Any]]] = {"a1": [], "a2": [], "b": []}
            a1 = caught_up(hub.subscribe(CHANNEL), instant_sender(out["a1"]))
            a2 = caught_up(hub.subscribe(CHANNEL), instant_sender(out["a2"]))
            caught_up(hub.subscribe("plan-other"), instant_sender(out["b"]))
            hub.deliver(event(1))
            assert ids_written(out["a1"]) == ids_written(out["a2"]) == [1] and out["b"] == []
            assert hub.delivered[CHANNEL] == 1
            # One encoding per process, shared by every stream.
            assert out["a1"][0] is out["a2"][0]
            hub.unsubscribe(a1)
            hub.unsubscribe(a2)
            assert CHANNEL not in hub.channels and CHANNEL not in hub.delivered
            hub._poll_task.cancel()

        run(scenario())

    def test_concurrent_reads_of_the_same_position_share_one_query(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[tuple[str, int]] = []

        def events_after(channel: str, after: int) -> list[StoredEvent]:
            calls.append((channel, after))
            return [event(after + 1)]

        monkeypatch.setattr(hub_module, "events_after", events_after)

        async def scenario() -> None:
            hub = Hub()
            results = await asyncio.gather(*(hub.fetch(CHANNEL, 4) for _ in range(50)))
            assert all([e.eid for e in r] == [5] for r in results)
            assert calls == [(CHANNEL, 4)]
            await hub.fetch(CHANNEL, 4)  # a later read queries again
            assert len(calls) == 2

        run(scenario())

    def test_the_storage_poll_delivers_what_no_publish_brought(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An event written by a process that could not publish (no Redis, a crash) still arrives."""
        monkeypatch.setattr(hub_module, "current_eids", lambda channels: {CHANNEL: 3})
        monkeypatch.setattr(
            hub_module, "events_after", lambda channel, after: [event(n) for n in range(after + 1, 4)]
        )

        async def scenario() -> None:
            hub = Hub()
            messages: list[dict[str, Any]] = []
            caught_up(hub.subscribe(CHANNEL), instant_sender(messages), last=1)
            await hub._catch_up_from_storage()
            assert ids_written(messages) == [2, 3]
            await hub._catch_up_from_storage()  # nothing new: nothing written twice
            assert ids_written(messages) == [2, 3]
            hub._poll_task.cancel()

        run(scenario())

    def test_a_malformed_redis_message_is_ignored(self) -> None:
        async def scenario() -> None:
            hub = Hub()
            messages: list[dict[str, Any]] = []
            caught_up(hub.subscribe(CHANNEL), instant_sender(messages))
            hub._deliver_redis_message(b"not json")
            hub._deliver_redis_message(json.dumps({"channel": CHANNEL, "data": "{}"}))  # no id
            hub._deliver_redis_message(wire.encode(event(1)))
            assert ids_written(messages) == [1]
            hub._poll_task.cancel()

        run(scenario())


class FakePubSub:
    """redis.asyncio's PubSub, scripted: the first connection drops, the second one works."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script

    async def subscribe(self, *names: str) -> None:
        assert wire.REDIS_PUBSUB_CHANNEL in names  # and aep.revocation's channel

    async def listen(self) -> Any:
        for item in self.script:
            if isinstance(item, Exception):
                raise item
            yield {"type": "message", "data": item}
        await asyncio.Event().wait()  # then stays connected


class FakeRedis:
    def __init__(self, pubsub: FakePubSub) -> None:
        self._pubsub = pubsub

    def pubsub(self) -> FakePubSub:
        return self._pubsub

    async def aclose(self) -> None:
        pass


def test_after_a_lost_redis_connection_the_hub_reconnects_and_rereads_what_was_missed(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.STREAM_POLL_SECONDS = 0  # only Redis and its resync may deliver here
    scripts = iter(
        [
            FakePubSub([wire.encode(event(1)), ConnectionError("Redis went away")]),
            FakePubSub([wire.encode(event(4))]),
        ]
    )
    monkeypatch.setattr(hub_module.aioredis.Redis, "from_url", lambda *a, **k: FakeRedis(next(scripts)))
    # Events 2 and 3 were published while the connection was down: only storage has them.
    monkeypatch.setattr(
        hub_module, "events_after", lambda channel, after: [event(n) for n in range(after + 1, 4)]
    )

    reconnects: list[int] = []

    async def scenario() -> list[int]:
        hub = Hub()
        messages: list[dict[str, Any]] = []
        # What else listens on Redis (live.presence) hears of the reconnect, once, after the resync.
        hub.on_reconnect(lambda: reconnects.append(len(messages)))
        sub = caught_up(hub.subscribe(CHANNEL), instant_sender(messages))
        for _ in range(300):
            if sub.last_sent >= 4:
                break
            await asyncio.sleep(0.01)
        hub._redis_task.cancel()
        return ids_written(messages)

    # 1 from Redis, 2 and 3 from the resync after reconnecting, then 4 from the new connection.
    assert run(scenario()) == [1, 2, 3, 4]
    assert reconnects == [3]
