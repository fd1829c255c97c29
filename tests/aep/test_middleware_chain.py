"""Under ASGI the middleware chain runs in one worker thread (settings.MIDDLEWARE's comment).

Django runs a middleware that can work both ways in the mode of the handler it wraps; with an
async-capable middleware innermost, every middleware hops between the event loop and a worker thread
twice per request, which cost about 3 ms of every API request. A sync-only middleware last keeps the
whole chain synchronous.
"""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.test import AsyncClient, override_settings


def thread_hops_of_one_request(path: str, **headers: Any) -> tuple[int, int]:
    calls = 0
    original = SyncToAsync.__call__

    def counting(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)

    async def request() -> int:
        return (await AsyncClient().get(path, headers=headers)).status_code

    asyncio.run(request())  # warm: the handler and URL resolver are built once
    with mock.patch.object(SyncToAsync, "__call__", counting):
        status = asyncio.run(request())
    return calls, status


@pytest.mark.django_db(transaction=True)
def test_the_last_middleware_is_sync_only() -> None:
    from django.utils.module_loading import import_string

    last = import_string(settings.MIDDLEWARE[-1])
    assert getattr(last, "sync_capable", True) and not getattr(last, "async_capable", False)


@pytest.mark.django_db(transaction=True)
def test_an_api_request_crosses_threads_far_fewer_times_than_with_an_async_capable_middleware_last(
    alice: Any, org_a: Any
) -> None:
    from tests.factories import token_for

    headers = {"Authorization": f"Token {token_for(alice)}", "X-Org-Id": org_a.id}
    hops, status = thread_hops_of_one_request("/api/plan/list", **headers)
    assert status == 200
    without_sync_last = [m for m in settings.MIDDLEWARE if m != "aep.middleware.BodySizeLimitMiddleware"]
    with override_settings(MIDDLEWARE=without_sync_last):
        hops_async_chain, status = thread_hops_of_one_request("/api/plan/list", **headers)
    assert status == 200
    assert hops * 2 <= hops_async_chain, (hops, hops_async_chain)
