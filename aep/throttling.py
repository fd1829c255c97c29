"""Per-user limits on API writes (`API_WRITE_RATE`, e.g. `600/min`; `off` disables), and the atomic
fixed-window counter they and the login limits (aep.login_throttle) count with.

Counts live in Django's cache: Redis when REDIS_URL is set (shared by every process), else the
process' memory. Over the limit: 429 with a Retry-After header (DRF).

DRF's `SimpleRateThrottle` reads a request history from the cache, appends to it and writes it back:
concurrent requests read the same history and each write their own, so 40 threads at 600/min got
1,061 writes through. `hit()` is one atomic increment instead (Redis `INCR` and `EXPIRE` in one
MULTI; the local-memory cache increments under its lock), counting per fixed window of the rate's
period: at most the limit per window, exactly, however many requests race.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
logger = logging.getLogger(__name__)


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """`"600/min"` -> (600, 60); None for "", "off", "0" or None."""
    if rate in (None, "", "off", "0"):
        return None
    return SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]


def _window(period: int, now: float) -> tuple[int, float]:
    """The number of the fixed window `now` falls in, and the seconds left in it."""
    number = int(now // period)
    return number, (number + 1) * period - now


def hit(name: str, period: int, now: float | None = None) -> tuple[int, float]:
    """Count one more event for `name` in the current window of `period` seconds, atomically.
    Returns (events in this window including this one, seconds until the window ends)."""
    number, left = _window(period, time.time() if now is None else now)
    key = f"{name}:{period}:{number}"
    ttl = math.ceil(left) + 1
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # One round trip: INCR creates the key at 1, EXPIRE makes it go with its window.
        redis_key = cache.make_and_validate_key(key)
        pipeline = cache._cache.get_client(redis_key, write=True).pipeline(transaction=True)
        pipeline.incr(redis_key)
        pipeline.expire(redis_key, ttl)
        used, _ = pipeline.execute()
        return int(used), left
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key), left
    except ValueError:  # it expired between add and incr: a new window
        cache.add(key, 1, ttl)
        return 1, left


def count(name: str, period: int, now: float | None = None) -> tuple[int, float]:
    """(events counted for `name` in the current window, seconds until it ends), counting nothing."""
    number, left = _window(period, time.time() if now is None else now)
    return int(caches["default"].get(f"{name}:{period}:{number}") or 0), left


class WriteRateThrottle(BaseThrottle):
    """`API_WRITE_RATE` per user (or per address for anonymous writers) on unsafe methods."""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        rate = parse_rate(getattr(settings, "API_WRITE_RATE", ""))
        if rate is None:
            return True
        limit, period = rate
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        who = f"user:{user.pk}" if authenticated else f"ip:{self.get_ident(request)}"
        try:
            used, left = hit(f"throttle:write:{who}", period)
        except Exception:
            # The cache (Redis) is down: let the write through rather than fail it; the limit is a
            # guard against abuse, not a reason to lose work.
            logger.warning("write throttle skipped: cache unavailable", exc_info=True)
            return True
        if used <= limit:
            return True
        self.retry_after = left
        return False

    def wait(self) -> float | None:
        return None if self.retry_after is None else max(1.0, math.ceil(self.retry_after))
