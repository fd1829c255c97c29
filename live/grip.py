"""GRIP (Pushpin) support for streams: request signatures, hold instructions, next links and
publishing. Everything here is idle unless GRIP_URL and GRIP_KEY are set (aep.settings).

How a stream works through Pushpin (`make run-pushpin`, README "Pushpin topology"):

1. The client's `GET /api/plan/{id}/stream` reaches daphne through Pushpin, which adds `Grip-Sig` (a
   JWT signed with GRIP_KEY). live.stream checks the caller exactly as for a direct stream, then
   answers with the first part of the stream (`retry:`, `connected`, the replay after
   Last-Event-ID) and hold instructions; Pushpin keeps the connection, daphne forgets it.
2. After each commit, `broadcast()` hands the event to `publisher`, a background thread that POSTs
   it to Pushpin's `/publish/` with `id` = event id and `prev-id` = id - 1, on the channel of JSON
   subscribers and on the one of page (`?html=1`) subscribers, whose bytes differ.
3. Reliable mode: the hold names the channel with `prev-id` = the last event sent. When Pushpin sees
   a publish whose prev-id is not the connection's last id (a lost or reordered publish), it fetches
   the hold's next link and writes what that returns. Pushpin sends that request with only
   `Grip-Sig` and `Grip-Last: <channel>; last-id=<n>`, none of the client's headers (checked on
   pushpin 1.36), so the link carries its own credentials: a token signed with SECRET_KEY naming the
   user, org, channel and variant, in the link's path (`/api/plan/<id>/stream/grip/<token>`). It is
   honoured only on a request signed by Pushpin that carries `Grip-Last`, which Pushpin strips from
   client requests: only Pushpin's own next-link fetches can use it, even if a link leaks (it never
   reaches clients, but access logs show it). Access is checked again on every use.
   The token is in the path, not the query, because Pushpin shares one origin request between
   connections whose next links have the same path and the same `Grip-Last` (it ignores the query):
   this way only identical requests (same user, org, channel, variant and position) are shared.
4. Pushpin also fetches the next link about 1 s after a channel's first subscriber connects (its own
   check for publishes missed while it subscribed), and after GRIP_NEXT_LINK_TIMEOUT on an idle
   connection (which also re-checks access and picks up an event whose publish was lost).
5. Revocation (aep.revocation): each held stream is also subscribed to channels named for its
   credential (`revoke~u<user>`, `revoke~u<user>~o<org>`, `revoke~t<token>` or `revoke~s<session>`);
   a revocation announced in any process publishes a `close` action on the matching one, and Pushpin
   ends those connections. An expiry announces nothing: it is caught at the next-link fetch (the
   link names the token, whose validity is checked again), within GRIP_NEXT_LINK_TIMEOUT.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import threading
import time
import urllib.request
from typing import Any

import jwt
from django.conf import settings
from django.core import signing

from aep import revocation
from live.hub import EncodedEvent
from live.storage import StoredEvent

logger = logging.getLogger(__name__)

HTML_CHANNEL_SUFFIX = "~html"
REVOKE_CHANNEL_PREFIX = "revoke~"
NEXT_LINK_SEGMENT = "grip"  # <stream path>/grip/<token>, as live.channels routes it
_LINK_SALT = "live.grip.next-link"
PUBLISH_TIMEOUT_SECONDS = 3.0
PUBLISH_BATCH = 200
PUBLISH_RETRIES = (0.2, 1.0)  # waits before the second and third attempt of a failed publish


def enabled() -> bool:
    return bool(settings.GRIP_URL and settings.GRIP_KEY)


def grip_channel(channel: str, html: bool) -> str:
    """Pushpin's channel for one channel and variant (page subscribers get other bytes)."""
    return channel + HTML_CHANNEL_SUFFIX if html else channel


# --- requests from Pushpin ------------------------------------------------------------------------
def valid_grip_sig(token: str, key: str | None = None) -> bool:
    """True when `token` (a Grip-Sig header) is a JWT signed with GRIP_KEY (HS256) and not expired.
    Anything else, including a missing key, is False: the request is then served directly."""
    key = settings.GRIP_KEY if key is None else key
    if not token or not key:
        return False
    try:
        jwt.decode(token, key.encode(), algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return False
    return True


def parse_grip_last(value: str) -> dict[str, str]:
    """`Grip-Last: chan-a; last-id=3, chan-b; last-id=7` -> {"chan-a": "3", "chan-b": "7"}."""
    result: dict[str, str] = {}
    for part in value.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        for param in params:
            key, _, val = param.partition("=")
            if name and key.strip() == "last-id":
                result[name] = val.strip().strip('"')
    return result


def make_next_token(
    *,
    user_id: int,
    channel: str,
    org_id: str,
    html: bool,
    token: int | None = None,
    session: str | None = None,
) -> str:
    """`token` (the API token's id, re-checked on every use of the link) or `session` (the session's
    revocation id: a hash, not the key) keep the stream's revocation channels across next links."""
    payload: dict[str, Any] = {"u": user_id, "c": channel, "o": org_id, "h": int(html)}
    if token is not None:
        payload["t"] = token
    elif session is not None:
        payload["s"] = session
    return signing.dumps(payload, salt=_LINK_SALT, compress=False)


def next_link(
    *,
    stream_path: str,
    user_id: int,
    channel: str,
    org_id: str,
    html: bool,
    token: int | None = None,
    session: str | None = None,
) -> str:
    """The next link of a stream at `stream_path` (the channel's own stream URL)."""
    claims = make_next_token(
        user_id=user_id, channel=channel, org_id=org_id, html=html, token=token, session=session
    )
    return f"{stream_path}/{NEXT_LINK_SEGMENT}/{claims}"


def revoke_channels(
    *, user: int, org: str, token: int | None = None, session: str | None = None
) -> list[str]:
    """The channels a held stream listens on for the revocation of its credential."""
    names = [f"u{user}", f"u{user}~o{org}"]
    if token is not None:
        names.append(f"t{token}")
    elif session is not None:
        names.append(f"s{session}")
    return [REVOKE_CHANNEL_PREFIX + name for name in names]


def revoke_channel(message: dict[str, Any]) -> str | None:
    """The one channel on which a revocation message reaches exactly the held streams it names."""
    if "token" in message:
        return f"{REVOKE_CHANNEL_PREFIX}t{message['token']}"
    if "session" in message:
        return f"{REVOKE_CHANNEL_PREFIX}s{message['session']}"
    if "user" in message and "org" in message:
        return f"{REVOKE_CHANNEL_PREFIX}u{message['user']}~o{message['org']}"
    if "user" in message:
        return f"{REVOKE_CHANNEL_PREFIX}u{message['user']}"
    return None


def close_held_streams(message: dict[str, Any]) -> None:
    """aep.revocation's listener: ask Pushpin to close the held streams a revocation names."""
    channel = revoke_channel(message)
    if enabled() and channel is not None:
        publisher.enqueue_item({"channel": channel, "formats": {"http-stream": {"action": "close"}}})


def read_next_token(token: str) -> dict[str, Any] | None:
    """The claims of a next-link token, or None when forged, malformed or older than
    GRIP_LINK_MAX_AGE."""
    try:
        claims = signing.loads(token, salt=_LINK_SALT, max_age=settings.GRIP_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    if not isinstance(claims, dict) or not {"u", "c", "o", "h"} <= claims.keys():
        return None
    return claims


def hold_headers(
    *,
    channel: str,
    html: bool,
    last_id: int,
    link: str,
    keepalive_seconds: float,
    revoke_on: list[str] | tuple[str, ...] = (),
) -> list[tuple[bytes, bytes]]:
    """GRIP instructions: hold the stream on the variant's channel from `last_id` (and on the
    `revoke_on` channels, where a `close` ends it), keep it alive, and fetch `link` on a gap and when
    idle for GRIP_NEXT_LINK_TIMEOUT (0: Pushpin's default, 120 s)."""
    link_header = f"<{link}>; rel=next"
    if settings.GRIP_NEXT_LINK_TIMEOUT > 0:
        link_header += f"; timeout={settings.GRIP_NEXT_LINK_TIMEOUT}"
    channels = ", ".join([f"{grip_channel(channel, html)}; prev-id={last_id}", *revoke_on])
    return [
        (b"grip-hold", b"stream"),
        (b"grip-channel", channels.encode()),
        (
            b"grip-keep-alive",
            f": keep-alive\\n\\n; format=cstring; timeout={int(keepalive_seconds)}".encode(),
        ),
        (b"grip-link", link_header.encode()),
    ]


# --- publishing -----------------------------------------------------------------------------------
def publish_items(event: StoredEvent) -> list[dict[str, Any]]:
    """Pushpin publish items for one event: the JSON channel and the page (html) channel."""
    encoded = EncodedEvent(event)
    ids = {"id": str(event.eid), "prev-id": str(event.eid - 1)}
    return [
        {
            "channel": grip_channel(event.channel, html),
            **ids,
            "formats": {"http-stream": {"content": encoded.encode(html).decode()}},
        }
        for html in (False, True)
    ]


class Publisher:
    """Publishes events to Pushpin from one background thread, so that a request never waits on
    Pushpin and a failed publish never fails a write (it is logged; Pushpin's reliable mode fetches
    what a connection missed on the next event, or after GRIP_NEXT_LINK_TIMEOUT).

    One thread and one FIFO keep each channel's ids in the order they were committed (a batch is
    also sorted per channel: two commits' callbacks may run in either order)."""

    def __init__(self) -> None:
        # (GRIP_URL, an event to publish, or a ready publish item such as a `close`)
        self._queue: collections.deque[tuple[str, StoredEvent | dict[str, Any]]] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy = False
        self.failures = 0

    def enqueue(self, event: StoredEvent | dict[str, Any]) -> None:
        with self._cond:
            self._queue.append((settings.GRIP_URL, event))
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="grip-publisher", daemon=True)
                self._thread.start()
            self._cond.notify()

    def enqueue_item(self, item: dict[str, Any]) -> None:
        """A publish item of its own (not an event), sent in order with the events."""
        self.enqueue(item)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued has been sent (or given up on). True when drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                url = self._queue[0][0]
                batch = []
                while self._queue and self._queue[0][0] == url and len(batch) < PUBLISH_BATCH:
                    batch.append(self._queue.popleft()[1])
                self._busy = True
            try:
                self._send(url, batch)
            except Exception:  # never let the thread die
                logger.exception("GRIP publish failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _send(self, base_url: str, batch: list[StoredEvent | dict[str, Any]]) -> None:
        events = sorted((e for e in batch if isinstance(e, StoredEvent)), key=lambda e: (e.channel, e.eid))
        items = [item for event in events for item in publish_items(event)]
        items += [e for e in batch if isinstance(e, dict)]
        body = json.dumps({"items": items}).encode()
        url = f"{base_url}/publish/"  # GRIP_URL, set by the operator
        for attempt, wait in enumerate((0.0, *PUBLISH_RETRIES)):
            if wait:
                time.sleep(wait)
            try:
                request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
                request.add_header("Content-Type", "application/json")
                with urllib.request.urlopen(request, timeout=PUBLISH_TIMEOUT_SECONDS) as response:  # noqa: S310
                    response.read()
                return
            except (OSError, ValueError) as exc:
                last_error = exc
                logger.debug("GRIP publish attempt %d failed: %s", attempt + 1, exc)
        self.failures += 1
        logger.warning(
            "GRIP publish of %d event(s) to %s failed: %s (streams recover on the next event)",
            len(batch),
            url,
            last_error,
        )


publisher = Publisher()
revocation.listen(close_held_streams)


@atexit.register
def _flush_at_exit() -> None:
    # A management command exits right after its write: let its events reach Pushpin first.
    if publisher._thread is not None:
        publisher.flush(timeout=PUBLISH_TIMEOUT_SECONDS)
