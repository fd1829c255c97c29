"""daphne with the limits of aep.http_limits at the connection: `python -m aep.daphne_server` takes
daphne's own arguments (`make run` starts it through ops.processes).

Why not plain daphne: daphne (Twisted) reads a request's whole body before it calls the app, into a
temporary file and then, in one loop, into the app's queue in memory: a 1.5 GB POST grew the process
by 1.5 GB, and its 413 came only once every byte had been sent. And Twisted's only timeout is an idle
one, restarted by every byte, so a client sending a header line every 20 s stayed connected for ever.

Here the request Twisted builds (`LimitedRequest`, daphne's WebRequest) refuses a Content-Length over
the limit as soon as the headers are in (413, nothing of the body read; `Expect: 100-continue` gets
no 100), counts a chunked body as it arrives and refuses it once it passes the limit, and closes a
connection that has not delivered a request head within `HTTP_HEADER_TIMEOUT` seconds of waiting for
one, or a body within `HTTP_BODY_TIMEOUT` (408). Once the body is in, nothing times out: the response
(a live stream) lasts as long as the app keeps it open.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor: it must be imported before anything else of Twisted.
import daphne.server

# isort: split
import sys
from io import BytesIO
from typing import Any

from daphne import http_protocol
from daphne.cli import CommandLineInterface
from twisted.internet import reactor

from aep import http_limits

ABORT_AFTER_SECONDS = 2.0  # a refused client that does not read its answer is cut off after this


def refuse(channel: Any, status: int | None) -> None:
    """Answer `status` (None: nothing, the client had not begun a request) and close the connection,
    reading nothing more from it."""
    transport = getattr(channel, "transport", None)
    if transport is None or not getattr(transport, "connected", False):
        return
    if status is not None:
        transport.write(http_limits.refusal_bytes(status))
    transport.loseConnection()  # stops reading at once; closes once the answer is written
    reactor.callLater(ABORT_AFTER_SECONDS, _abort, transport)


def _abort(transport: Any) -> None:
    if getattr(transport, "connected", False):
        transport.abortConnection()


def wait_for_head(channel: Any) -> None:
    """From now on, `channel` must deliver a complete request head within HTTP_HEADER_TIMEOUT."""
    heads = getattr(channel, "aep_heads", 0)
    channel.aep_heads = heads
    reactor.callLater(http_limits.header_timeout(), _head_deadline, channel, heads)


def _head_deadline(channel: Any, heads: int) -> None:
    # No new request head since the wait began, and no request being answered.
    if channel.aep_heads == heads and not getattr(channel, "_handlingRequest", False):
        started = bool(getattr(channel, "requests", None)) or bool(getattr(channel, "_buffer", b""))
        refuse(channel, 408 if started else None)


class LimitedRequest(http_protocol.WebRequest):
    """daphne's request, refusing what aep.http_limits refuses before daphne reads or passes it on."""

    aep_refused = False
    aep_received = 0
    aep_body_done = False

    def gotLength(self, length: int | None) -> None:
        """All headers are in; `length` is the Content-Length (None: chunked)."""
        self.channel.aep_heads = getattr(self.channel, "aep_heads", 0) + 1
        if http_limits.too_large(length):
            self.content = BytesIO()
            self.requestHeaders.removeHeader(b"Expect")  # no "100 Continue" after the 413
            self._refuse(413)
            return
        super().gotLength(length)
        if length != 0:
            reactor.callLater(http_limits.body_timeout(), self._body_deadline)

    def handleContentChunk(self, data: bytes) -> None:
        if self.aep_refused:
            return
        self.aep_received += len(data)
        if http_limits.too_large(self.aep_received):
            self._refuse(413)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.aep_refused:
            return
        self.aep_body_done = True
        super().requestReceived(command, path, version)

    def finish(self) -> None:
        channel = self.channel
        if channel is not None and channel.persistent and not self.aep_refused:
            # Keep-alive: the next request's head has the same deadline. Armed before finishing,
            # which parses a pipelined next request at once (that counts as its head arriving).
            wait_for_head(channel)
        super().finish()

    def _body_deadline(self) -> None:
        if not self.aep_body_done and not self.aep_refused and not self._disconnected:
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        self.aep_refused = True
        refuse(self.channel, status)


class LimitedHTTPFactory(http_protocol.HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = LimitedRequest
        wait_for_head(getattr(protocol, "_channel", protocol))  # the connection opens now
        return protocol


def main() -> None:
    daphne.server.HTTPFactory = LimitedHTTPFactory  # what daphne's Server.run builds its factory from
    CommandLineInterface().run(sys.argv[1:])


if __name__ == "__main__":
    main()
