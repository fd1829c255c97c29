"""uvicorn's httptools protocol with the limits of aep.http_limits at the connection:
`uvicorn --http aep.uvicorn_protocol:LimitedHttpToolsProtocol` (what `make run SERVER=uvicorn` starts).

uvicorn streams a body to the app with flow control (it buffers at most 64 KiB), so the body limit
is aep.asgi_handler's; the 413 says `Connection: close`, and uvicorn closes instead of reading the
rest. What uvicorn lacks: a header timeout (a connection that sent a byte, or a header line now and
then, was kept for ever), a body timeout, and a header size limit (httptools has none). Here a
connection waiting for a request (opened, or its previous response sent) must complete the request
head within `HTTP_HEADER_TIMEOUT` seconds and in at most HEAD_MAX_BYTES, then the body within
`HTTP_BODY_TIMEOUT`: else 408 (or 431) and the connection is closed. Once the body is in, nothing
times out: a live stream stays open as long as the app keeps it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aep import http_limits


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aep_head_bytes = 0
        self.aep_waiting_for_head = True
        self.aep_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self.aep_waiting_for_head
        super().data_received(data)
        if counting and self.aep_waiting_for_head:
            self.aep_head_bytes += len(data)
            if self.aep_head_bytes > http_limits.HEAD_MAX_BYTES:
                self._refuse(431)

    def on_headers_complete(self) -> None:
        self.aep_waiting_for_head = False
        self._cancel_deadline()
        super().on_headers_complete()
        if self.parser is not None and not self._bodiless():
            self.aep_deadline = self.loop.call_later(http_limits.body_timeout(), self._body_timed_out)

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._wait_for_head()

    def _bodiless(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return False
            if name == b"content-length":
                return value.strip() in (b"0", b"")
        return True

    def _wait_for_head(self) -> None:
        self._cancel_deadline()
        self.aep_waiting_for_head = True
        self.aep_head_bytes = 0
        self.aep_deadline = self.loop.call_later(http_limits.header_timeout(), self._head_timed_out)

    def _cancel_deadline(self) -> None:
        if self.aep_deadline is not None:
            self.aep_deadline.cancel()
            self.aep_deadline = None

    def _head_timed_out(self) -> None:
        self.aep_deadline = None
        self._refuse(408 if self.aep_head_bytes or self._request_begun() else None)

    def _body_timed_out(self) -> None:
        self.aep_deadline = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app answered already (a 413, say): only close
        else:
            self._refuse(408)

    def _request_begun(self) -> bool:
        return bool(getattr(self, "url", b""))

    def _refuse(self, status: int | None) -> None:
        self._cancel_deadline()
        if self.transport.is_closing():
            return
        if status is not None:
            self.transport.write(http_limits.refusal_bytes(status))
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()
