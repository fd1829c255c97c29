"""`Idempotency-Key` for API writes: a retry with the same key returns the first response.

The record is inserted first, in the same transaction as the write. A concurrent retry's insert waits
on the unique (user, org, key) index until the first attempt commits (then it replays the stored
response) or rolls back (then it runs the write itself). Only successful responses are stored:
a refused request (4xx) changed nothing and may be retried with the same key once fixed. Reusing a
key for a different request is a 422. Keys are kept for `IDEMPOTENCY_TTL_HOURS` (default 24).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from aep.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PURGE_EVERY = 100
PURGE_BATCH = 1000
_keyed_writes = itertools.count(1)


def _fingerprint(request: Any) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(b"?" + request.META.get("QUERY_STRING", "").encode("latin-1", "replace") + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an OrgAPIView write method (it needs `self.org`)."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return Response(
                {"detail": f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable characters."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        fingerprint = _fingerprint(request._request)
        lookup = {"user": request.user, "org": self.org, "key": key}
        with transaction.atomic():
            _forget_expired(**lookup)
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(fingerprint=fingerprint, **lookup)
            except IntegrityError:
                return _replay(IdempotencyRecord.objects.get(**lookup), fingerprint)
            response = view_method(self, request, *args, **kwargs)
            if status.is_success(response.status_code):
                record.status_code = response.status_code
                record.response = response.data
                record.save(update_fields=["status_code", "response"])
            else:
                transaction.set_rollback(True)
            return response

    return wrapper


def _forget_expired(**lookup: Any) -> None:
    """Drop this key if it expired; now and then, also a batch of everyone's expired keys."""
    cutoff = timezone.now() - datetime.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    IdempotencyRecord.objects.filter(created_at__lt=cutoff, **lookup).delete()
    if next(_keyed_writes) % PURGE_EVERY == 0:
        expired = IdempotencyRecord.objects.filter(created_at__lt=cutoff).order_by("id")
        IdempotencyRecord.objects.filter(
            id__in=list(expired.values_list("id", flat=True)[:PURGE_BATCH])
        ).delete()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        return Response(
            {"detail": f"This {HEADER} was used for a different request."},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return Response(record.response, status=record.status_code, headers={"Idempotent-Replayed": "true"})
