"""aep.uvicorn_protocol.write_body: the direct body writer the hub uses under uvicorn. It must frame
each piece as uvicorn's own `send` does (HTTP/1.1 chunks) and write nothing when only `send` may:
before the response starts, after it ends, once the client left, while flow control holds writers.
The same stream through a real uvicorn is in tests/plans/test_stream_uvicorn.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aep.uvicorn_protocol import write_body


class FakeTransport:
    def __init__(self) -> None:
        self.data = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closing


def cycle(**state: Any) -> Any:
    defaults = {
        "response_started": True,
        "response_complete": False,
        "disconnected": False,
        "chunked_encoding": True,
        "flow": SimpleNamespace(write_paused=False),
        "transport": FakeTransport(),
    }
    return SimpleNamespace(**{**defaults, **state})


def test_a_piece_of_a_streamed_body_is_written_as_one_http_chunk() -> None:
    streaming = cycle()
    assert write_body(streaming, b"data: {}\n\n") is True
    assert write_body(streaming, b"") is True  # nothing to write: no empty chunk (it would end the body)
    assert streaming.transport.data == b"a\r\ndata: {}\n\n\r\n"


@pytest.mark.parametrize(
    "state",
    [
        {"response_started": False},
        {"response_complete": True},
        {"disconnected": True},
        {"chunked_encoding": False},
        {"flow": SimpleNamespace(write_paused=True)},
    ],
    ids=["not started", "complete", "client gone", "has a length", "flow control"],
)
def test_it_writes_nothing_when_only_send_may(state: dict[str, Any]) -> None:
    waiting = cycle(**state)
    assert write_body(waiting, b"data: {}\n\n") is False
    assert waiting.transport.data == b""


def test_a_closing_transport_is_left_to_send() -> None:
    closing = cycle()
    closing.transport.closing = True
    assert write_body(closing, b"x") is False and closing.transport.data == b""
