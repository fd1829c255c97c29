"""Fast, in-process reproductions of what the fault drills found (docs/RELIABILITY.md).

The drills (test_redis_restart.py, test_database_down.py) show the same on real processes; these
pin each finding down in a second. The throttle one was fixed in 2c6d4e3 (it fails open); the
stream one fails until live/stream.py maps database errors to 503.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.db import OperationalError

from ops.processes import free_port
from tests.sse import call_stream_app

pytestmark = pytest.mark.faults


@pytest.fixture
def unreachable_redis_cache(settings: Any) -> None:
    """Django's cache on a Redis that is not there (nothing listens on the port), as when it crashed.
    (Changing CACHES resets Django's cache handler: django.test.signals.clear_cache_handlers.)"""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


def test_writes_are_accepted_while_the_throttle_cache_is_down(
    settings, unreachable_redis_cache, client_a, plan_a
):
    """Redis down must not stop writes: the step is committed to the database and the throttle, which
    counts in Redis, lets the request through (fails open) instead of answering 500."""
    settings.API_WRITE_RATE = "600/min"
    response = client_a.post(
        "/api/plan/step", {"plan_id": str(plan_a.id), "text": "Redis is down"}, format="json"
    )
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert plan_a.steps.filter(text="Redis is down").exists()


def test_stream_answers_503_json_when_the_database_fails(monkeypatch):
    """`GET /api/plan/{id}/stream` maps a database error to 503 JSON, like the rest of the API."""
    import live.stream

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection failed: the database is down")

    monkeypatch.setattr(live.stream, "authorize", database_down)
    request = {
        "method": "GET",
        "path": "/api/plan/00000000-0000-0000-0000-000000000001/stream",
        "query_string": b"",
        "headers": [(b"authorization", b"Token x"), (b"x-org-id", b"org-a")],
    }
    try:
        status, headers, body = asyncio.run(call_stream_app(request))
    except OperationalError:
        pytest.fail("the database error escaped the stream app (the ASGI server answers 500 HTML)")
    assert status == 503
    assert headers["content-type"] == "application/json"
    assert "detail" in json.loads(body)
