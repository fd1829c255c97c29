"""`GET /api/plan/{id}/stream` against a real daphne server (DESIGN 5): what a subscriber sees."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from django_eventstream.models import Event as EventRow

from tests.factories import token_for
from tests.sse import SseStream

pytestmark = pytest.mark.live


def auth(user, org) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Token {token_for(user)}", "X-Org-Id": org if isinstance(org, str) else org.id}


def post_step(server, user, org, plan_id, text: str) -> dict:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{server.url}/api/plan/step", json={"plan_id": str(plan_id), "text": text}, headers=auth(user, org)
    )
    assert response.status_code == 200, response.text
    return response.json()["step"]


def stream(server, plan_id, headers, query: str = "") -> SseStream:  # type: ignore[no-untyped-def]
    return SseStream(f"{server.url}/api/plan/{plan_id}/stream{query}", headers=headers)


def step_events(events) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e.json for e in events if e.event == "message" and e.json["type"] == "step"]


class TestSubscribe:
    def test_connected_is_the_first_event_and_carries_an_id(self, live_daphne, alice, org_a, plan_a):
        with stream(live_daphne, plan_a.id, auth(alice, org_a)) as s:
            assert s.status_code == 200
            assert s.headers["content-type"].startswith("text/event-stream")
            first = s.next_event()
        assert first.event == "message"
        assert first.json == {"type": "connected", "plan_id": str(plan_a.id)}
        assert first.id == f"plan-{plan_a.id}:2"  # plan_a has two steps already

    def test_step_added_through_the_api_arrives_within_a_second(self, live_daphne, alice, org_a, plan_a):
        with stream(live_daphne, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            sent = time.monotonic()
            step = post_step(live_daphne, alice, org_a, plan_a.id, "Ship it")
            event = s.next_event(timeout=1.0)
            assert time.monotonic() - sent < 1.0
        assert event.event == "message"
        assert event.json == {
            "type": "step",
            "plan_id": str(plan_a.id),
            **step,
            "participants": ["alice", "Alice Archer", "bob"],
        }
        assert event.id == f"plan-{plan_a.id}:3"

    def test_two_subscribers_both_receive_the_step_once(self, live_daphne, alice, carol, org_a, plan_a):
        with (
            stream(live_daphne, plan_a.id, auth(alice, org_a)) as one,
            stream(live_daphne, plan_a.id, auth(carol, org_a)) as two,
        ):
            one.next_event(), two.next_event()
            post_step(live_daphne, alice, org_a, plan_a.id, "for both")
            assert one.next_event(1.0).json["text"] == "for both"
            assert two.next_event(1.0).json["text"] == "for both"
            assert one.no_event(0.3) and two.no_event(0.3)

    def test_archive_event(self, live_daphne, alice, org_a, plan_a):
        with stream(live_daphne, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            body = httpx.post(
                f"{live_daphne.url}/api/plan/{plan_a.id}/archive", headers=auth(alice, org_a)
            ).json()
            event = s.next_event(1.0)
        assert event.json == {
            "type": "archived",
            "plan_id": str(plan_a.id),
            "memory_node_id": body["memory_node_id"],
        }

    def test_session_cookie_and_org_query_parameter_work_for_pages(self, live_daphne, alice, org_a, plan_a):
        from django.test import Client

        django_client = Client()
        django_client.force_login(alice)
        session = django_client.cookies["sessionid"].value
        with stream(live_daphne, plan_a.id, {"Cookie": f"sessionid={session}"}, f"?org={org_a.id}") as s:
            assert s.status_code == 200
            assert s.next_event().json["type"] == "connected"

    def test_idle_stream_gets_keep_alive_comments(self, live_daphne_factory, alice, org_a, plan_a):
        server = live_daphne_factory(STREAM_KEEPALIVE_SECONDS="0.2")
        with stream(server, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            assert s.no_event(0.7)
            assert s.parser.comments.count("keep-alive") >= 2


class TestRefused:
    """A refused stream answers like the API, before any event."""

    @pytest.mark.parametrize(
        ("who", "org", "status"),
        [
            (None, "org-a", 401),
            ("badtoken", "org-a", 401),
            ("alice", None, 400),
            ("bob", "org-a", 403),
            ("bob", "org-b", 404),
            ("sam", "org-b", 404),
            ("alice", "nope", 403),
        ],
    )
    def test_refusals(self, live_daphne, request, plan_a, bob, sam, who, org, status):
        headers = {}
        if who == "badtoken":
            headers["Authorization"] = "Token 0123456789abcdef"
        elif who is not None:
            headers["Authorization"] = f"Token {token_for(request.getfixturevalue(who))}"
        if org is not None:
            headers["X-Org-Id"] = org
        with stream(live_daphne, plan_a.id, headers) as s:
            assert s.status_code == status
            assert s.headers["content-type"] == "application/json"
            body = s.json_body()
        assert "detail" in body
        assert "Auth service" not in json.dumps(body)

    def test_unknown_and_malformed_plan_ids_are_404(self, live_daphne, alice, org_a):
        for plan_id in (uuid.uuid4(), "not-a-uuid"):
            with stream(live_daphne, plan_id, auth(alice, org_a)) as s:
                assert s.status_code == 404

    def test_malformed_last_event_id_is_400(self, live_daphne, alice, org_a, plan_a):
        with stream(live_daphne, plan_a.id, {**auth(alice, org_a), "Last-Event-ID": "garbage"}) as s:
            assert s.status_code == 400


class TestReplay:
    def test_reconnect_with_last_event_id_gets_exactly_the_missed_steps(
        self, live_daphne, alice, org_a, plan_a
    ):
        with stream(live_daphne, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            post_step(live_daphne, alice, org_a, plan_a.id, "seen")
            last_id = s.next_event(1.0).id
        missed = [post_step(live_daphne, alice, org_a, plan_a.id, f"missed {i}")["id"] for i in range(5)]
        with stream(live_daphne, plan_a.id, {**auth(alice, org_a), "Last-Event-ID": last_id}) as s:
            connected = s.next_event()
            assert connected.json["type"] == "connected" and connected.id == last_id
            replayed = step_events(s.events(5, timeout=2.0))
            post_step(live_daphne, alice, org_a, plan_a.id, "live again")
            after = s.next_event(1.0)
            assert s.no_event(0.3)
        assert [e["id"] for e in replayed] == missed
        assert after.json["text"] == "live again"

    def test_last_event_id_in_the_query_string_for_pages(self, live_daphne, alice, org_a, plan_a):
        query = f"?lastEventId=plan-{plan_a.id}:1"
        with stream(live_daphne, plan_a.id, auth(alice, org_a), query) as s:
            s.next_event()
            assert [e["text"] for e in step_events(s.events(1))] == ["Write the migration"]

    def test_replay_survives_a_server_restart(self, live_daphne, alice, org_a, plan_a):
        with stream(live_daphne, plan_a.id, auth(alice, org_a)) as s:
            last_id = s.next_event().id
        post_step(live_daphne, alice, org_a, plan_a.id, "before restart")
        live_daphne.restart()
        post_step(live_daphne, alice, org_a, plan_a.id, "after restart")
        with stream(live_daphne, plan_a.id, {**auth(alice, org_a), "Last-Event-ID": last_id}) as s:
            s.next_event()
            texts = [e["text"] for e in step_events(s.events(2, timeout=2.0))]
        assert texts == ["before restart", "after restart"]

    def test_trimmed_history_sends_reset(self, live_daphne, alice, org_a, plan_a):
        EventRow.objects.filter(channel=f"plan-{plan_a.id}", eid__in=[1, 2]).delete()
        with stream(
            live_daphne, plan_a.id, {**auth(alice, org_a), "Last-Event-ID": f"plan-{plan_a.id}:0"}
        ) as s:
            s.next_event()
            reset = s.next_event()
        assert reset.json == {"type": "reset", "plan_id": str(plan_a.id)}
        assert reset.id == f"plan-{plan_a.id}:2"

    def test_concurrent_writers_every_step_arrives_once_in_order(self, live_daphne, alice, org_a, plan_a):
        from concurrent.futures import ThreadPoolExecutor

        with stream(live_daphne, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            with ThreadPoolExecutor(4) as pool:
                ids = list(
                    pool.map(
                        lambda i: post_step(live_daphne, alice, org_a, plan_a.id, f"c{i}")["id"], range(40)
                    )
                )
            received = s.events(40, timeout=10.0)
            assert s.no_event(0.3)
        assert sorted(e.json["id"] for e in received) == sorted(ids)
        assert [int(e.id.rsplit(":", 1)[1]) for e in received] == list(range(3, 43))


class TestStreamMetrics:
    def test_open_streams_gauge_and_events_sent_counter(self, live_daphne, alice, org_a, plan_a):
        def metric(name: str) -> float:
            text = httpx.get(f"{live_daphne.url}/metrics").text
            return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

        sent_before = metric("plan_stream_events_sent_total")
        with (
            stream(live_daphne, plan_a.id, auth(alice, org_a)) as one,
            stream(live_daphne, plan_a.id, auth(alice, org_a)) as two,
        ):
            one.next_event(), two.next_event()
            assert metric("plan_streams_open") == 2
            post_step(live_daphne, alice, org_a, plan_a.id, "counted")
            one.next_event(1.0), two.next_event(1.0)
            assert metric("plan_stream_events_sent_total") == sent_before + 2
        deadline = time.monotonic() + 3
        while metric("plan_streams_open") != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric("plan_streams_open") == 0


class TestStreamCap:
    def test_streams_per_user_are_capped_with_429(self, live_daphne_factory, alice, carol, org_a, plan_a):
        server = live_daphne_factory(MAX_STREAMS_PER_USER="2")
        opened = [stream(server, plan_a.id, auth(alice, org_a)) for _ in range(2)]
        try:
            for s in opened:
                assert s.next_event().json["type"] == "connected"
            with stream(server, plan_a.id, auth(alice, org_a)) as third:
                assert third.status_code == 429
                assert third.headers["retry-after"] == "5"
            with stream(server, plan_a.id, auth(carol, org_a)) as other_user:
                assert other_user.status_code == 200
        finally:
            for s in opened:
                s.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with stream(server, plan_a.id, auth(alice, org_a)) as again:
                if again.status_code == 200:
                    break
            time.sleep(0.1)
        assert again.status_code == 200  # closing streams frees the slots


class TestEventsFromOtherProcesses:
    def test_a_step_written_by_another_process_without_redis_still_arrives(
        self, live_daphne_factory, alice, org_a, plan_a
    ):
        """E.g. the admin on another worker or a management command: no publish reaches this
        server, but its storage poll finds the event."""
        from plans import services

        server = live_daphne_factory(STREAM_POLL_SECONDS="0.3")
        with stream(server, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            step = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="from a script")
            event = s.next_event(timeout=3.0)
            assert s.no_event(0.5)
        assert event.json["id"] == str(step.id)


class TestTextAsStored:
    """Text reaches the stream exactly as stored (DESIGN 14): SSE ends lines at CR and LF only, and
    `str.splitlines()` (which `live.sse` used to frame with) also splits at these, which changed the
    live view of a step into several `data:` lines joined back with LF."""

    SEPARATORS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"

    def test_unicode_line_separators_stay_in_the_json_event_and_the_fragment(
        self, live_daphne, alice, org_a, plan_a
    ):
        text = "one" + "|".join(self.SEPARATORS) + "end"
        with stream(live_daphne, plan_a.id, auth(alice, org_a), "?html=1") as s:
            s.next_event()
            step = post_step(live_daphne, alice, org_a, plan_a.id, text)
            message, fragment = s.next_event(1.0), s.next_event(1.0)
        assert step["text"] == text
        assert message.json["text"] == text
        assert fragment.event == "step_html"
        assert "\n" not in fragment.data.split('class="step-text">')[1].split("</p>")[0]
        assert f'class="step-text">{text}</p>' in fragment.data

    def test_the_replay_after_last_event_id_keeps_them_too(self, live_daphne, alice, org_a, plan_a):
        text = "replayed" + self.SEPARATORS
        post_step(live_daphne, alice, org_a, plan_a.id, text + "x")
        headers = {**auth(alice, org_a), "Last-Event-ID": f"plan-{plan_a.id}:2"}
        with stream(live_daphne, plan_a.id, headers, "?html=1") as s:
            events = s.events(3, timeout=2.0)
        assert events[1].json["text"] == text + "x"
        assert f'class="step-text">{text}x</p>' in events[2].data
