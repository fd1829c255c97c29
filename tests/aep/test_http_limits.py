"""aep.http_limits at the connection, against the real servers `make run` starts (aep.daphne_server,
aep.uvicorn_protocol, through ops.processes): huge bodies are refused before they are read and the
server's memory does not grow by them; slow clients are cut off; live streams are not (DESIGN 14).

Found by an attacker's review (issue 19): a POST announcing 1.5 GB got its 413 only once all of it was
sent and daphne grew from 152 MB to 1.6 GB; 5,000 connections sending a header line every 20 s all
stayed open.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import token_for
from tests.servers import LiveServer
from tests.sse import SseStream

pytestmark = pytest.mark.live

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
LIMITS = {
    "HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "HTTP_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "STREAM_KEEPALIVE_SECONDS": "0.5",
}
MiB = 1024 * 1024


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request: Any, django_db_setup: Any, django_db_blocker: Any) -> Iterator[LiveServer]:
    live = LiveServer(env_overrides=LIMITS, server=request.param).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def live(server: LiveServer, transactional_db: Any) -> LiveServer:
    if not server.running():
        server.start()
    return server


def peak_rss(live: LiveServer) -> int:
    """The server process' peak resident memory so far (VmHWM), in bytes."""
    assert live.process is not None
    for line in Path(f"/proc/{live.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def connect(live: LiveServer, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=timeout)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    return sock


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (Content-Length framed); (0, {}, b"") when the
    server closed without answering."""
    sock.settimeout(timeout)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, raw
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes the connection (after an optional answer) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


def send_until_refused(sock: socket.socket, total: int, chunk: bytes, seconds: float) -> int:
    """Send up to `total` bytes of `chunk`s; stop when the server stops taking them (closed, reset,
    or no progress for a second) or after `seconds`. Returns the bytes the kernel accepted."""
    sock.settimeout(1.0)
    sent, deadline = 0, time.monotonic() + seconds
    while sent < total and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except (TimeoutError, OSError):
            break
    return sent


def post_head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class TestHugeBodies:
    def test_an_announced_huge_body_is_refused_before_it_is_read(self, live):
        before = peak_rss(live)
        with connect(live) as sock:
            sock.sendall(post_head("/api/plan/start", Content_Length="1500000000"))
            started = time.monotonic()
            status, headers, body = read_response(sock, timeout=5)
            answered = time.monotonic() - started
            sent = send_until_refused(sock, 1500 * MiB, b"x" * 65536, seconds=10)
        grown = peak_rss(live) - before
        print(f"\n{live.server} 1.5 GB announced: {status} after {answered:.3f} s, ", end="")
        print(f"{sent / MiB:.1f} MiB sent, +{grown / MiB:.1f} MiB")
        assert status == 413, (status, sent, grown)
        assert answered < 1.0
        assert "too large" in json.loads(body)["detail"]
        assert headers["connection"].lower() == "close"
        assert sent < 32 * MiB  # what socket buffers take; the server reads none of it
        assert grown < 20 * MiB

    def test_the_same_with_expect_100_continue_gets_no_100(self, live):
        with connect(live) as sock:
            sock.sendall(post_head("/api/plan/start", Content_Length="1500000000", Expect="100-continue"))
            status, _, _ = read_response(sock, timeout=5)
        assert status == 413

    def test_a_chunked_body_is_stopped_at_the_limit(self, live):
        """No Content-Length: the server counts what arrives and stops at MAX_REQUEST_BODY_BYTES."""
        before = peak_rss(live)
        piece = b"x" * 65536
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        with connect(live) as sock:
            sock.sendall(post_head("/api/plan/start", Transfer_Encoding="chunked"))
            sent = send_until_refused(sock, 1024 * MiB, chunk, seconds=20)
            status, _, body = read_response(sock, timeout=5)
        grown = peak_rss(live) - before
        print(f"\n{live.server} chunked: {status}, {sent / MiB:.1f} MiB sent, +{grown / MiB:.1f} MiB")
        assert status == 413, (status, sent, grown)
        assert "too large" in json.loads(body)["detail"]
        assert sent < 48 * MiB
        assert grown < 20 * MiB

    def test_a_body_within_the_limit_is_served(self, live, alice, org_a):
        body = json.dumps({"title": "x" * 200, "description": "d" * 1500}).encode()
        headers = {"Authorization": f"Token {token_for(alice)}", "X-Org-Id": org_a.id}
        with connect(live) as sock:
            sock.sendall(post_head("/api/plan/start", Content_Length=str(len(body)), **headers))
            sock.sendall(body)
            status, _, answer = read_response(sock, timeout=5)
        assert status == 200, answer
        assert json.loads(answer)["status"] == "started"

    def test_the_login_page_answers_during_a_huge_upload(self, live):
        with connect(live) as attacker:
            attacker.sendall(post_head("/api/plan/start", Transfer_Encoding="chunked"))
            attacker.sendall(b"10000\r\n" + b"x" * 65536)
            started = time.monotonic()
            with connect(live) as sock:
                sock.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                status, _, _ = read_response(sock, timeout=5)
            assert status == 200
            assert time.monotonic() - started < 1.0


class TestSlowClients:
    def test_a_client_sending_a_header_line_now_and_then_is_cut_off(self, live):
        sockets = [connect(live) for _ in range(50)]
        try:
            for sock in sockets:
                sock.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(4):  # a header line every 0.5 s: each resets an idle timeout
                time.sleep(0.5)
                for sock in sockets:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X-Slow: 1\r\n")
            statuses = [read_response(sock, timeout=HEADER_TIMEOUT + 2)[0] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        assert set(statuses) == {408}

    def test_a_connection_that_sends_nothing_is_closed(self, live):
        with connect(live) as sock:
            assert closed_by_server(sock, HEADER_TIMEOUT + 1.5)

    def test_a_request_line_dribbled_byte_by_byte_is_cut_off(self, live):
        with connect(live) as sock:
            started = time.monotonic()
            for byte in b"GET /accounts/login/ HTTP/1.1\r\n":
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                if time.monotonic() - started > HEADER_TIMEOUT + 1:
                    break
                time.sleep(0.2)
            assert closed_by_server(sock, 2.0)
            assert time.monotonic() - started < HEADER_TIMEOUT + 2.5

    def test_a_slow_body_is_cut_off_with_408(self, live):
        with connect(live) as sock:
            sock.sendall(post_head("/api/plan/start", Content_Length="1000"))
            for _ in range(int(BODY_TIMEOUT / 0.25) + 4):
                try:
                    sock.sendall(b"x")
                except OSError:
                    break
                time.sleep(0.25)
            status, _, body = read_response(sock, timeout=3)
        assert status == 408
        assert "detail" in json.loads(body)

    def test_headers_too_large_are_refused(self, live):
        with connect(live) as sock:
            sock.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with contextlib.suppress(OSError):
                for _ in range(64):
                    sock.sendall(b"X-Big: " + b"y" * 1024 + b"\r\n")
            status, _, _ = read_response(sock, timeout=3)
        assert status in (0, 400, 431)  # refused (Twisted answers 400 and closes)

    def test_keep_alive_still_works_within_the_timeout(self, live):
        with connect(live) as sock:
            for _ in range(3):
                sock.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                status, _, _ = read_response(sock, timeout=5)
                assert status == 200
                time.sleep(HEADER_TIMEOUT / 3)

    def test_an_open_stream_outlives_every_timeout(self, live, alice, org_a, plan_a):
        headers = {"Authorization": f"Token {token_for(alice)}", "X-Org-Id": org_a.id}
        with SseStream(f"{live.url}/api/plan/{plan_a.id}/stream", headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.next_event().json["type"] == "connected"
            time.sleep(HEADER_TIMEOUT + BODY_TIMEOUT + 1)
            assert stream.no_event(0.5)  # nothing but keep-alives, and still open
            assert len(stream.parser.comments) >= 3, stream.parser.comments
