"""The live Server-Sent Events stream of one channel (`GET /api/plan/{id}/stream`, DESIGN 5).

A plain ASGI app that `aep.asgi` routes stream URLs to (live.channels knows them), in front of
Django. It replaces django-eventstream's view (keeping its event storage, ids and Redis message
format) because that view answers a denied channel with HTTP 200, sends its own first event, and
holds an OS thread and a database connection for every open stream. Here:

- the caller is authenticated and the org resolved by the API's own functions (aep.authentication,
  aep.tenancy), and the channel's app says whether that org may read it (live.channels); refusals
  are the API's JSON errors (401/400/403/404, 503 without a database), sent before any event;
- the database is used in two short calls (authorize, then replay) whose connection goes back to
  the pool at once; an open stream costs one coroutine and its inbox in `live.hub`;
- the first event is `connected`, whose `id:` is the position the stream starts from; then come the
  events after `Last-Event-ID` (header) or `?lastEventId=` (pages), then live events, in id order,
  none twice;
- `: keep-alive` comments every `STREAM_KEEPALIVE_SECONDS` keep idle connections open through proxies;
- the stream is registered with its credential (aep.revocation): when that access is revoked, or
  found gone by the hub's periodic re-check, the hub ends the stream and a reconnect is refused.

Behind Pushpin (GRIP_URL and GRIP_KEY set, request signed by Pushpin: see live.grip) the same checks
and the same first bytes are sent as one response with hold instructions, and Pushpin holds the
connection; this process keeps nothing open for it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError

from aep.authentication import authenticate_request
from aep.errors import error_response
from aep.metrics import plan_streams_open
from aep.revocation import credential_of, token_valid
from aep.tenancy import resolve_request_org
from live import grip, sse
from live.channels import ChannelType, Route, route
from live.hub import EncodedEvent, Subscriber, hub, run_db
from live.presence import Viewer, presence
from live.storage import ReplayGap, current_eid

logger = logging.getLogger(__name__)

REORDER_WAIT_SECONDS = 0.05
RETRY_MS = 2000
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]
INVALID_LINK = {"detail": "Invalid or expired stream link."}


class StreamDenied(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or []

    @classmethod
    def from_error(cls, exc: Exception) -> StreamDenied:
        """The API's answer to an error (aep.errors), as a refusal of the stream."""
        status, body, headers = error_response(exc)
        return cls(status, body, [(k.lower().encode(), v.encode()) for k, v in headers.items()])


@dataclass
class StreamRequest:
    """What a stream request asks for, read from the ASGI scope by Django's own request class."""

    request: ASGIRequest
    route: Route
    key: str | None  # the channel's key in its canonical form, None when malformed
    last_event_id: str | None
    html: bool

    @classmethod
    def from_scope(cls, scope: dict[str, Any], stream_route: Route) -> StreamRequest:
        request = ASGIRequest(scope, io.BytesIO())
        last = request.headers.get("last-event-id") or request.GET.get("lastEventId")
        return cls(
            request=request,
            route=stream_route,
            key=stream_route.channel_type.parse_key(stream_route.key),
            last_event_id=last,
            html=request.GET.get("html", "0") in ("1", "true"),
        )

    @property
    def channel_type(self) -> ChannelType:
        return self.route.channel_type

    @property
    def channel(self) -> str:
        return self.channel_type.channel(self.key or self.route.key)

    @property
    def grip_sig(self) -> str:
        return self.request.headers.get("grip-sig", "")

    @property
    def grip_last(self) -> str:
        return self.request.headers.get("grip-last", "")


def stream_route(scope: dict[str, Any]) -> Route | None:
    """The channel a request streams, or None for every other request."""
    return route(scope["path"]) if scope["type"] == "http" else None


def authorize(req: StreamRequest, wants_current: bool, user: Any = None) -> tuple[Any, Any, int]:
    """Check the caller may read the channel, as the API checks a request: the user, the org, then
    the channel's own rule. Returns (user, org, the channel's current event id when
    `wants_current`). `user` is given only for a GRIP next link, whose token names the user.
    Raises the API's errors (aep.errors maps them)."""
    request = req.request
    request.user = authenticate_request(request) if user is None else user
    org = resolve_request_org(request)
    req.key = req.channel_type.authorize(org, req.route.key)
    return request.user, org, current_eid(req.channel) if wants_current else 0


async def authorize_or_deny(
    req: StreamRequest, wants_current: bool, user: Any = None
) -> tuple[Any, Any, int]:
    try:
        return await run_db(authorize, req, wants_current, user)
    except DatabaseError as exc:
        logger.warning("stream refused: database unavailable", exc_info=True)
        raise StreamDenied.from_error(exc) from None
    except Exception as exc:
        denied = StreamDenied.from_error(exc)
        if denied.status >= 500:
            raise
        raise denied from None


async def _current_or_deny(channel: str) -> int:
    try:
        return await run_db(current_eid, channel)
    except DatabaseError as exc:
        raise StreamDenied.from_error(exc) from None


async def replay(req: StreamRequest, after: int, upto: int | None = None) -> AsyncIterator[tuple[bytes, int]]:
    """The stored events after `after` (up to `upto`, if given), a batch at a time, each with the
    id of its last event. Events no longer stored become a `reset` event at the current position:
    the client reloads, and what it reloads is complete in the app's tables."""
    last = after
    while upto is None or last < upto:
        try:
            events = await hub.fetch(req.channel, last)
        except ReplayGap:
            last = await run_db(current_eid, req.channel)
            yield control_frame(req, "reset", last), last
            return
        if not events:
            return
        last = events[-1].eid
        yield b"".join(EncodedEvent(e).encode(req.html) for e in events), last


def control_frame(req: StreamRequest, kind: str, eid: int, retry: bool = False) -> bytes:
    assert req.key is not None
    data = req.channel_type.control(kind, req.key)
    return sse.json_frame(data, id=sse.event_id(req.channel, eid), retry_ms=RETRY_MS if retry else None)


async def _send_json(send: Any, denied: StreamDenied) -> None:
    payload = json.dumps(denied.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": denied.status, "headers": headers + denied.headers})
    await send({"type": "http.response.body", "body": payload})


def _start_position(req: StreamRequest) -> int | None:
    """The position a Last-Event-ID names; 400 when it is not one of this channel's. A channel of
    the caller's org is known only once authorized: until then any channel's id of its type."""
    if not req.last_event_id:
        return None
    channel = req.channel if req.channel_type.keyed or req.key else None
    try:
        return sse.parse_last_event_id(req.last_event_id, channel, prefix=f"{req.channel_type.name}-")
    except ValueError as exc:
        raise StreamDenied(400, {"detail": f"Invalid Last-Event-ID: {exc}."}) from None


async def stream_app(scope: dict[str, Any], receive: Any, send: Any, stream_route: Route) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        detail = {"detail": f'Method "{scope["method"]}" not allowed.'}
        await _send_json(send, StreamDenied(405, detail, [(b"allow", b"GET")]))
        return
    try:
        try:
            req = StreamRequest.from_scope(scope, stream_route)
        except UnicodeDecodeError:  # as Django answers such a request
            raise StreamDenied(400, {"detail": "Bad request: the query string is not UTF-8."}) from None
        start = _start_position(req)
        if req.grip_sig and scope["method"] == "GET" and grip.enabled() and grip.valid_grip_sig(req.grip_sig):
            await _serve_grip(send, req, start)
            return
        if stream_route.grip_next:  # a next link is for Pushpin only
            raise StreamDenied(404, {"detail": "Not found."})
    except StreamDenied as denied:
        await _send_json(send, denied)
        return

    # Subscribe before reading the current id: an event committed in between is then in the inbox.
    # A channel named by the caller's org is known only once authorized: subscribe, then read it.
    keyed = req.channel_type.keyed
    subscriber = hub.subscribe(req.channel) if req.key is not None and keyed else None
    try:
        try:
            user, org, current = await authorize_or_deny(req, start is None and keyed)
            if not keyed:
                start = _start_position(req)  # now checked against the org's channel
                subscriber = hub.subscribe(req.channel)
                if start is None:
                    current = await _current_or_deny(req.channel)
            if hub.user_streams[user.pk] >= settings.MAX_STREAMS_PER_USER:
                raise StreamDenied(
                    429,
                    {"detail": f"Too many open streams (at most {settings.MAX_STREAMS_PER_USER} per user)."},
                    [(b"retry-after", b"5")],
                )
        except StreamDenied as denied:
            await _send_json(send, denied)
            return
        assert subscriber is not None  # a malformed key is refused by the channel's authorize
        subscriber.credential = credential_of(req.request, user, org.id)
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        plan_streams_open.inc()
        hub.user_streams[user.pk] += 1
        try:
            viewer = _viewer(user) if req.channel_type.presence else None
            await _serve(receive, send, req, subscriber, start, current, viewer)
        finally:
            plan_streams_open.dec()
            hub.user_streams[user.pk] -= 1
            if hub.user_streams[user.pk] <= 0:
                del hub.user_streams[user.pk]
    finally:
        if subscriber is not None:
            hub.unsubscribe(subscriber)


class _Stream:
    """One open direct stream: writes events to the client in id order, none twice, none missing."""

    def __init__(self, send: Any, req: StreamRequest, subscriber: Subscriber) -> None:
        self.send = send
        self.req = req
        self.subscriber = subscriber

    async def write(self, body: bytes) -> None:
        await self.send({"type": "http.response.body", "body": body, "more_body": True})

    async def catch_up(self, upto: int | None = None) -> None:
        async for body, last in replay(self.req, self.subscriber.last_sent, upto):
            self.subscriber.last_sent = last
            await self.write(body)

    async def flush_inbox(self) -> None:
        """Write the inbox in id order. An id missing before any of its events (usually a publish
        a moment behind, from another process) is waited for briefly, then read from storage: an
        event is never written out of order, and never dropped for arriving after a gap."""
        sub = self.subscriber
        items = _after(sub.take(), sub.last_sent)
        if not _follows(items, sub.last_sent):
            await asyncio.sleep(REORDER_WAIT_SECONDS)
            items = _after(items + sub.take(), sub.last_sent)
            if not _follows(items, sub.last_sent):
                await self.catch_up(upto=items[-1].eid)
                items = _after(items + sub.take(), sub.last_sent)
        chunks = []
        for position, item in enumerate(items):
            if item.eid != sub.last_sent + 1:  # a gap that opened meanwhile: the next round fills it
                sub.inbox[:0] = items[position:]
                sub.wake()
                break
            chunks.append(item.encode(self.req.html))
            sub.last_sent = item.eid
        if chunks:
            await self.write(b"".join(chunks))


def _after(items: list[EncodedEvent], last_sent: int) -> list[EncodedEvent]:
    """`items` after `last_sent`, each id once, in id order."""
    return sorted({item.eid: item for item in items if item.eid > last_sent}.values(), key=lambda i: i.eid)


def _follows(items: list[EncodedEvent], last_sent: int) -> bool:
    """Whether `items` (in id order, no repeats) continue `last_sent` without a gap."""
    return not items or items[-1].eid - last_sent == len(items)


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _end_response(send: Any, sub: Subscriber) -> None:
    """Finish the response of a stream whose access was revoked, once a write the hub started is
    done (ASGI sends of one response must not overlap). The client's reconnect is then refused."""
    for _ in range(100):
        if not sub.busy:
            break
        await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _viewer(user: Any) -> Viewer:
    return Viewer(user.pk, user.get_username(), user.get_full_name() or user.get_username())


async def _serve(
    receive: Any,
    send: Any,
    req: StreamRequest,
    sub: Subscriber,
    start: int | None,
    current: int,
    viewer: Viewer | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stream = _Stream(send, req, sub)
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    sub.busy += 1  # until caught up, events wait in the inbox
    joined = False
    try:
        sub.last_sent = current if start is None else start
        await stream.write(control_frame(req, "connected", sub.last_sent, retry=True))
        if start is not None:
            await stream.catch_up()
        if viewer is not None:  # who is here, right after `connected` (and what was missed)
            viewers = await presence.join(req.channel, viewer)
            joined = sub.presence = True
            sub.html = req.html
            sub.notify(presence.notice(req.channel, viewers))
            notice = sub.take_notice()
            if notice is not None:
                await stream.write(notice)
        sub.busy -= 1
        while not disconnected.done() and not sub.ended:
            # From here on the hub writes in-order events itself; this loop handles the rest.
            sub.html, sub.sender = req.html, send
            await sub.wait(loop, disconnected, settings.STREAM_KEEPALIVE_SECONDS)
            if disconnected.done() or sub.ended:
                break
            if sub.busy:
                continue
            sub.busy += 1
            try:
                notice = sub.take_notice()
                if sub.inbox:
                    await stream.flush_inbox()
                elif notice is None:
                    await stream.write(sse.KEEPALIVE)
                if notice is not None:
                    await stream.write(notice)
            finally:
                sub.busy -= 1
        if sub.ended and not disconnected.done():
            await _end_response(send, sub)
    except OSError:
        pass  # the client went away mid-write
    except DatabaseError:
        # Storage is unreachable mid-stream: end the stream; the client reconnects with its
        # Last-Event-ID and gets a 503 until the database is back, then everything it missed.
        logger.warning("stream ended: database unavailable", exc_info=True)
    finally:
        if not disconnected.done():
            disconnected.cancel()
        if joined:
            assert viewer is not None
            await presence.leave(req.channel, viewer)


# --- Behind Pushpin (GRIP) ---------------------------------------------------------------------------
def _next_link_user(claims: dict[str, Any]) -> Any:
    """The user a next link names; refused when inactive, or when the link names an API token
    that was revoked or has expired since (the org is checked by `authorize` next)."""
    user = get_user_model()._default_manager.filter(pk=claims["u"], is_active=True).first()
    if user is None:
        raise StreamDenied(401, INVALID_LINK)
    if "t" in claims and not token_valid(token=claims["t"], user=user.pk):
        raise StreamDenied(401, INVALID_LINK)
    return user


async def _serve_grip(send: Any, req: StreamRequest, start: int | None) -> None:
    """A stream request forwarded by Pushpin: the same refusals as a direct stream, or the stream's
    first bytes with hold instructions (live.grip); Pushpin then holds the connection.

    A next-link request (Pushpin recovering a connection after a gap) carries a signed token
    instead of the client's credentials and its position in `Grip-Last`; it gets the missed events
    and fresh instructions. The per-user cap on open streams (429) is not applied here: this
    process does not hold these streams."""
    user = None
    is_next_link = bool(req.route.grip_next)
    if is_next_link:
        # Grip-Last proves Pushpin's own next-link fetch: Pushpin strips it from client requests.
        claims = grip.read_next_token(req.route.grip_next) if req.grip_last else None
        if claims is not None and not req.channel_type.keyed:
            req.key = str(claims["o"])  # a channel of the caller's org: its key is the org's id
        if claims is None or req.key is None or claims["c"] != req.channel:
            raise StreamDenied(401, INVALID_LINK)
        req.request.META["HTTP_X_ORG_ID"] = claims["o"]  # the org the link was issued for
        req.html = bool(claims["h"])
        last = grip.parse_grip_last(req.grip_last).get(grip.grip_channel(req.channel, req.html), "")
        start = int(last) if last.isdigit() else None
        try:
            user = await run_db(_next_link_user, claims)
        except DatabaseError as exc:
            raise StreamDenied.from_error(exc) from None
    user, org, current = await authorize_or_deny(req, start is None, user)
    if not req.channel_type.keyed and not is_next_link:
        start = _start_position(req)  # now checked against the org's channel
        if start is None:
            current = await _current_or_deny(req.channel)
    if is_next_link:  # the credential the link carries (see live.grip.make_next_token)
        token, session = claims.get("t"), claims.get("s")
    else:
        credential = credential_of(req.request, user, org.id)
        token, session = credential.token, credential.session
    last_id = current if start is None else start
    chunks = [] if is_next_link else [control_frame(req, "connected", last_id, retry=True)]
    if start is not None:
        try:
            async for body, replayed_to in replay(req, start):
                chunks.append(body)
                last_id = replayed_to
        except DatabaseError as exc:
            raise StreamDenied.from_error(exc) from None
    body = b"".join(chunks)
    link = grip.next_link(
        stream_path=req.channel_type.path(req.key or ""),
        user_id=user.pk,
        channel=req.channel,
        org_id=org.id,
        html=req.html,
        token=token,
        session=session,
    )
    headers = grip.hold_headers(
        channel=req.channel,
        html=req.html,
        last_id=last_id,
        link=link,
        keepalive_seconds=settings.STREAM_KEEPALIVE_SECONDS,
        revoke_on=grip.revoke_channels(user=user.pk, org=org.id, token=token, session=session),
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
