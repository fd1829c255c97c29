"""Presence (DESIGN 11): who has a plan's stream open, live, one entry per user.

Against real daphne processes (tests/servers.py): one process without Redis; two processes sharing
Redis (TEST_REDIS_URL, set by .ci/run), where a viewer on one is seen from the other and a process
that is killed stops counting within the TTL. The join storm counts the presence messages each
viewer gets.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest
import redis

from aep.accounts import tokens
from tests.factories import MembershipFactory, UserFactory
from tests.live.test_revocation import needs_redis, token_stream
from tests.sse import SseStream, open_raw_stream, read_until

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def viewers_of(event: Any) -> list[str]:
    data = event.json
    assert data["type"] == "presence"
    return [v["username"] for v in data["viewers"]]


def open_viewer(server: Any, plan: Any, user: Any) -> SseStream:
    """A user's stream of the plan, past `connected`, with presence events kept."""
    _token, secret = tokens.token_create(user=user, name="presence")
    stream = token_stream(server, plan, secret)
    stream.keep_presence = True  # and those already read, in their place after `connected`
    stream.pending.extend(stream.presence_events)
    stream.presence_events.clear()
    assert stream.status_code == 200, stream.body
    assert stream.next_event().json["type"] == "connected"
    return stream


def next_presence(stream: SseStream, timeout: float = 5.0) -> list[str]:
    return viewers_of(stream.next_event(timeout))


def wait_for_viewers(stream: SseStream, expected: list[str], timeout: float = 5.0) -> float:
    """Seconds until the stream says exactly `expected` are here."""
    start = time.monotonic()
    seen: list[str] | None = None
    while time.monotonic() - start < timeout:
        try:
            seen = next_presence(stream, timeout - (time.monotonic() - start))
        except TimeoutError:
            break
        if seen == expected:
            return time.monotonic() - start
    raise AssertionError(f"viewers were {seen}, not {expected}, after {timeout} s")


def presence_api(server: Any, plan: Any, user: Any, org: str = "org-a") -> httpx.Response:
    _token, secret = tokens.token_create(user=user, name="api")
    return httpx.get(
        f"{server.url}/api/plan/{plan.id}/presence",
        headers={"Authorization": f"Token {secret}", "X-Org-Id": org},
    )


@pytest.mark.live
class TestOneProcess:
    def test_viewers_see_each_other_arrive_and_leave(self, live_daphne, alice, ada, carol, plan_a):
        with open_viewer(live_daphne, plan_a, alice) as alices:
            assert next_presence(alices) == ["alice"]  # right after connected: herself
            with open_viewer(live_daphne, plan_a, ada) as adas:
                assert next_presence(adas) == ["alice", "ada"]  # first arrived first
                assert wait_for_viewers(alices, ["alice", "ada"]) < 2.0
                with open_viewer(live_daphne, plan_a, carol) as carols:
                    assert next_presence(carols) == ["alice", "ada", "carol"]
                    wait_for_viewers(alices, ["alice", "ada", "carol"])
                    body = presence_api(live_daphne, plan_a, alice).json()
                    assert body["count"] == 3
                    assert [v["username"] for v in body["viewers"]] == ["alice", "ada", "carol"]
                    assert body["viewers"][0]["name"] == "Alice Archer"
                    assert body["viewers"][0]["since"].endswith("Z")
            assert wait_for_viewers(alices, ["alice"]) < 2.0
        body = presence_api(live_daphne, plan_a, alice).json()
        assert body == {"viewers": [], "count": 0}

    def test_two_tabs_of_one_user_are_one_viewer(self, live_daphne, alice, ada, plan_a):
        with open_viewer(live_daphne, plan_a, ada) as adas:
            assert next_presence(adas) == ["ada"]
            with open_viewer(live_daphne, plan_a, alice), open_viewer(live_daphne, plan_a, alice) as second:
                assert next_presence(second) == ["ada", "alice"]
                wait_for_viewers(adas, ["ada", "alice"])
                assert presence_api(live_daphne, plan_a, ada).json()["count"] == 2
            # both of alice's tabs closed: she is gone; one closing alone would not have said so
            wait_for_viewers(adas, ["ada"])

    def test_presence_events_have_no_id_and_are_not_replayed(self, live_daphne, alice, ada, plan_a):
        with open_viewer(live_daphne, plan_a, alice) as alices:
            event = alices.next_event()
            assert event.id is None and viewers_of(event) == ["alice"]
            with open_viewer(live_daphne, plan_a, ada):
                wait_for_viewers(alices, ["alice", "ada"])
        # a reconnect from the start replays stored events only, then says who is here now
        _token, secret = tokens.token_create(user=alice, name="again")
        headers = {"Authorization": f"Token {secret}", "X-Org-Id": "org-a", "Last-Event-ID": "0"}
        with SseStream(f"{live_daphne.url}/api/plan/{plan_a.id}/stream", headers=headers, presence=True) as s:
            assert s.next_event().json["type"] == "connected"
            replayed = []
            while (event := s.next_event()).id is not None:
                replayed.append(event.json["type"])
            assert replayed and set(replayed) == {"step"}  # plan_a's stored events, no presence of before
            assert viewers_of(event) == ["alice"]
            assert s.no_event(1.5)

    def test_pages_get_the_viewers_as_html(self, live_daphne, alice, plan_a):
        _token, secret = tokens.token_create(user=alice, name="page")
        headers = {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}
        url = f"{live_daphne.url}/api/plan/{plan_a.id}/stream?html=1"
        with SseStream(url, headers=headers, presence=True) as s:
            assert s.next_event().json["type"] == "connected"
            assert viewers_of(s.next_event()) == ["alice"]
            html = s.next_event()
            assert html.event == "presence_html" and html.id is None
            assert 'id="viewers"' in html.data and "Alice Archer" in html.data

    def test_presence_of_another_orgs_plan_is_404(self, live_daphne, alice, bob, plan_b):
        assert presence_api(live_daphne, plan_b, alice).status_code == 404
        assert presence_api(live_daphne, plan_b, bob, org="org-b").json() == {"viewers": [], "count": 0}

    def test_a_join_storm_costs_each_viewer_a_few_messages(self, live_daphne, org_a, plan_a):
        """120 users join one after the other: each viewer gets about one presence message per
        second of the storm (and its own first one), not one per arrival."""
        viewers = 120
        secrets = []
        for i in range(viewers):
            user = UserFactory(username=f"viewer{i:03d}")
            MembershipFactory(user=user, org=org_a)
            secrets.append(tokens.token_create(user=user, name="storm")[1])
        counts, storm_seconds = asyncio.run(_storm(live_daphne, plan_a, secrets, settle=2.5))
        assert len(counts) == viewers
        # one message per interval (1 s) while the storm lasts, its own first one and the last
        # change: not one per arrival
        assert max(counts) <= storm_seconds + 3, (storm_seconds, sorted(counts))
        assert max(counts) < viewers / 5, (storm_seconds, sorted(counts))


async def _storm(server: Any, plan: Any, secrets: list[str], settle: float) -> tuple[list[int], float]:
    """Open a stream per token, one after the other; (presence messages each got, the seconds the
    joins took)."""
    host, port = server.url.removeprefix("http://").split(":")
    path = f"/api/plan/{plan.id}/stream"
    streams = []
    started = time.monotonic()
    for secret in secrets:
        reader, writer = await open_raw_stream(
            host, int(port), path, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}
        )
        await read_until(reader, b'"type":"presence"', timeout=10)
        streams.append((reader, writer))
        await asyncio.sleep(0.015)
    storm_seconds = time.monotonic() - started
    await asyncio.sleep(settle)
    counts = []
    for reader, _writer in streams:
        data = b""
        try:
            async with asyncio.timeout(0.05):
                while chunk := await reader.read(65536):
                    data += chunk
        except TimeoutError:
            pass
        counts.append(1 + data.count(b'"type":"presence"'))
    for _reader, writer in streams:  # only now: a viewer leaving is a change the others are told of
        writer.close()
    return counts, storm_seconds


@pytest.mark.live
@needs_redis
class TestAcrossProcesses:
    @pytest.fixture
    def two(self, live_daphne_factory):  # type: ignore[no-untyped-def]
        fast = {"PRESENCE_HEARTBEAT_SECONDS": "0.5", "PRESENCE_TTL_SECONDS": "3", "REDIS_URL": REDIS_URL}
        return live_daphne_factory(**fast), live_daphne_factory(**fast)

    def test_a_viewer_on_one_process_is_seen_from_the_other(self, two, alice, ada, plan_a):
        one, other = two
        with open_viewer(one, plan_a, alice) as alices:
            assert next_presence(alices) == ["alice"]
            with open_viewer(other, plan_a, ada) as adas:
                assert next_presence(adas) == ["alice", "ada"]
                assert wait_for_viewers(alices, ["alice", "ada"]) < 2.0
                body = presence_api(one, plan_a, alice).json()
                assert [v["username"] for v in body["viewers"]] == ["alice", "ada"]
            assert wait_for_viewers(alices, ["alice"]) < 2.0

    def test_a_process_that_dies_stops_counting_within_the_ttl(self, two, alice, ada, plan_a):
        one, other = two
        with open_viewer(one, plan_a, alice) as alices:
            next_presence(alices)
            adas = open_viewer(other, plan_a, ada)
            wait_for_viewers(alices, ["alice", "ada"])
            other.stop(kill=True)  # SIGKILL: no goodbye reaches Redis
            gone_after = wait_for_viewers(alices, ["alice"], timeout=10)
            adas.close()
            assert gone_after < 3 + 0.5 + 1.5  # TTL + heartbeat + the interval, with room

    def test_after_redis_restarts_empty_every_viewer_is_seen_again(self, two, alice, ada, plan_a):
        one, other = two
        with open_viewer(one, plan_a, alice) as alices, open_viewer(other, plan_a, ada) as adas:
            wait_for_viewers(alices, ["alice", "ada"])
            client = redis.Redis.from_url(REDIS_URL)
            try:  # what a restart of Redis does: its keys are gone, its connections cut
                client.delete(*client.keys(f"aep:presence:plan-{plan_a.id}*"))
                client.client_kill_filter(_type="pubsub")
            finally:
                client.close()
            # Each process hears of the lost connection and writes its viewers again at its next
            # heartbeat: both are listed again, from either process.
            deadline = time.monotonic() + 10
            while True:
                seen = [
                    [v["username"] for v in presence_api(server, plan_a, alice).json()["viewers"]]
                    for server in (one, other)
                ]
                if seen == [["alice", "ada"], ["alice", "ada"]] or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert seen == [["alice", "ada"], ["alice", "ada"]]
            assert wait_for_viewers(adas, ["alice", "ada"]) < 2.0
