"""A small SSE client for tests: blocking (httpx) for a few streams, asyncio sockets for many."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def is_presence(self) -> bool:
        """A `presence` event (live.presence), or its page fragment: sent beside the stored events."""
        if self.event == "presence_html":
            return True
        return self.id is None and self.data.startswith('{"type":"presence"')


@dataclass
class SseParser:
    """Incremental parser for the SSE wire format (enough of the spec for our server)."""

    buffer: str = ""
    comments: list[str] = field(default_factory=list)

    def feed(self, text: str) -> list[SseEvent]:
        self.buffer += text.replace("\r\n", "\n")
        events = []
        while "\n\n" in self.buffer:
            block, self.buffer = self.buffer.split("\n\n", 1)
            event, data, seen = SseEvent(), [], False
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                    seen = True
                elif name == "event":
                    event.event = value
                elif name == "id":
                    event.id = value
            if seen:
                event.data = "\n".join(data)
                events.append(event)
        return events


class SseStream:
    """An open stream read with deadlines: `next_event(timeout)` or `events(n, timeout)`.

    Speaks HTTP/1.0 over a plain socket, so the body arrives unchunked and every read has a timeout.
    `presence` events are set aside in `presence_events` unless `presence=True` (they come and go
    with viewers, beside the stored events that most tests follow).
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None, presence: bool = False) -> None:
        self.keep_presence = presence
        self.presence_events: list[SseEvent] = []
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {path} HTTP/1.0", f"Host: {parts.netloc}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            raw += chunk
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status_code = int(status_line.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        self.parser = SseParser()
        self.pending: list[SseEvent] = []
        self.body = rest
        if self.status_code == 200:
            self._take(self.parser.feed(rest.decode()))

    def _take(self, events: list[SseEvent]) -> None:
        for event in events:
            if event.is_presence and not self.keep_presence:
                self.presence_events.append(event)
            else:
                self.pending.append(event)

    def json_body(self) -> Any:
        """The body of a refused (non-streaming) response."""
        self.sock.settimeout(5)
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.body += chunk
        return json.loads(self.body)

    def next_event(self, timeout: float = 5.0) -> SseEvent:
        deadline = time.monotonic() + timeout
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no event in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no event in time") from None
            if not chunk:
                raise ConnectionError("stream ended")
            self._take(self.parser.feed(chunk.decode()))
        return self.pending.pop(0)

    def events(self, count: int, timeout: float = 5.0) -> list[SseEvent]:
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.01, deadline - time.monotonic())) for _ in range(count)]

    def no_event(self, within: float) -> bool:
        """True when no event arrives within `within` seconds."""
        try:
            self.next_event(within)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def open_raw_stream(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[Any, Any]:
    """A bare asyncio SSE connection (cheap enough to hold a thousand in one test process)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"GET {path} HTTP/1.0", f"Host: {host}:{port}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    return reader, writer


async def read_until(reader: Any, needle: bytes, timeout: float) -> bytes:
    """Read from a raw stream until `needle` has been seen; returns everything read."""
    data = b""
    async with asyncio.timeout(timeout):
        while needle not in data:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError("stream closed")
            data += chunk
    return data


async def call_stream_app(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Call the stream ASGI app in process with one request (a disconnect follows at once);
    returns the status, the headers and the body it sent."""
    from live.stream import stream_app, stream_route

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", **request}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    route = stream_route(scope)
    assert route is not None, f"not a stream URL: {scope['path']}"
    await asyncio.wait_for(stream_app(scope, receive, send, route), timeout=20)
    start = sent[0]
    assert start["type"] == "http.response.start"
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], headers, body
