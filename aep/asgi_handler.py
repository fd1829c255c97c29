"""Django's ASGI handler, with each request served in one hop to a worker thread.

Every view, middleware and service of this app is synchronous. Django's own `ASGIHandler` runs them
in async mode anyway: the request_started signal, the middleware chain, the view and the response's
close each cross from the event loop to a thread and back (8 `sync_to_async` calls for a step add),
and its per-request `ThreadSensitiveContext` starts new threads for every request. Those crossings,
not the queries, were most of a cheap request's time: a 405 took 6.2 ms in process, 3.5 ms with this
handler; a 404 2.7 ms, 1.1 ms with it.

`SyncASGIHandler` does what Django's WSGI handler does, in a fixed pool of worker threads: the body
is read on the event loop (refused with 413 before a byte of it is read when its Content-Length is over
`MAX_REQUEST_BODY_BYTES`, and as soon as the bytes received pass it otherwise: the process never holds
more of a body than the limit), then one thread runs the signals, the sync middleware chain and the view,
and closes the response (which hands the database connection back to the pool) before the bytes are
sent. Streaming responses are sent as Django sends them and closed afterwards.

Work a request schedules with `run_after_response` (the live-event broadcast of a step) runs on the
event loop once the response has been sent: a writer does not wait for the fan-out of its own step.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import tempfile
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

from aep import http_limits

logger = logging.getLogger(__name__)
_request_thread = threading.local()
AfterResponse = list[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]]


def run_after_response(coroutine_function: Callable[..., Awaitable[None]], *args: Any) -> bool:
    """From the thread serving a request: `await coroutine_function(*args)` on the event loop once
    the response has been sent (or the client has gone). Returns False, and schedules nothing, when
    the calling thread is not serving a request of SyncASGIHandler (a test client, a command)."""
    pending: AfterResponse | None = getattr(_request_thread, "after_response", None)
    if pending is None:
        return False
    pending.append((coroutine_function, args))
    return True


class SyncASGIHandler(ASGIHandler):
    """An ASGI handler for a Django project whose code is all synchronous: one thread hop per request."""

    def __init__(self) -> None:
        # BaseHandler.__init__, not ASGIHandler's: that one builds the chain in async mode.
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=settings.ASGI_THREADS, thread_name_prefix="django")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_limited_body(scope, receive)
        except RequestAborted:
            return
        except BodyTooLarge:
            body = http_limits.refusal_body(413)
            headers = http_limits.refusal_headers(body)
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        after_response: AfterResponse = []
        try:
            response = await self.in_thread(self.respond, scope, body_file, after_response)
            await self.send_response(response, send)
            if response.streaming:
                await self.in_thread(response.close)
        finally:
            body_file.close()
            # Also when the request failed or the client left: a committed step is still broadcast.
            for coroutine_function, args in after_response:
                try:
                    await coroutine_function(*args)
                except Exception:
                    logger.exception("%s after a response failed", coroutine_function.__qualname__)

    async def read_limited_body(self, scope: dict[str, Any], receive: Any) -> Any:
        """The request body in a file, as Django's `read_body` reads it, but refused (BodyTooLarge)
        on its Content-Length before reading, or as soon as what has arrived passes the limit."""
        if http_limits.too_large(announced_length(scope)):
            raise BodyTooLarge()
        # Closed by __call__ once served, or below when reading fails.
        body_file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        received = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestAborted()
                chunk = message.get("body", b"")
                received += len(chunk)
                if http_limits.too_large(received):
                    raise BodyTooLarge()
                body_file.write(chunk)
                if not message.get("more_body", False):
                    break
        except BaseException:
            body_file.close()
            raise
        body_file.seek(0)
        return body_file

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` in a worker thread, with the caller's context variables."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(context.run, fn, *args))

    def respond(
        self, scope: dict[str, Any], body_file: Any, after_response: AfterResponse
    ) -> HttpResponseBase:
        """The sync part of a request, as Django's WSGIHandler runs it; what it schedules with
        `run_after_response` goes to `after_response`."""
        _request_thread.after_response = after_response
        try:
            return self._respond(scope, body_file)
        finally:
            _request_thread.after_response = None

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            # The content is in memory: close now, so the database connection goes back to the pool
            # before the bytes are written rather than after.
            response.close()
        return response


class BodyTooLarge(Exception):
    """The request body is over MAX_REQUEST_BODY_BYTES (answered 413, connection closed)."""


def announced_length(scope: dict[str, Any]) -> int | None:
    """The request's Content-Length, None when it has none (or a malformed one: servers refuse those)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
