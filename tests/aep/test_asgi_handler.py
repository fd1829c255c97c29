"""The app's ASGI handler (aep.asgi_handler): Django's request path served in one worker-thread hop.

Called in process through `aep.asgi.application`, as daphne and uvicorn call it (the live-server tests
run it over real sockets too).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from plans.models import PlanStep
from tests.factories import token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def call(
    app: Any,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request through an ASGI app: the body arrives in `chunks`; the client stays connected."""
    chunks = list(chunks or [b""])
    length = sum(len(chunk) for chunk in chunks)
    raw_headers = [(b"host", b"testserver"), (b"content-length", str(length).encode())] + [
        (k.lower().encode(), v.encode()) for k, v in (headers or {}).items()
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if chunks:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    done.set()
    start = sent[0]
    response_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


def api_headers(user: Any, org: Any) -> dict[str, str]:
    return {
        "Authorization": f"Token {token_for(user)}",
        "X-Org-Id": org.id,
        "Content-Type": "application/json",
    }


def step_request(headers: dict[str, str], body: bytes) -> tuple[dict[str, Any], Any]:
    """The scope and `receive` of a step add whose client disconnects once the body is read."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/plan/step",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    return scope, receive


def step_body(plan: Any, text: str) -> bytes:
    return json.dumps({"plan_id": str(plan.id), "text": text}).encode()


def test_a_step_added_through_the_asgi_app_is_stored_and_returned(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    from aep.asgi import application

    # The body arrives in three pieces, as a server hands over a large or slow upload.
    body = step_body(plan_a, "through asgi")
    chunks = [body[:10], body[10:20], body[20:]]
    status, headers, content = asyncio.run(
        call(application, "POST", "/api/plan/step", headers=api_headers(alice, org_a), chunks=chunks)
    )
    assert status == 200, content
    assert headers["content-type"] == "application/json"
    assert json.loads(content)["step"]["text"] == "through asgi"
    assert PlanStep.objects.filter(plan=plan_a).latest("seq").text == "through asgi"


def test_a_request_crosses_to_a_worker_thread_once_where_djangos_handler_crosses_many_times(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    """Each crossing between the event loop and a thread costs 0.2-0.3 ms; Django's own handler makes
    8 `sync_to_async` calls for a step add (each with its way back), in threads it starts per request."""
    from aep.asgi import django_application

    view_threads: list[str] = []
    crossings = 0
    original_view_entry = SyncToAsync.__call__

    def counting(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        nonlocal crossings
        crossings += 1
        return original_view_entry(self, *args, **kwargs)

    from plans import services

    real_add_step = services.add_step

    def recording_add_step(**kwargs: Any) -> Any:
        view_threads.append(threading.current_thread().name)
        return real_add_step(**kwargs)

    def run(app: Any, text: str) -> int:
        status, _, _ = asyncio.run(
            call(
                app,
                "POST",
                "/api/plan/step",
                headers=api_headers(alice, org_a),
                chunks=[step_body(plan_a, text)],
            )
        )
        return status

    run(django_application, "warm")
    with (
        mock.patch.object(SyncToAsync, "__call__", counting),
        mock.patch("plans.api.services.add_step", recording_add_step),
    ):
        assert run(django_application, "ours") == 200
        ours = crossings
        crossings = 0
        assert run(ASGIHandler(), "django's") == 200
        djangos = crossings
    assert ours == 0
    assert djangos >= 5, djangos
    assert view_threads[0].startswith("django"), view_threads
    assert PlanStep.objects.filter(plan=plan_a).count() == 2 + 3


def test_concurrent_requests_each_get_their_step(alice: Any, org_a: Any, plan_a: Any) -> None:
    from aep.asgi import application

    headers = api_headers(alice, org_a)

    async def many() -> list[int]:
        requests = [
            call(
                application,
                "POST",
                "/api/plan/step",
                headers=headers,
                chunks=[step_body(plan_a, f"s{i}")],
            )
            for i in range(24)
        ]
        return [status for status, _, _ in await asyncio.gather(*requests)]

    assert asyncio.run(many()) == [200] * 24
    seqs = sorted(PlanStep.objects.filter(plan=plan_a).values_list("seq", flat=True))
    assert seqs == list(range(1, 2 + 24 + 1))


def test_refusals_keep_their_json_errors(alice: Any, org_a: Any, plan_a: Any) -> None:
    from aep.asgi import application

    headers = api_headers(alice, org_a)
    status, _, content = asyncio.run(
        call(application, "POST", "/api/plan/step", headers=headers, chunks=[b'{"plan_id": '])
    )
    assert status == 400 and "detail" in json.loads(content)
    too_big = b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    status, _, content = asyncio.run(
        call(application, "POST", "/api/plan/step", headers=headers, chunks=[too_big])
    )
    assert status == 413 and "too large" in json.loads(content)["detail"]
    status, _, content = asyncio.run(
        call(application, "GET", "/api/plan/list", headers={"X-Org-Id": org_a.id})
    )
    assert status == 401 and "detail" in json.loads(content)
    assert PlanStep.objects.count() == 2


def test_an_unexpected_error_is_a_json_500_and_the_next_request_is_served(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    from aep.asgi import application

    headers = api_headers(alice, org_a)
    with mock.patch("plans.api.services.add_step", side_effect=RuntimeError("boom")):
        status, _, content = asyncio.run(
            call(application, "POST", "/api/plan/step", headers=headers, chunks=[step_body(plan_a, "x")])
        )
    assert status == 500
    assert "boom" not in content.decode()
    status, _, _ = asyncio.run(
        call(application, "POST", "/api/plan/step", headers=headers, chunks=[step_body(plan_a, "y")])
    )
    assert status == 200


def test_a_streaming_response_is_sent_whole(alice: Any) -> None:
    from aep.asgi import application

    expected = (settings.BASE_DIR / "static" / "vendor" / "htmx.min.js").read_bytes()
    status, _, content = asyncio.run(call(application, "GET", "/static/vendor/htmx.min.js"))
    assert status == 200
    assert content == expected


def test_a_client_that_leaves_before_sending_its_body_gets_no_response_and_nothing_is_written(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    from aep.asgi import application

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/plan/step",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
    }
    asyncio.run(application(scope, receive, send))
    assert sent == []
    assert PlanStep.objects.count() == 2


def test_a_steps_live_event_goes_out_after_the_writers_response(alice: Any, org_a: Any, plan_a: Any) -> None:
    """The writer's response is not held up by the fan-out of its own step to every stream."""
    from aep.asgi import application
    from live.hub import hub

    order: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        order.append(message["type"])

    def recording_deliver(event: Any) -> None:
        order.append(f"deliver {event.data['text']}")

    body = step_body(plan_a, "after the response")
    scope, receive = step_request(api_headers(alice, org_a), body)

    with mock.patch.object(hub, "deliver", recording_deliver):
        asyncio.run(application(scope, receive, send))
    assert order == ["http.response.start", "http.response.body", "deliver after the response"]


def test_a_writer_that_left_before_its_response_still_gets_its_step_broadcast(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    from aep.asgi import application
    from live.hub import hub

    delivered: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        raise OSError("the client has gone")

    body = step_body(plan_a, "nobody waits for this one")
    scope, receive = step_request(api_headers(alice, org_a), body)

    with (
        mock.patch.object(hub, "deliver", lambda event: delivered.append(event.data["text"])),
        pytest.raises(OSError),
    ):
        asyncio.run(application(scope, receive, send))
    assert delivered == ["nobody waits for this one"]
    assert PlanStep.objects.filter(plan=plan_a).latest("seq").text == "nobody waits for this one"


def test_outside_a_served_request_nothing_is_deferred() -> None:
    from aep.asgi_handler import run_after_response

    async def never() -> None:
        raise AssertionError("must not run")

    assert run_after_response(never) is False


def test_a_step_committed_by_a_request_that_then_fails_is_still_broadcast(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    from aep.asgi import application
    from live.hub import hub

    delivered: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        pass

    def failing_close(response: Any) -> None:
        raise RuntimeError("closing the response failed")

    scope, receive = step_request(api_headers(alice, org_a), step_body(plan_a, "committed, then a failure"))
    with (
        mock.patch.object(hub, "deliver", lambda event: delivered.append(event.data["text"])),
        mock.patch("django.http.response.HttpResponseBase.close", failing_close),
        pytest.raises(RuntimeError),
    ):
        asyncio.run(application(scope, receive, send))
    assert delivered == ["committed, then a failure"]


def test_the_loaded_app_is_kept_out_of_full_garbage_collections() -> None:
    """A full collection walked every object of the loaded app (51 ms, a pause of every stream in the
    process); aep.asgi freezes them once loaded."""
    import gc

    import aep.asgi  # noqa: F401

    assert gc.get_freeze_count() > 50_000
