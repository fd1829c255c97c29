"""Password logins throttled per username and per address, and password hashing kept from
starving the server (DESIGN 14). Used by the login page and the admin's login alike: it is the
authentication backend (AUTHENTICATION_BACKENDS), so every `authenticate()` with a password goes
through it.

- Failed logins are counted per username (whatever address they come from) and per client address
  (`aep.middleware.client_address`: behind a proxy, set TRUSTED_PROXIES, or every client counts as
  the proxy) in fixed windows of `LOGIN_FAILURE_WINDOW_SECONDS`, with the atomic counter of
  `aep.throttling.hit`. At `LOGIN_FAILURES_PER_USERNAME` / `LOGIN_FAILURES_PER_ADDRESS` failures
  the username / address is refused until its window ends, even with the right password, and
  without hashing anything. Other requests are not affected.
- At most `LOGIN_CONCURRENT_HASHES` password checks run at once per process; a login arriving while
  they all run is refused at once ("busy, try again") instead of holding one of the server's worker
  threads (ASGI_THREADS) and a core while it waits: 20 concurrent failed logins used to take the
  plan list from 12 ms to 1.8 s.

Why not django-axes: its cache handler counts with the same add/incr, but it adds a middleware, an
app with tables and system checks (which flag this project's per-process cache), and it does nothing
about the hashing; this module does the three things needed, on the write throttle's counter.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied

from aep import throttling
from aep.middleware import client_address

THROTTLED_ATTR = "aep_login_refused"  # set on the request: why a login was refused (a message)
_hashing_lock = threading.Lock()
_hashing: dict[int, threading.BoundedSemaphore] = {}


def _hash_slots() -> threading.BoundedSemaphore:
    size = max(1, settings.LOGIN_CONCURRENT_HASHES)
    with _hashing_lock:
        return _hashing.setdefault(size, threading.BoundedSemaphore(size))


def _counters(request: Any, username: str) -> list[tuple[str, int]]:
    """(counter name, limit) of this login's username and address."""
    who = hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    address = client_address(request) if request is not None else None
    if address is None and request is not None:
        address = request.META.get("REMOTE_ADDR", "")
    return [
        (f"login:user:{who}", settings.LOGIN_FAILURES_PER_USERNAME),
        (f"login:addr:{address}", settings.LOGIN_FAILURES_PER_ADDRESS),
    ]


def refuse(request: Any, message: str) -> None:
    if request is not None:
        setattr(request, THROTTLED_ATTR, message)
    raise PermissionDenied(message)  # authenticate() stops here and returns None


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        window = settings.LOGIN_FAILURE_WINDOW_SECONDS
        counters = _counters(request, str(username))
        waits = []
        try:
            for name, limit in counters:
                used, left = throttling.count(name, window)
                if used >= limit:
                    waits.append(left)
        except Exception:
            waits = []  # the cache is down: throttling fails open, as the write throttle does
        if waits:
            minutes = max(1, math.ceil(max(waits) / 60))
            refuse(request, f"Too many failed logins. Try again in {minutes} minute(s).")
        slots = _hash_slots()
        if not slots.acquire(blocking=False):
            refuse(request, "The server is busy checking other logins. Try again in a moment.")
        try:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        finally:
            slots.release()
        if user is None:
            with contextlib.suppress(Exception):  # the cache is down: fail open
                for name, _ in counters:
                    throttling.hit(name, window)
            # Decided here: ModelBackend, listed after this one for sessions made before it, must
            # not check the same password again (a second hash, outside the slots).
            raise PermissionDenied("wrong username or password")
        return user


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login page's form: says why a throttled login was refused instead of "wrong password"."""

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            message = getattr(self.request, THROTTLED_ATTR, None)
            if message:
                raise forms.ValidationError(message, code="throttled") from None
            raise
