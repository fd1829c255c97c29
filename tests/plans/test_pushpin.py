"""The Pushpin (GRIP) topology: the same stream contract as plain daphne, with Pushpin holding the
connections (live.grip, ops.pushpin, README "Pushpin topology").

Unit tests (signature check, next-link tokens, publish payload, config) always run. The live tests
start a real Pushpin in front of two real daphne processes and are skipped when /usr/bin/pushpin is
missing (`apt-get install -y pushpin`; CI installs it).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import jwt
import pytest
from asgiref.sync import async_to_sync

from aep.models import ApiToken, Membership
from live import grip
from live.hub import EncodedEvent
from live.storage import StoredEvent
from ops.processes import free_port
from ops.pushpin import PUSHPIN_BIN, PushpinProcess, write_config
from plans import services
from tests.factories import token_for
from tests.servers import LiveServer
from tests.sse import SseStream

HAVE_PUSHPIN = Path(PUSHPIN_BIN).exists()
needs_pushpin = pytest.mark.skipif(
    not HAVE_PUSHPIN, reason="pushpin is not installed (apt-get install -y pushpin; CI installs it)"
)
KEY = "test-grip-key-" + secrets.token_hex(16)
NEXT_LINK_TIMEOUT = 3  # seconds: short, so the idle re-fetch is testable


def sig(key: str = KEY, exp_in: float = 3600, **claims: Any) -> str:
    return jwt.encode({"iss": "pushpin", "exp": int(time.time() + exp_in), **claims}, key, algorithm="HS256")


def auth(user, org) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Token {token_for(user)}", "X-Org-Id": org if isinstance(org, str) else org.id}


def post_step(base_url: str, user, org, plan_id, text: str) -> dict:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{base_url}/api/plan/step", json={"plan_id": str(plan_id), "text": text}, headers=auth(user, org)
    )
    assert response.status_code == 200, response.text
    return response.json()["step"]


def texts(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.json.get("text") for e in events]


# --- unit: Grip-Sig ---------------------------------------------------------------------------------
class TestGripSig:
    def test_a_token_signed_with_the_key_is_valid(self) -> None:
        assert grip.valid_grip_sig(sig(), KEY)

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param(lambda: sig(key="another-key-of-the-same-length-0123456789"), id="wrong key"),
            pytest.param(lambda: sig(exp_in=-5), id="expired"),
            pytest.param(lambda: jwt.encode({"iss": "pushpin"}, KEY, algorithm="HS256"), id="no exp"),
            pytest.param(
                lambda: jwt.encode({"exp": int(time.time()) + 60}, None, algorithm="none"), id="alg none"
            ),
            pytest.param(lambda: "not-a-jwt", id="garbage"),
            pytest.param(lambda: "", id="empty"),
        ],
    )
    def test_anything_else_is_invalid(self, token) -> None:  # type: ignore[no-untyped-def]
        assert not grip.valid_grip_sig(token(), KEY)

    def test_no_key_configured_means_never_valid(self, settings) -> None:  # type: ignore[no-untyped-def]
        settings.GRIP_KEY = ""
        assert not grip.valid_grip_sig(sig())

    def test_grip_last_header(self) -> None:
        assert grip.parse_grip_last("plan-1; last-id=3, plan-1~html; last-id=7") == {
            "plan-1": "3",
            "plan-1~html": "7",
        }
        assert grip.parse_grip_last("") == {}


class TestNextLinkToken:
    def test_round_trip(self) -> None:
        token = grip.make_next_token(user_id=7, channel="plan-p", org_id="org-a", html=True)
        assert grip.read_next_token(token) == {"u": 7, "c": "plan-p", "o": "org-a", "h": 1}

    def test_the_link_carries_the_token_in_its_path(self) -> None:
        link = grip.next_link(
            stream_path="/api/plan/p/stream", user_id=7, channel="plan-p", org_id="org-a", html=False
        )
        prefix, _, token = link.rpartition("/")
        assert prefix == "/api/plan/p/stream/grip" and "?" not in link
        assert grip.read_next_token(token) == {"u": 7, "c": "plan-p", "o": "org-a", "h": 0}

    def test_tampered_or_expired_tokens_are_refused(self, settings) -> None:  # type: ignore[no-untyped-def]
        token = grip.make_next_token(user_id=7, channel="plan-p", org_id="o", html=False)
        payload, _, signature = token.rpartition(":")
        assert grip.read_next_token(payload + ":" + signature[::-1]) is None
        assert grip.read_next_token("garbage") is None
        settings.GRIP_LINK_MAX_AGE = -1
        assert grip.read_next_token(token) is None


# --- unit: instructions, payload, config ---------------------------------------------------------------
class TestInstructions:
    def test_hold_headers(self, settings) -> None:  # type: ignore[no-untyped-def]
        settings.GRIP_NEXT_LINK_TIMEOUT = 120
        headers = dict(
            grip.hold_headers(channel="plan-x", html=False, last_id=4, link="/n?t=1", keepalive_seconds=15)
        )
        assert headers == {
            b"grip-hold": b"stream",
            b"grip-channel": b"plan-x; prev-id=4",
            b"grip-keep-alive": b": keep-alive\\n\\n; format=cstring; timeout=15",
            b"grip-link": b"</n?t=1>; rel=next; timeout=120",
        }
        settings.GRIP_NEXT_LINK_TIMEOUT = 0
        html = dict(
            grip.hold_headers(channel="plan-x", html=True, last_id=0, link="/n", keepalive_seconds=15)
        )
        assert html[b"grip-channel"] == b"plan-x~html; prev-id=0"
        assert html[b"grip-link"] == b"</n>; rel=next"

    def test_publish_items_for_json_and_page_subscribers(self) -> None:
        plan_id, step_id = "0b9a3f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
        data = {
            "type": "step",
            "plan_id": plan_id,
            "id": step_id,
            "text": "Ship <it>",
            "owner": "Al",
            "ts": None,
        }
        event = StoredEvent("plan-p", 5, "message", data)
        json_item, html_item = grip.publish_items(event)
        encoded = EncodedEvent(event)
        assert json_item == {
            "channel": "plan-p",
            "id": "5",
            "prev-id": "4",
            "formats": {"http-stream": {"content": encoded.json_bytes.decode()}},
        }
        assert json_item["formats"]["http-stream"]["content"].startswith("id: plan-p:5\ndata: {")
        assert html_item["channel"] == "plan-p~html"
        assert (html_item["id"], html_item["prev-id"]) == ("5", "4")
        content = html_item["formats"]["http-stream"]["content"]
        assert content == (encoded.json_bytes + encoded.html_bytes).decode()
        assert "event: step_html" in content and "Ship &lt;it&gt;" in content

    @needs_pushpin  # the config is made from the installed Pushpin's own internal.conf
    def test_write_config(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        conf = write_config(tmp_path, 7000, [8001, 8002], publish_port=7001, key="sekrit")
        text = conf.read_text()
        assert "services=condure,zurl,pushpin-proxy,pushpin-handler" in text
        assert "http_port=127.0.0.1:7000" in text
        assert "push_in_http_addr=127.0.0.1" in text and "push_in_http_port=7001" in text
        assert "message_rate=0" in text and "message_hwm=200000" in text
        assert "sig_key=sekrit" in text
        assert f"rundir={tmp_path.resolve()}/run" in text and f"logdir={tmp_path.resolve()}/log" in text
        assert "tcp://" not in text  # the zmq sockets are ipc files in the run folder
        assert (tmp_path / "routes").read_text() == "* 127.0.0.1:8001 127.0.0.1:8002\n"
        internal = (tmp_path / "internal.conf").read_text()
        assert "/var/run/zurl" not in internal and "ipc://{rundir}/{ipc_prefix}zurl-in" in internal


# --- unit: publishing ------------------------------------------------------------------------------------
class _Capture(http.server.BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "10")
        self.end_headers()
        self.wfile.write(b"Published\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def capture_server() -> Iterator[tuple[str, list[dict]]]:
    _Capture.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Capture.bodies
    finally:
        server.shutdown()
        server.server_close()


class TestPublisher:
    def test_events_are_published_in_id_order(self, settings, capture_server) -> None:  # type: ignore[no-untyped-def]
        settings.GRIP_URL, bodies = capture_server
        publisher = grip.Publisher()
        for eid in (1, 2, 3):
            publisher.enqueue(StoredEvent("plan-p", eid, "message", {"type": "archived", "plan_id": "p"}))
        assert publisher.flush(5)
        items = [item for body in bodies for item in body["items"]]
        assert [(i["channel"], i["id"], i["prev-id"]) for i in items if i["channel"] == "plan-p"] == [
            ("plan-p", "1", "0"),
            ("plan-p", "2", "1"),
            ("plan-p", "3", "2"),
        ]
        assert len([i for i in items if i["channel"] == "plan-p~html"]) == 3

    def test_a_failed_publish_is_logged_not_raised(self, settings, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
        settings.GRIP_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        monkeypatch.setattr(grip, "PUBLISH_RETRIES", (0.01,))
        publisher = grip.Publisher()
        publisher.enqueue(StoredEvent("plan-p", 1, "message", {"type": "archived", "plan_id": "p"}))
        assert publisher.flush(5)
        assert publisher.failures == 1
        assert "GRIP publish of 1 event(s)" in caplog.text

    def test_broadcast_queues_for_pushpin_only_with_grip_url(self, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        from live.publish import broadcast

        queued: list[StoredEvent] = []
        monkeypatch.setattr(grip.publisher, "enqueue", queued.append)
        event = StoredEvent("plan-p", 1, "message", {"type": "archived", "plan_id": "p"})
        settings.GRIP_URL = ""
        broadcast(event)
        assert queued == []
        settings.GRIP_URL, settings.GRIP_KEY = "http://127.0.0.1:9", KEY
        broadcast(event)
        assert queued == [event]


# --- in-process: the stream app's GRIP answers ------------------------------------------------------------
def call_stream(path: str, headers: dict[str, str], query: str = "") -> tuple[int, dict[str, str], bytes]:
    """Run live.stream's ASGI app once; returns status, headers and the whole body."""
    from live.stream import stream_app, stream_route

    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    async_to_sync(stream_app)(scope, receive, send, stream_route(scope))
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


@pytest.fixture
def grip_settings(settings, transactional_db, monkeypatch):  # type: ignore[no-untyped-def]
    settings.GRIP_URL, settings.GRIP_KEY = "http://127.0.0.1:9", KEY
    settings.GRIP_NEXT_LINK_TIMEOUT = 0
    monkeypatch.setattr(grip.publisher, "enqueue", lambda event: None)  # no Pushpin here
    return settings


def link_of(headers: dict[str, str]) -> str:
    """The path of the next link in a GRIP response."""
    value = headers["grip-link"]
    assert value.startswith("<") and ">; rel=next" in value
    return value[1 : value.index(">")]


def plan_channel_of(headers: dict[str, str]) -> str:
    """The plan's channel in a hold's Grip-Channel (the revocation channels follow it)."""
    return headers["grip-channel"].split(", ")[0]


class TestGripResponse:
    def test_hold_instructions_and_first_bytes(self, grip_settings, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        path = f"/api/plan/{plan_a.id}/stream"
        status, headers, body = call_stream(path, {**auth(alice, org_a), "Grip-Sig": sig()})
        assert status == 200
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["grip-hold"] == "stream"
        plan_channel, *revoke_on = headers["grip-channel"].split(", ")
        assert plan_channel == f"plan-{plan_a.id}; prev-id=2"
        token = ApiToken.objects.get(user=alice).pk
        assert revoke_on == grip.revoke_channels(user=alice.pk, org="org-a", token=token)  # DESIGN 12
        assert headers["grip-keep-alive"] == ": keep-alive\\n\\n; format=cstring; timeout=15"
        assert link_of(headers).startswith(f"{path}/grip/")
        assert int(headers["content-length"]) == len(body)
        connected = json.dumps({"type": "connected", "plan_id": str(plan_a.id)}, separators=(",", ":"))
        assert body == f"retry: 2000\nid: plan-{plan_a.id}:2\ndata: {connected}\n\n".encode()

    def test_replay_after_last_event_id_then_prev_id_is_the_last_sent(
        self, grip_settings, alice, org_a, plan_a
    ) -> None:  # type: ignore[no-untyped-def]
        headers = {**auth(alice, org_a), "Grip-Sig": sig(), "Last-Event-ID": f"plan-{plan_a.id}:1"}
        status, out, body = call_stream(f"/api/plan/{plan_a.id}/stream", headers)
        assert status == 200 and plan_channel_of(out) == f"plan-{plan_a.id}; prev-id=2"
        text = body.decode()
        assert text.count("\n\n") == 2 and f"id: plan-{plan_a.id}:1\n" in text  # connected at 1
        assert "Write the migration" in text and "Design the token schema" not in text

    def test_a_trimmed_gap_becomes_reset(self, grip_settings, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        from django_eventstream.models import Event

        Event.objects.filter(channel=f"plan-{plan_a.id}", eid=1).delete()
        headers = {**auth(alice, org_a), "Grip-Sig": sig(), "Last-Event-ID": f"plan-{plan_a.id}:0"}
        _status, out, body = call_stream(f"/api/plan/{plan_a.id}/stream", headers)
        assert '"type":"reset"' in body.decode() and plan_channel_of(out).endswith("prev-id=2")

    def test_html_subscribers_use_their_own_channel(self, grip_settings, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        headers = {**auth(alice, org_a), "Grip-Sig": sig(), "Last-Event-ID": f"plan-{plan_a.id}:1"}
        _status, out, body = call_stream(f"/api/plan/{plan_a.id}/stream", headers, "html=1")
        assert plan_channel_of(out) == f"plan-{plan_a.id}~html; prev-id=2"
        assert b"event: step_html" in body

    def test_a_bad_signature_is_served_directly_without_instructions(
        self, grip_settings, alice, org_a, plan_a
    ) -> None:  # type: ignore[no-untyped-def]
        from live.stream import stream_route

        assert stream_route({"type": "http", "path": f"/api/plan/{plan_a.id}/stream"}) is not None
        status, headers, body = call_stream(
            f"/api/plan/{plan_a.id}/stream",
            {**auth(alice, org_a), "Grip-Sig": sig(key="forged-key-of-the-same-length-0123456789")},
        )
        assert status == 200 and not any(k.startswith("grip-") for k in headers)
        assert b'"type":"connected"' in body  # the direct stream (ended by the disconnect)

    def test_refusals_are_the_direct_ones(
        self, grip_settings, alice, bob, carol, org_a, org_b, plan_a
    ) -> None:  # type: ignore[no-untyped-def]
        path = f"/api/plan/{plan_a.id}/stream"
        for headers in (
            {},
            {"Authorization": f"Token {token_for(alice)}"},
            auth(bob, org_a),
            auth(carol, org_b),
        ):
            direct = call_stream(path, headers)
            through = call_stream(path, {**headers, "Grip-Sig": sig()})
            assert direct[0] in (400, 401, 403, 404)
            assert (through[0], through[2]) == (direct[0], direct[2])
            assert not any(k.startswith("grip-") for k in through[1])

    def test_next_link_returns_what_was_missed_with_fresh_instructions(
        self, grip_settings, alice, org_a, plan_a
    ) -> None:  # type: ignore[no-untyped-def]
        _s, first, _b = call_stream(
            f"/api/plan/{plan_a.id}/stream", {**auth(alice, org_a), "Grip-Sig": sig()}
        )
        link = link_of(first)
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="missed")
        channel = f"plan-{plan_a.id}"
        # What Pushpin sends: no client headers, its signature and the connection's position.
        status, headers, body = call_stream(link, {"Grip-Sig": sig(), "Grip-Last": f"{channel}; last-id=2"})
        assert status == 200
        text = body.decode()
        assert "connected" not in text and "retry:" not in text
        assert f"id: {channel}:3\n" in text and '"text":"missed"' in text and text.count("\n\n") == 1
        assert plan_channel_of(headers) == f"{channel}; prev-id=3"
        assert link_of(headers).startswith(f"/api/plan/{plan_a.id}/stream/grip/")

    def test_next_link_needs_pushpins_signature_its_grip_last_and_a_valid_token(
        self, grip_settings, alice, org_a, plan_a, plan_b
    ) -> None:  # type: ignore[no-untyped-def]
        _s, first, _b = call_stream(
            f"/api/plan/{plan_a.id}/stream", {**auth(alice, org_a), "Grip-Sig": sig()}
        )
        link = link_of(first)
        last = {"Grip-Last": f"plan-{plan_a.id}; last-id=2"}
        assert call_stream(link, {"Grip-Sig": sig(), **last})[0] == 200
        # Not from Pushpin: a next link does not exist for clients.
        assert call_stream(link, last) == (404, ANY, b'{"detail": "Not found."}')
        # From Pushpin but without Grip-Last (a client request Pushpin forwarded): refused.
        assert call_stream(link, {"Grip-Sig": sig()})[0] == 401
        # A forged token, or one for another plan, is refused.
        forged = f"/api/plan/{plan_a.id}/stream/grip/forged"
        assert call_stream(forged, {"Grip-Sig": sig(), **last})[0] == 401
        other = link.replace(str(plan_a.id), str(plan_b.id), 1)
        assert call_stream(other, {"Grip-Sig": sig(), "Grip-Last": f"plan-{plan_b.id}; last-id=1"})[0] == 401

    def test_next_link_rechecks_access(self, grip_settings, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        _s, first, _b = call_stream(
            f"/api/plan/{plan_a.id}/stream", {**auth(alice, org_a), "Grip-Sig": sig()}
        )
        pushpin_headers = {"Grip-Sig": sig(), "Grip-Last": f"plan-{plan_a.id}; last-id=2"}
        Membership.objects.filter(user=alice, org=org_a).delete()
        status, headers, _body = call_stream(link_of(first), pushpin_headers)
        assert status == 403 and "grip-hold" not in headers
        alice.is_active = False
        alice.save()
        assert call_stream(link_of(first), pushpin_headers)[0] == 401


# --- live: real Pushpin in front of two daphne processes -----------------------------------------------
class Topology:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="aep-pushpin-test-"))
        self.publish_port = free_port()
        env = {
            "GRIP_URL": f"http://127.0.0.1:{self.publish_port}",
            "GRIP_KEY": KEY,
            "GRIP_NEXT_LINK_TIMEOUT": str(NEXT_LINK_TIMEOUT),
        }
        if os.environ.get("TEST_REDIS_URL"):
            env["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
        self.daphne_a = LiveServer(env_overrides=env)
        self.daphne_b = LiveServer(env_overrides=env)
        self.pushpin = PushpinProcess(
            self.workdir,
            free_port(),
            [self.daphne_a.port, self.daphne_b.port],
            publish_port=self.publish_port,
            key=KEY,
        )

    @property
    def url(self) -> str:
        return self.pushpin.url

    def ensure_running(self) -> Topology:
        for server in (self.daphne_a, self.daphne_b):
            if server.process is None or server.process.poll() is not None:
                server.start()
        if self.pushpin.process is None or self.pushpin.process.poll() is not None:
            self.pushpin.start()
        return self

    def stop(self) -> None:
        self.pushpin.stop()
        self.daphne_a.stop()
        self.daphne_b.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def _topology(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Topology]:
    topology = Topology()
    try:
        yield topology
    finally:
        topology.stop()


@pytest.fixture
def pushpin(transactional_db: Any, _topology: Topology) -> Topology:
    """Pushpin on a free port in front of daphne A and B (GRIP_URL/GRIP_KEY set in both)."""
    if not HAVE_PUSHPIN:
        pytest.skip("pushpin is not installed")
    return _topology.ensure_running()


def stream(base_url: str, plan_id, headers, query: str = "") -> SseStream:  # type: ignore[no-untyped-def]
    return SseStream(f"{base_url}/api/plan/{plan_id}/stream{query}", headers=headers)


@needs_pushpin
@pytest.mark.live
class TestThroughPushpin:
    def test_refusals_are_identical_to_direct(self, pushpin, alice, bob, carol, org_a, org_b, plan_a) -> None:  # type: ignore[no-untyped-def]
        cases = {
            401: {},
            400: {"Authorization": f"Token {token_for(alice)}"},
            403: auth(bob, org_a),
            404: auth(carol, org_b),
        }
        for status, headers in cases.items():
            with (
                stream(pushpin.daphne_a.url, plan_a.id, headers) as direct,
                stream(pushpin.url, plan_a.id, headers) as through,
            ):
                assert (through.status_code, direct.status_code) == (status, status)
                assert through.headers["content-type"] == "application/json"
                assert through.json_body() == direct.json_body()
        with stream(pushpin.url, uuid.uuid4(), auth(alice, org_a)) as missing:
            assert missing.status_code == 404 and missing.json_body() == {"detail": "Plan not found."}

    def test_connected_first_then_a_step_exactly_once(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        with stream(pushpin.url, plan_a.id, auth(alice, org_a)) as s:
            assert s.status_code == 200
            assert s.headers["content-type"].startswith("text/event-stream")
            assert not any(k.startswith("grip-") for k in s.headers)  # Pushpin consumed them
            first = s.next_event()
            assert first.json == {"type": "connected", "plan_id": str(plan_a.id)}
            assert first.id == f"plan-{plan_a.id}:2"
            step = post_step(pushpin.url, alice, org_a, plan_a.id, "Ship it")
            event = s.next_event(timeout=3)
            assert event.id == f"plan-{plan_a.id}:3"
            assert event.json == {
                "type": "step",
                "plan_id": str(plan_a.id),
                **step,
                "participants": ["alice", "Alice Archer", "bob"],
            }
            assert s.no_event(0.5)

    def test_last_event_id_replays_exactly_what_was_missed_then_live(
        self, pushpin, alice, org_a, plan_a
    ) -> None:  # type: ignore[no-untyped-def]
        for headers, query in (
            ({**auth(alice, org_a), "Last-Event-ID": f"plan-{plan_a.id}:1"}, ""),
            (
                {"Authorization": f"Token {token_for(alice)}"},
                f"?org={org_a.id}&lastEventId=plan-{plan_a.id}:1",
            ),
        ):
            with stream(pushpin.url, plan_a.id, headers, query) as s:
                connected, replayed = s.events(2)
                assert connected.json["type"] == "connected" and connected.id == f"plan-{plan_a.id}:1"
                assert replayed.json["text"] == "Write the migration"
                assert replayed.id == f"plan-{plan_a.id}:2"
                assert s.no_event(0.3)
        with stream(
            pushpin.url, plan_a.id, {**auth(alice, org_a), "Last-Event-ID": f"plan-{plan_a.id}:2"}
        ) as s:
            s.next_event()
            post_step(pushpin.url, alice, org_a, plan_a.id, "live one")
            assert texts([s.next_event(3)]) == ["live one"]
            assert s.no_event(0.5)

    def test_the_orgs_stream_through_pushpin(self, pushpin, alice, carol, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        """The org's channel is the caller's: held by Pushpin like a plan's, and replayed after
        its Last-Event-ID checked against the org's channel."""
        with SseStream(f"{pushpin.url}/api/org/stream", headers=auth(carol, org_a)) as s:
            assert s.status_code == 200
            first = s.next_event()
            assert first.json == {"type": "connected", "org_id": "org-a"}
            position = first.id
            post_step(pushpin.url, alice, org_a, plan_a.id, "News for the list")
            changed = s.next_event(timeout=3)
            assert changed.json["type"] == "plan_changed" and changed.json["plan"]["id"] == str(plan_a.id)
        replay_headers = {**auth(carol, org_a), "Last-Event-ID": position}
        with SseStream(f"{pushpin.url}/api/org/stream", headers=replay_headers) as s:
            connected, replayed = s.events(2, timeout=3)
            assert connected.json["type"] == "connected" and replayed.id == changed.id
        other_orgs = {**auth(carol, org_a), "Last-Event-ID": "org-org-b:1"}
        with SseStream(f"{pushpin.url}/api/org/stream", headers=other_orgs) as s:
            assert s.status_code == 400

    def test_the_page_variant_gets_step_html(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Token {token_for(alice)}"}
        with stream(pushpin.url, plan_a.id, headers, f"?org={org_a.id}&html=1") as s:
            assert s.next_event().json["type"] == "connected"
            post_step(pushpin.url, alice, org_a, plan_a.id, "Render <me>")
            message, html = s.events(2, timeout=3)
            assert message.event == "message" and message.json["text"] == "Render <me>"
            assert html.event == "step_html" and "Render &lt;me&gt;" in html.data
            assert html.id == message.id == f"plan-{plan_a.id}:3"
            assert s.no_event(0.5)

    def test_a_write_on_either_daphne_reaches_streams_held_by_pushpin(
        self, pushpin, alice, carol, org_a, plan_a
    ) -> None:  # type: ignore[no-untyped-def]
        with (
            stream(pushpin.url, plan_a.id, auth(alice, org_a)) as one,
            stream(pushpin.url, plan_a.id, auth(carol, org_a)) as two,
        ):
            one.next_event(), two.next_event()
            post_step(pushpin.daphne_a.url, alice, org_a, plan_a.id, "via A")
            post_step(pushpin.daphne_b.url, alice, org_a, plan_a.id, "via B")
            for s in (one, two):
                assert texts(s.events(2, timeout=3)) == ["via A", "via B"]
                assert s.no_event(0.3)

    def test_a_lost_publish_is_recovered_through_the_next_link(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        """A step written by this test process is never published (no GRIP_URL here): the next
        published step has a prev-id Pushpin did not see, so it fetches the hold's next link, which
        has no client credentials and authenticates with its signed token."""
        with (
            stream(pushpin.url, plan_a.id, auth(alice, org_a)) as plain,
            stream(
                pushpin.url,
                plan_a.id,
                {"Authorization": f"Token {token_for(alice)}"},
                f"?org={org_a.id}&html=1",
            ) as page,
        ):
            plain.next_event(), page.next_event()
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="unpublished")
            post_step(pushpin.url, alice, org_a, plan_a.id, "published")
            got = plain.events(2, timeout=2)
            assert [e.id for e in got] == [f"plan-{plan_a.id}:3", f"plan-{plan_a.id}:4"]
            assert texts(got) == ["unpublished", "published"]
            assert plain.no_event(0.5)
            html = page.events(4, timeout=2)
            assert [e.event for e in html] == ["message", "step_html", "message", "step_html"]
            assert "unpublished" in html[1].data and "published" in html[3].data
            assert page.no_event(0.3)

    def test_an_idle_stream_picks_up_an_unpublished_event(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        with stream(pushpin.url, plan_a.id, auth(alice, org_a)) as s:
            s.next_event()
            services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="quietly written")
            event = s.next_event(timeout=NEXT_LINK_TIMEOUT + 4)
            assert event.json["text"] == "quietly written" and event.id == f"plan-{plan_a.id}:3"
            assert s.no_event(0.5)

    def test_a_forged_grip_sig_gets_no_hold_instructions(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        headers = {**auth(alice, org_a), "Grip-Sig": sig(key="forged-key-of-the-same-length-0123456789")}
        with stream(pushpin.daphne_a.url, plan_a.id, headers) as s:
            assert s.status_code == 200
            assert not any(k.startswith("grip-") for k in s.headers)
            assert s.next_event().json["type"] == "connected"  # served directly, as today
            post_step(pushpin.daphne_a.url, alice, org_a, plan_a.id, "direct")
            assert texts([s.next_event(3)]) == ["direct"]

    def test_a_client_cannot_use_a_next_link(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        """Even a valid link (same SECRET_KEY as the servers) is useless to a client: Pushpin strips
        the Grip-Last header that marks its own next-link fetches, and daphne alone 404s it."""
        link = grip.next_link(
            stream_path=f"/api/plan/{plan_a.id}/stream",
            user_id=alice.pk,
            channel=f"plan-{plan_a.id}",
            org_id=org_a.id,
            html=False,
        )
        forged_last = {"Grip-Last": f"plan-{plan_a.id}; last-id=0"}
        with SseStream(f"{pushpin.url}{link}", headers=forged_last) as s:
            assert s.status_code == 401
        with SseStream(f"{pushpin.daphne_a.url}{link}", headers=forged_last) as s:
            assert s.status_code == 404

    def test_pages_and_api_work_through_pushpin(self, pushpin, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
        response = httpx.get(f"{pushpin.url}/api/plan/{plan_a.id}", headers=auth(alice, org_a))
        assert response.status_code == 200 and response.json()["title"] == "Auth service"
        assert httpx.get(f"{pushpin.url}/accounts/login/").status_code == 200


@pytest.mark.live
def test_a_step_is_saved_when_pushpin_is_down(live_daphne_factory, alice, org_a, plan_a) -> None:  # type: ignore[no-untyped-def]
    server = live_daphne_factory(GRIP_URL=f"http://127.0.0.1:{free_port()}", GRIP_KEY=KEY)
    with stream(server.url, plan_a.id, auth(alice, org_a)) as s:
        s.next_event()
        started = time.monotonic()
        post_step(server.url, alice, org_a, plan_a.id, "still saved")
        assert time.monotonic() - started < 2  # the publish runs in the background
        assert texts([s.next_event(3)]) == ["still saved"]  # direct streams are unaffected
    time.sleep(1.5)  # the publisher's retries
    assert re.search(
        r"GRIP publish of \d+ event\(s\)", server.log_path.read_text()
    )  # the plan's and the org's
