"""Revoking credentials that open live streams hold (DESIGN 12: within 5 seconds).

A stream is opened with a `Credential`: a user, the org it reads, and the API token or the session it
authenticated with. Services that take a credential away (a token revoked, a member removed, a user
deactivated, a session logged out) call `announce(...)` inside their transaction; after commit the
revocation goes to this process' listeners (live.hub registers one) and, with `REDIS_URL`, to every
other process over Redis pub/sub (`redis_channel()`), whose hubs end the matching streams at once.

A message can be lost (Redis down, a process that started listening late), and a token expires with
nobody announcing it: `still_valid` re-checks the credentials of all of a process' open streams in
one batch of queries (not one query per stream), which live.hub runs every few seconds.

This is the platform's side; live/ knows credentials only as this module describes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from aep.models import ApiToken, Membership

logger = logging.getLogger(__name__)

REDIS_CHANNEL = "aep_revocations"
DB_SESSION_ENGINE = "django.contrib.sessions.backends.db"
Listener = Callable[[dict[str, Any]], None]
_listeners: list[Listener] = []
_redis_client: Any = None


def session_id(session_key: str) -> str:
    """How a session is named in revocation messages: a hash, so that pub/sub never carries a key."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Credential:
    """What an open stream was authorized with."""

    user: int
    org: str
    token: int | None = None  # ApiToken id, when the stream authenticated with a token
    session_key: str | None = None  # when it authenticated with the pages' session

    @property
    def session(self) -> str | None:
        return None if self.session_key is None else session_id(self.session_key)

    def matches(self, message: dict[str, Any]) -> bool:
        """A revocation names one or more of user, org, token, session: all it names must match."""
        fields = {"user": self.user, "org": self.org, "token": self.token, "session": self.session}
        named = {k: v for k, v in message.items() if k in fields}
        return bool(named) and all(fields[k] == v for k, v in named.items())


def credential_of(request: Any, user: Any, org_id: str) -> Credential:
    """The credential of a request authenticated by `aep.authentication.authenticate_request`."""
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return Credential(user=user.pk, org=org_id, token=token.pk)
    session = getattr(request, "session", None)
    return Credential(user=user.pk, org=org_id, session_key=getattr(session, "session_key", None))


def listen(listener: Listener) -> None:
    """Call `listener(message)` in this process for every revocation announced in it."""
    if listener not in _listeners:
        _listeners.append(listener)


def announce(
    *, user: int | None = None, org: str | None = None, token: int | None = None, session: str | None = None
) -> None:
    """After the current transaction commits, tell every process that streams matching all the given
    fields lose their access (`session` is `session_id(key)`)."""
    message = {
        k: v
        for k, v in {"user": user, "org": org, "token": token, "session": session}.items()
        if v is not None
    }
    if message:
        transaction.on_commit(lambda: _send(message))


def _send(message: dict[str, Any]) -> None:
    for listener in list(_listeners):
        try:
            listener(message)
        except Exception:
            logger.warning("revocation listener failed", exc_info=True)
    if settings.REDIS_URL:
        try:
            _redis().publish(redis_channel(), json.dumps(message))
        except Exception:
            # The periodic re-check (still_valid) still ends those streams, a few seconds later.
            logger.warning("revocation publish to Redis failed", exc_info=True)


def redis_channel() -> str:
    """The pub/sub channel of revocations. Pub/sub ignores Redis database numbers, so the number in
    REDIS_URL is part of the name: deployments (or test runs) that share a Redis on different
    databases do not end each other's streams."""
    db = redis.connection.parse_url(settings.REDIS_URL).get("db", 0) if settings.REDIS_URL else 0
    return REDIS_CHANNEL if not db else f"{REDIS_CHANNEL}:{db}"


def _redis() -> Any:
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def decode(raw: bytes | str) -> dict[str, Any]:
    """A revocation message from Redis; ValueError when malformed."""
    try:
        message = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed revocation: {exc}") from None
    if not isinstance(message, dict) or not message:
        raise ValueError("malformed revocation")
    return message


def still_valid(credentials: Iterable[Credential]) -> set[Credential]:
    """The credentials that still give access, checked in at most four queries however many there
    are: active users, memberships, unexpired tokens, live sessions. A session counts only while it
    is still logged in as its user with the user's current password (Django's session auth hash), so
    a password change ends the streams of the user's other sessions, as it logs their pages out."""
    credentials = set(credentials)
    if not credentials:
        return set()
    users = {
        user.pk: user
        for user in get_user_model()._default_manager.filter(
            pk__in={c.user for c in credentials}, is_active=True
        )
    }
    members = set(
        Membership.objects.filter(user_id__in=users, org_id__in={c.org for c in credentials}).values_list(
            "user_id", "org_id"
        )
    )
    now = timezone.now()
    token_ids = {c.token for c in credentials if c.token is not None}
    tokens = (
        set(ApiToken.objects.filter(pk__in=token_ids, expires_at__gt=now).values_list("pk", flat=True))
        if token_ids
        else set()
    )
    session_keys = {c.session_key for c in credentials if c.token is None and c.session_key}
    sessions = _live_sessions(session_keys) if session_keys else {}

    def ok(c: Credential) -> bool:
        user = users.get(c.user)
        if user is None or (c.user, c.org) not in members:
            return False
        if c.token is not None:
            return c.token in tokens
        data = sessions.get(c.session_key or "")
        return data is not None and _logged_in_as(data, user)

    return {c for c in credentials if ok(c)}


def _logged_in_as(session: dict[str, Any], user: Any) -> bool:
    """What django.contrib.auth.get_user checks of a session: its user, and the password's hash."""
    if str(session.get(SESSION_KEY)) != str(user.pk):
        return False
    stored = session.get(HASH_SESSION_KEY) or ""
    return constant_time_compare(stored, user.get_session_auth_hash())


def _live_sessions(keys: set[str]) -> dict[str, dict[str, Any]]:
    """The data of the sessions that exist and have not expired, by key (one query with the database
    backend; other backends are asked key by key, from their cache)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if settings.SESSION_ENGINE == DB_SESSION_ENGINE:
        rows = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
            "session_key", "session_data"
        )
        return {key: store().decode(data) for key, data in rows}
    found = {}
    for key in keys:
        session = store(key)
        if session.exists(key):
            found[key] = dict(session.items())
    return found


def token_valid(*, token: int, user: int) -> bool:
    """Whether an API token of `user` still exists and has not expired (one query)."""
    return ApiToken.objects.filter(pk=token, user_id=user, expires_at__gt=timezone.now()).exists()
