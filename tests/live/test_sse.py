"""SSE framing and ids (live.sse): the bytes every stream, replay and Pushpin publish send."""

from __future__ import annotations

import pytest

from live import sse


def test_a_json_event_is_one_compact_data_line_with_its_id() -> None:
    frame = sse.json_frame({"type": "step", "text": "Zoë"}, id="plan-x:3")
    assert frame == 'id: plan-x:3\ndata: {"type":"step","text":"Zoë"}\n\n'.encode()


def test_retry_and_event_name_come_before_the_data() -> None:
    assert sse.frame("hi", id="c:1", event="step_html", retry_ms=2000) == (
        b"retry: 2000\nid: c:1\nevent: step_html\ndata: hi\n\n"
    )


def test_only_cr_and_lf_split_data_lines() -> None:
    """A client joins data lines back with LF; Unicode line separators are text and stay."""
    frame = sse.frame("a\nb\r\nc\rd\u2028e\u2029f\x85g\x0bh")
    assert frame == "data: a\ndata: b\ndata: c\ndata: d\u2028e\u2029f\x85g\x0bh\n\n".encode()


def test_json_data_never_holds_a_raw_line_break() -> None:
    frame = sse.json_frame({"text": "two\nlines\r\u2028"})
    assert frame.count(b"\n") == 2 and "\u2028".encode() in frame


@pytest.mark.parametrize(
    ("value", "expected"),
    [("plan-x:7", 7), ("7", 7), ("other:1,plan-x:9", 9), ("  ", None), ("", None)],
)
def test_last_event_id_forms(value: str, expected: int | None) -> None:
    assert sse.parse_last_event_id(value, "plan-x") == expected


@pytest.mark.parametrize("value", ["plan-x:", "plan-x:-1", "x" * 30, "plan-y:3", "1" * 19])
def test_malformed_or_foreign_last_event_ids_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        sse.parse_last_event_id(value, "plan-x")
