"""Per-user limits on API writes (`API_WRITE_RATE`, e.g. `600/min`; `off` disables).

Counts live in Django's cache: Redis when REDIS_URL is set (shared by every process), else the
process' memory. Over the limit: 429 with a Retry-After header (DRF)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework.throttling import UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
logger = logging.getLogger(__name__)


class WriteRateThrottle(UserRateThrottle):
    scope = "write"

    def get_rate(self) -> str | None:
        rate = getattr(settings, "API_WRITE_RATE", "")
        return None if rate in ("", "off", "0") else rate

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        try:
            return super().allow_request(request, view)
        except Exception:
            # The cache (Redis) is down: let the write through rather than fail it; the limit is a
            # guard against abuse, not a reason to lose work.
            logger.warning("write throttle skipped: cache unavailable", exc_info=True)
            return True
