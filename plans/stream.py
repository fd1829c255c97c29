"""`GET /api/plan/{id}/stream`: the live Server-Sent Events stream of one plan (DESIGN 5).

This is a plain ASGI app that `aep.asgi` routes stream requests to, in front of Django. It replaces
django-eventstream's view (keeping its event storage, ids and Redis message format) because that
view answers a denied channel with HTTP 200, sends its own first event, and holds an OS thread and a
database connection for every open stream. Here:

- authentication (token header, or the session cookie of the pages) and org scoping are the API's
  (aep.tenancy, plans.selectors), answered as 401/400/403/404 JSON before any event is sent;
- the database is used in two short calls (authorize, then replay) whose connection goes back to
  the pool at once; an open stream costs one coroutine and its inbox in `plans.hub`;
- the first event is `connected`, whose `id:` is the position the stream starts from; then come the
  events after `Last-Event-ID` (header) or `?lastEventId=` (pages), then live events, in id order,
  none twice;
- `: keep-alive` comments every `STREAM_KEEPALIVE_SECONDS` keep idle connections open through proxies.

Behind Pushpin (GRIP_URL and GRIP_KEY set, request signed by Pushpin: see plans.grip) the same checks
and the same first bytes are sent as one response with hold instructions, and Pushpin holds the
connection; this process keeps nothing open for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import DatabaseError
from rest_framework import exceptions

from aep.errors import ServiceUnavailable
from aep.metrics import plan_streams_open
from plans import grip
from plans.event_storage import ReplayGap, current_eid, events_after
from plans.events import parse_last_event_id, plan_channel, sse_id
from plans.hub import EncodedEvent, Subscriber, hub, run_db

logger = logging.getLogger(__name__)

# The optional `/grip/<token>` suffix is a GRIP next link (plans.grip), served only to Pushpin.
STREAM_PATH = re.compile(r"^/api/plan/(?P<plan_id>[^/]+)/stream(?:/grip/(?P<grip_next>[^/]+))?/?$")
KEEPALIVE_SECONDS = float(os.environ.get("STREAM_KEEPALIVE_SECONDS", "15"))
REORDER_WAIT_SECONDS = 0.05
RETRY_MS = 2000
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]


class StreamDenied(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or []


@dataclass
class StreamRequest:
    plan_id: str
    authorization: str
    session_key: str
    org_id: str | None
    last_event_id: str | None
    html: bool
    grip_sig: str = ""  # set by Pushpin (plans.grip); "" on direct requests
    grip_last: str = ""
    grip_next: str = ""  # the token of a next link (path suffix)

    @classmethod
    def from_scope(cls, scope: dict[str, Any], plan_id: str) -> StreamRequest:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookies = SimpleCookie()
        with contextlib.suppress(Exception):  # a malformed cookie header is as good as none
            cookies.load(headers.get("cookie", ""))
        session = cookies.get(settings.SESSION_COOKIE_NAME)
        org = (headers.get("x-org-id") or (query.get("org") or [""])[0]).strip() or None
        last = headers.get("last-event-id") or (query.get("lastEventId") or [None])[0]
        return cls(
            plan_id=plan_id,
            authorization=headers.get("authorization", ""),
            session_key=session.value if session else "",
            org_id=org,
            last_event_id=last,
            html=(query.get("html") or ["0"])[0] in ("1", "true"),
            grip_sig=headers.get("grip-sig", ""),
            grip_last=headers.get("grip-last", ""),
        )


def _user_from_session(session_key: str) -> Any:
    from importlib import import_module

    from django.contrib.auth import get_user
    from django.http import HttpRequest

    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(request)


def _authenticate(req: StreamRequest) -> Any:
    from aep.authentication import TokenOrBearerAuthentication

    if req.authorization:
        try:
            result = TokenOrBearerAuthentication().authenticate_header_value(
                req.authorization.encode("latin-1"), req.org_id
            )
        except exceptions.AuthenticationFailed as exc:
            raise StreamDenied(401, {"detail": str(exc.detail)}, [(b"www-authenticate", b"Token")]) from None
        if result is not None:
            return result[0]
    if req.session_key:
        user = _user_from_session(req.session_key)
        if user.is_authenticated:
            return user
    raise StreamDenied(
        401, {"detail": "Authentication credentials were not provided."}, [(b"www-authenticate", b"Token")]
    )


def authorize(req: StreamRequest, wants_current: bool, user: Any = None) -> tuple[int, int]:
    """Check the caller may read the plan, as the API does. Returns the user's id and the channel's
    current event id (when `wants_current`) so that a new stream starts from there. Raises
    StreamDenied. `user` is given only for a GRIP next link, whose token names the user."""
    from aep.errors import NotFound
    from aep.tenancy import OrgRequired, org_for_user
    from plans.selectors import get_plan

    if user is None:
        user = _authenticate(req)
    if req.org_id is None:
        raise StreamDenied(400, {"detail": OrgRequired.default_detail})
    org = org_for_user(user, req.org_id)
    if org is None:
        raise StreamDenied(403, {"detail": "You are not a member of this organisation."})
    try:
        plan = get_plan(org=org, plan_id=req.plan_id)
    except NotFound:
        raise StreamDenied(404, {"detail": "Plan not found."}) from None
    return user.pk, current_eid(plan_channel(plan.id)) if wants_current else 0


async def _send_json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _control_event(channel: str, eid: int, data: dict[str, Any]) -> bytes:
    return f"id: {sse_id(channel, eid)}\ndata: {json.dumps(data)}\n\n".encode()


class PlanStream:
    """One open stream: writes events to the client in id order, none twice, none missing."""

    def __init__(self, send: Any, subscriber: Subscriber, plan_id: str, html: bool) -> None:
        self.send = send
        self.subscriber = subscriber
        self.channel = subscriber.channel
        self.plan_id = plan_id
        self.html = html

    async def write(self, body: bytes) -> None:
        await self.send({"type": "http.response.body", "body": body, "more_body": True})

    async def catch_up(self, upto: int | None = None) -> None:
        """Write stored events after `last_sent` (up to `upto`, if given). A trimmed gap becomes a
        `reset` event: the client reloads the plan, which is complete in the database."""
        sub = self.subscriber
        while upto is None or sub.last_sent < upto:
            try:
                events = await hub.fetch(self.channel, sub.last_sent)
            except ReplayGap:
                current = await run_db(current_eid, self.channel)
                sub.last_sent = current
                await self.write(
                    _control_event(self.channel, current, {"type": "reset", "plan_id": self.plan_id})
                )
                return
            if not events:
                return
            body = b"".join(EncodedEvent(e).encode(self.html) for e in events)
            sub.last_sent = events[-1].eid
            await self.write(body)

    async def flush_inbox(self) -> None:
        sub = self.subscriber
        items = [item for item in sub.take() if item.eid > sub.last_sent]
        if items and items[0].eid != sub.last_sent + 1:
            # An id is missing: usually a publish that is a moment behind. Wait briefly, then read
            # what is still missing from storage.
            await asyncio.sleep(REORDER_WAIT_SECONDS)
            items = sorted({i.eid: i for i in items + sub.take()}.values(), key=lambda i: i.eid)
            items = [item for item in items if item.eid > sub.last_sent]
            if items and items[0].eid != sub.last_sent + 1:
                await self.catch_up(upto=items[-1].eid)
                items = [item for item in items if item.eid > sub.last_sent]
        chunks = []
        for item in items:
            if item.eid == sub.last_sent + 1:
                chunks.append(item.encode(self.html))
                sub.last_sent = item.eid
        if chunks:
            await self.write(b"".join(chunks))


async def plan_stream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    match = STREAM_PATH.match(scope["path"])
    assert match is not None
    if scope["method"] not in ("GET", "HEAD"):
        await _send_json(
            send, 405, {"detail": f'Method "{scope["method"]}" not allowed.'}, [(b"allow", b"GET")]
        )
        return
    req = StreamRequest.from_scope(scope, match["plan_id"])
    req.grip_next = match["grip_next"] or ""
    try:
        plan_uuid = str(uuid.UUID(req.plan_id))
    except ValueError:
        plan_uuid = None

    start: int | None = None
    if req.last_event_id:
        try:
            start = parse_last_event_id(req.last_event_id, plan_channel(plan_uuid or req.plan_id))
        except ValueError as exc:
            await _send_json(send, 400, {"detail": f"Invalid Last-Event-ID: {exc}."}, [])
            return

    if req.grip_sig and scope["method"] == "GET" and grip.enabled() and grip.valid_grip_sig(req.grip_sig):
        await _serve_grip(send, req, plan_uuid, start)
        return
    if req.grip_next:  # a next link is for Pushpin only
        await _send_json(send, 404, {"detail": "Not found."}, [])
        return

    # Subscribe before reading the current id: an event committed in between is then in the inbox.
    subscriber = hub.subscribe(plan_channel(plan_uuid)) if plan_uuid else None
    try:
        try:
            try:
                user_id, current = await run_db(authorize, req, start is None)
            except DatabaseError:
                logger.warning("stream refused: database unavailable", exc_info=True)
                raise StreamDenied(
                    503, {"detail": ServiceUnavailable.default_detail}, [(b"retry-after", b"5")]
                ) from None
            if hub.user_streams[user_id] >= settings.MAX_STREAMS_PER_USER:
                raise StreamDenied(
                    429,
                    {"detail": f"Too many open streams (at most {settings.MAX_STREAMS_PER_USER} per user)."},
                    [(b"retry-after", b"5")],
                )
        except StreamDenied as denied:
            await _send_json(send, denied.status, denied.body, denied.headers)
            return
        assert subscriber is not None
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": SSE_HEADERS,
            }
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        plan_streams_open.inc()
        hub.user_streams[user_id] += 1
        try:
            await _serve(receive, PlanStream(send, subscriber, plan_uuid, req.html), start, current)
        finally:
            plan_streams_open.dec()
            hub.user_streams[user_id] -= 1
            if hub.user_streams[user_id] <= 0:
                del hub.user_streams[user_id]
    finally:
        if subscriber is not None:
            hub.unsubscribe(subscriber)


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _serve(receive: Any, stream: PlanStream, start: int | None, current: int) -> None:
    loop = asyncio.get_running_loop()
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    sub = stream.subscriber
    sub.busy += 1  # until caught up, events wait in the inbox
    try:
        sub.last_sent = current if start is None else start
        await stream.write(
            f"retry: {RETRY_MS}\n".encode()
            + _control_event(stream.channel, sub.last_sent, {"type": "connected", "plan_id": stream.plan_id})
        )
        if start is not None:
            await stream.catch_up()
        sub.busy -= 1
        while not disconnected.done():
            # From here on the hub writes in-order events itself; this loop handles the rest.
            sub.html, sub.sender = stream.html, stream.send
            await sub.wait(loop, disconnected, KEEPALIVE_SECONDS)
            if disconnected.done():
                break
            if sub.busy:
                continue
            sub.busy += 1
            try:
                if sub.inbox:
                    await stream.flush_inbox()
                else:
                    await stream.write(b": keep-alive\n\n")
            finally:
                sub.busy -= 1
    except OSError:
        pass  # the client went away mid-write
    except DatabaseError:
        # Storage is unreachable mid-stream: end the stream; the client reconnects with its
        # Last-Event-ID and gets a 503 until the database is back, then everything it missed.
        logger.warning("stream ended: database unavailable", exc_info=True)
    finally:
        if not disconnected.done():
            disconnected.cancel()


# --- Behind Pushpin (GRIP) ---------------------------------------------------------------------------
def _grip_body(
    req: StreamRequest, plan_uuid: str | None, start: int | None, link_user_id: int | None
) -> tuple[int, int, bytes]:
    """Authorize (as a direct stream does) and read the replay, in one trip to the executor.
    Returns the user's id, the id of the last event in the body, and the body."""
    user = None
    if link_user_id is not None:
        from django.contrib.auth import get_user_model

        user = get_user_model()._default_manager.filter(pk=link_user_id, is_active=True).first()
        if user is None:
            raise StreamDenied(401, {"detail": "Invalid or expired stream link."})
    user_id, current = authorize(req, start is None, user=user)
    assert plan_uuid is not None  # authorize() refuses a malformed plan id with 404
    channel = plan_channel(plan_uuid)
    last = current if start is None else start
    chunks = []
    if link_user_id is None:  # a new connection; a next link continues one
        chunks.append(
            f"retry: {RETRY_MS}\n".encode()
            + _control_event(channel, last, {"type": "connected", "plan_id": plan_uuid})
        )
    if start is not None:
        while True:
            try:
                events = events_after(channel, last)
            except ReplayGap:
                last = current_eid(channel)
                chunks.append(_control_event(channel, last, {"type": "reset", "plan_id": plan_uuid}))
                break
            if not events:
                break
            chunks.extend(EncodedEvent(e).encode(req.html) for e in events)
            last = events[-1].eid
    return user_id, last, b"".join(chunks)


async def _serve_grip(send: Any, req: StreamRequest, plan_uuid: str | None, start: int | None) -> None:
    """A stream request forwarded by Pushpin: the same refusals as a direct stream, or the stream's
    first bytes with hold instructions (plans.grip); Pushpin then holds the connection.

    A next-link request (Pushpin recovering a connection after a gap) carries a signed token
    instead of the client's credentials and its position in `Grip-Last`; it gets the missed events
    and fresh instructions. The per-user cap on open streams (429) is not applied here: this
    process does not hold these streams."""
    link_user_id = None
    try:
        if req.grip_next:
            # Grip-Last proves Pushpin's own next-link fetch: Pushpin strips it from client requests.
            claims = grip.read_next_token(req.grip_next) if req.grip_last else None
            if claims is None or claims["p"] != plan_uuid:
                raise StreamDenied(401, {"detail": "Invalid or expired stream link."})
            link_user_id = claims["u"]
            req.org_id, req.html = claims["o"], bool(claims["h"])
            channel = grip.grip_channel(plan_channel(plan_uuid), req.html)
            last = grip.parse_grip_last(req.grip_last).get(channel, "")
            start = int(last) if last.isdigit() else None
        try:
            user_id, last_id, body = await run_db(_grip_body, req, plan_uuid, start, link_user_id)
        except DatabaseError:
            logger.warning("stream refused: database unavailable", exc_info=True)
            raise StreamDenied(
                503, {"detail": ServiceUnavailable.default_detail}, [(b"retry-after", b"5")]
            ) from None
    except StreamDenied as denied:
        await _send_json(send, denied.status, denied.body, denied.headers)
        return
    assert plan_uuid is not None and req.org_id is not None
    link = grip.next_link(user_id=user_id, plan_id=plan_uuid, org_id=req.org_id, html=req.html)
    headers = grip.hold_headers(
        channel=plan_channel(plan_uuid),
        html=req.html,
        last_id=last_id,
        link=link,
        keepalive_seconds=KEEPALIVE_SECONDS,
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
