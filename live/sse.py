"""Server-Sent Events framing and ids: the one place the bytes of an event are written.

A leaf module (no Django, nothing of this project): every frame a stream sends, whether written by
the hub, replayed from storage or handed to Pushpin, comes from `frame()`, so they cannot differ.
"""

from __future__ import annotations

import json
import re
from typing import Any

# SSE ends a line at CR, LF or CRLF, and only there (U+2028 and the other Unicode line separators
# are text): `str.splitlines()` would split on those too and change what a client reassembles.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ID_PART = re.compile(r"^(?:(?P<channel>[^:,]+):)?(?P<eid>\d{1,18})$")
KEEPALIVE = b": keep-alive\n\n"


def event_id(channel: str, eid: int) -> str:
    """The SSE `id:` of event `eid` of `channel`, in django-eventstream's format `<channel>:<n>`."""
    return f"{channel}:{eid}"


def parse_last_event_id(value: str, channel: str | None, prefix: str = "") -> int | None:
    """The event number in a Last-Event-ID for `channel`. Accepts `<channel>:<n>`, a bare `<n>`, or
    django-eventstream's multi-channel list `a:1,b:2`. None for an empty value; ValueError when
    malformed or when it names only other channels. With `channel` None, any channel whose name
    starts with `prefix` is taken (the caller checks the channel once it knows it)."""
    value = value.strip()
    if not value:
        return None
    for part in value.split(","):
        match = _ID_PART.match(part.strip())
        if match is None:
            raise ValueError("malformed Last-Event-ID")
        named = match["channel"]
        if named is None or named == channel or (channel is None and named.startswith(prefix)):
            return int(match["eid"])
    raise ValueError("Last-Event-ID is for another channel")


def encode_json(data: Any) -> str:
    """An event's data as sent: compact JSON, non-ASCII text as it is."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def frame(
    data: str, *, id: str | None = None, event: str | None = None, retry_ms: int | None = None
) -> bytes:
    """One SSE event. Data with line breaks becomes several `data:` lines, which the client joins
    back with LF."""
    head = ""
    if retry_ms is not None:
        head += f"retry: {retry_ms}\n"
    if id is not None:
        head += f"id: {id}\n"
    if event is not None:
        head += f"event: {event}\n"
    lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return f"{head}{lines}\n".encode()


def json_frame(data: Any, *, id: str | None = None, retry_ms: int | None = None) -> bytes:
    """A default (`message`) event carrying `data` as JSON."""
    return frame(encode_json(data), id=id, retry_ms=retry_ms)
