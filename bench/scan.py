"""The subscriber's byte scanner: finds step and control events in raw SSE bytes, no JSON parsing.

The writer puts its send time in the step text (`bench <index> <time.monotonic()>`), so a subscriber
in another process computes fan-out latency on arrival without joining timestamps afterwards
(CLOCK_MONOTONIC is system-wide on Linux). Bytes arrive in arbitrary pieces: an event is scanned only
once its terminating blank line has arrived, and HTTP/1.1 chunked framing is removed first.
"""

from __future__ import annotations

import re

STEP_TEXT_PREFIX = "bench"

# One pass over the bytes finds either a step of ours (index and send time) or a control event.
# Every event is compact JSON (`"text":"..."`, live.sse); the default separators (`"type": "connected"`)
# of older servers are accepted too, so the bench can measure an earlier commit side by side.
EVENT_RE = re.compile(rb'"text": ?"bench (\d+) (\d+\.\d+)"|"type": ?"(connected|reset|archived)"')

MAX_TAIL = 1 << 20  # an event larger than this is not ours; drop it rather than grow forever


def step_text(index: int, sent: float) -> str:
    return f"{STEP_TEXT_PREFIX} {index} {sent:.6f}"


class ChunkedDecoder:
    """Incremental decoder of HTTP/1.1 `Transfer-Encoding: chunked` bodies."""

    __slots__ = ("_pending", "_remaining", "_skip", "done")

    def __init__(self) -> None:
        self._pending = b""
        self._remaining = 0  # bytes of chunk data still to come
        self._skip = 0  # bytes of the CRLF after a chunk still to skip
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + data if self._pending else data
        self._pending = b""
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end and not self.done:
            if self._remaining:
                take = min(self._remaining, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._skip = 2
            elif self._skip:
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    self._pending = buf[pos:]
                    break
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
                pos = eol + 2
                if size == 0:
                    self.done = True
                else:
                    self._remaining = size
        return b"".join(out)


class StreamScanner:
    """Per-stream state: which step indices arrived (a bitmap), duplicates, control events."""

    __slots__ = ("archived", "connected", "count", "duplicates", "resets", "seen", "tail")

    def __init__(self) -> None:
        self.tail = b""
        self.seen = 0  # bit i set: step i arrived
        self.count = 0  # distinct steps
        self.duplicates = 0
        self.connected = False
        self.resets = 0
        self.archived = 0

    def feed(
        self, data: bytes, now: float, latencies: list[float], by_index: dict[int, list[float]] | None = None
    ) -> None:
        """Scan the complete events in `data` (after what is left from earlier pieces). Appends
        `now - send time` (seconds) to `latencies` for every first arrival of a step, and also to
        `by_index[i]` for step index i when given (the fan-out of one kind of request apart)."""
        buf = self.tail + data if self.tail else data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.tail = buf if len(buf) <= MAX_TAIL else b""
            return
        self.tail = buf[cut + 2 :]
        for match in EVENT_RE.finditer(buf, 0, cut):
            index = match.group(1)
            if index is not None:
                bit = 1 << int(index)
                if self.seen & bit:
                    self.duplicates += 1
                else:
                    self.seen |= bit
                    self.count += 1
                    latency = now - float(match.group(2))
                    latencies.append(latency)
                    if by_index is not None and (group := by_index.get(int(index))) is not None:
                        group.append(latency)
            else:
                kind = match.group(3)
                if kind == b"connected":
                    self.connected = True
                elif kind == b"reset":
                    self.resets += 1
                else:
                    self.archived += 1


def mask_of(indices: list[int] | set[int]) -> int:
    mask = 0
    for index in indices:
        mask |= 1 << index
    return mask


def popcount(value: int) -> int:
    return value.bit_count()
