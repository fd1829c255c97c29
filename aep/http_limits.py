"""What every server of the app refuses before the app reads a request (DESIGN 14), in one place.

- A body larger than `MAX_REQUEST_BODY_BYTES` (Django's DATA_UPLOAD_MAX_MEMORY_SIZE): 413 as soon as
  `Content-Length` says so (nothing of the body is read), or as soon as a chunked body passes it.
- A request head (request line and headers) larger than HEAD_MAX_BYTES: 431.
- A slow client: the head must be complete within `HTTP_HEADER_TIMEOUT` seconds of the connection
  waiting for it (opened, or its previous response sent), the body within `HTTP_BODY_TIMEOUT` after
  the head; else 408 and the connection is closed. A response, once started, has no time limit.

`aep.asgi_handler` applies the body limit to what reaches Django, whatever the server; the servers of
`make run` apply all of it at the connection, before the ASGI app is called: `aep.daphne_server`
(daphne reads a whole body, to a temporary file and then into memory, before it calls the app) and
`aep.uvicorn_protocol` (uvicorn has no header or body timeout and httptools no header size limit).
This module is loaded by those servers before Django is set up: it imports nothing of the app.
"""

from __future__ import annotations

import json

from django.conf import settings

HEAD_MAX_BYTES = 16 * 1024  # what daphne (Twisted) allows, for uvicorn too
REASONS = {408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large"}


def body_too_large_detail(limit: int) -> str:
    """The `detail` of a 413, whichever layer refuses the body (server, ASGI handler, middleware)."""
    return f"Request body too large (limit {limit} bytes)."


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def header_timeout() -> float:
    return settings.HTTP_HEADER_TIMEOUT


def body_timeout() -> float:
    return settings.HTTP_BODY_TIMEOUT


def too_large(length: int | None) -> bool:
    """Whether a body of `length` bytes (so far, or announced) is over the limit."""
    limit = body_limit()
    return limit is not None and length is not None and length > limit


def detail(status: int) -> str:
    if status == 413:
        return body_too_large_detail(body_limit() or 0)
    if status == 408:
        return "The request was not received in time."
    return "Request headers too large."


def refusal_body(status: int) -> bytes:
    return json.dumps({"detail": detail(status)}).encode()


def refusal_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]


def refusal_bytes(status: int) -> bytes:
    """A whole HTTP/1.1 response refusing the request, as written straight to a connection."""
    body = refusal_body(status)
    head = [f"HTTP/1.1 {status} {REASONS[status]}".encode()]
    head += [name + b": " + value for name, value in refusal_headers(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body
