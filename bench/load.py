"""Load clients of the benchmark, each role in a process of its own (started by bench/run.py).

    python bench/load.py SPEC.json

`"mode": "subscribe"`: opens SSE streams at a fixed rate over raw asyncio (uvloop when available),
scans the bytes with one regex (bench/scan.py), prints `{"ready": ...}` once every stream is connected
or has failed, then waits for a JSON line on stdin with the acknowledged steps (`{"acked": {plan_index:
hex bitmap}, "drain": seconds}`), waits until every open stream has all of them (or the drain time is
up), and prints the result. Fan-out latency is measured on arrival: the step text carries the writer's
`time.monotonic()` at send time.

`"mode": "http"`: open-loop requests: request i is sent at start + i / rate whether or not earlier ones
have been answered (aiohttp, a small pool of keep-alive connections; it adds less client-side time
per request than httpx, and the latencies should be the server's), so queueing shows in the
latencies. Step POSTs carry `bench <index> <send time>` as their text (and so do edits, whose
`step_updated` event the subscribers scan the same way). Prints the per-request records.

Only JSON lines go to stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scan import ChunkedDecoder, StreamScanner, step_text
from bench.stats import summarize

monotonic = time.monotonic


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- subscribers ------------------------------------------------------------------------------------


class Stream:
    __slots__ = (
        "chunked",
        "closed",
        "connected_at",
        "decoder",
        "error",
        "head",
        "head_done",
        "host",
        "plan_idx",
        "port",
        "request",
        "scanner",
        "started",
        "status",
        "transport",
    )

    def __init__(self, host: str, port: int, plan_idx: int, request: bytes) -> None:
        self.host = host
        self.port = port
        self.plan_idx = plan_idx
        self.request = request
        self.scanner = StreamScanner()
        self.decoder: ChunkedDecoder | None = None
        self.head = b""
        self.head_done = False
        self.status = 0
        self.started = 0.0
        self.connected_at: float | None = None
        self.closed = False
        self.error: str | None = None
        self.transport: asyncio.Transport | None = None

    @property
    def resolved(self) -> bool:
        return self.connected_at is not None or self.closed

    @property
    def open(self) -> bool:
        return self.connected_at is not None and not self.closed


class Subscribers:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, first arrival of each step on each stream
        self.groups: dict[str, list[float]] = {}  # the same, of the steps of each named group
        self.by_index: dict[int, list[float]] = {}  # step index -> its group's list
        self.connect_latencies: list[float] = []
        self.unresolved = 0
        self.all_resolved = asyncio.Event()

    def resolved(self) -> None:
        self.unresolved -= 1
        if self.unresolved <= 0:
            self.all_resolved.set()


class StreamProtocol(asyncio.Protocol):
    def __init__(self, stream: Stream, subs: Subscribers) -> None:
        self.stream = stream
        self.subs = subs

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream.transport = transport  # type: ignore[assignment]
        transport.write(self.stream.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = monotonic()
        st = self.stream
        if not st.head_done:
            st.head += data
            end = st.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = st.head[:end], st.head[end + 4 :]
            st.head = b""
            st.head_done = True
            try:
                st.status = int(head.split(b" ", 2)[1])
            except (IndexError, ValueError):
                st.status = 0
            if st.status != 200:
                st.error = f"HTTP {st.status}: {data[:200].decode('latin-1', 'replace')}"
                self._finish()
                st.transport.close()  # type: ignore[union-attr]
                return
            if b"transfer-encoding: chunked" in head.lower():
                st.decoder = ChunkedDecoder()
            if not data:
                return
        if st.decoder is not None:
            data = st.decoder.feed(data)
        scanner = st.scanner
        scanner.feed(data, now, self.subs.latencies, self.subs.by_index or None)
        if st.connected_at is None and scanner.connected:
            st.connected_at = now
            self.subs.connect_latencies.append(now - st.started)
            self.subs.resolved()

    def _finish(self) -> None:
        st = self.stream
        if not st.closed:
            was_resolved = st.resolved
            st.closed = True
            if not was_resolved:
                self.subs.resolved()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream.error is None:
            self.stream.error = f"closed: {exc!r}" if exc else "closed by the server"
        self._finish()


async def open_stream(loop: asyncio.AbstractEventLoop, st: Stream, subs: Subscribers) -> None:
    st.started = monotonic()
    try:
        await loop.create_connection(lambda: StreamProtocol(st, subs), st.host, st.port)
    except OSError as exc:
        st.error = f"connect: {exc!r}"
        st.closed = True
        subs.resolved()


async def read_stdin_line(loop: asyncio.AbstractEventLoop) -> str:
    return await loop.run_in_executor(None, sys.stdin.readline)


async def subscribe(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    targets = [tuple(t) for t in spec["targets"]]  # [(host, port)], streams spread round-robin
    # `header_sets` (optional): stream i sends set i % len, e.g. a token per viewer of a plan.
    header_sets = [
        "".join(f"{k}: {v}\r\n" for k, v in {**spec["headers"], **extra}.items())
        for extra in spec.get("header_sets") or [{}]
    ]
    plans: list[str] = spec["plans"]
    streams = []
    for i, plan_idx in enumerate(spec["stream_plans"]):
        host, port = targets[i % len(targets)]
        headers = header_sets[i % len(header_sets)]
        request = (
            f"GET /api/plan/{plans[plan_idx]}/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Accept: text/event-stream\r\nCache-Control: no-cache\r\n{headers}\r\n"
        ).encode("latin-1")
        streams.append(Stream(host, port, plan_idx, request))
    subs = Subscribers()
    for name, indices in spec.get("groups", {}).items():  # {"edits": [step index, ...]}: fan-out apart
        subs.groups[name] = group = []
        subs.by_index.update(dict.fromkeys(indices, group))
    subs.unresolved = len(streams)
    if not streams:
        subs.all_resolved.set()
    rate = float(spec.get("open_rate", 100))
    cpu0, t0 = cpu_seconds(), monotonic()
    tasks = []
    for i, st in enumerate(streams):
        delay = t0 + i / rate - monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(open_stream(loop, st, subs)))
    timeout = float(spec.get("connect_timeout", 30))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(subs.all_resolved.wait(), timeout)
    for st in streams:
        if not st.resolved:
            st.error = "no `connected` event within the connect timeout"
            st.closed = True
            if st.transport is not None:
                st.transport.close()
    opened_s = monotonic() - t0
    emit(
        {
            "ready": True,
            "attempted": len(streams),
            "connected": sum(1 for st in streams if st.connected_at is not None),
            "open": sum(1 for st in streams if st.open),
            "open_s": opened_s,
        }
    )

    cpu_ready, t_ready = cpu_seconds(), monotonic()
    line = await read_stdin_line(loop)
    # How busy this process was while the steps were sent: near 1.0 means the client, not the
    # server, may be what delays deliveries.
    busy_share = (cpu_seconds() - cpu_ready) / max(1e-9, monotonic() - t_ready)
    command = json.loads(line) if line.strip() else {}
    acked = {int(k): int(v, 16) for k, v in command.get("acked", {}).items()}
    drain_deadline = monotonic() + float(command.get("drain", 10))
    drain_started = monotonic()

    def missing() -> int:
        count = 0
        for st in streams:
            want = acked.get(st.plan_idx, 0)
            if st.open and st.scanner.seen & want != want:
                count += 1
        return count

    while missing() and monotonic() < drain_deadline:
        await asyncio.sleep(0.05)
    drain_s = monotonic() - drain_started
    open_at_end = sum(1 for st in streams if st.open)
    lost_midway = sum(1 for st in streams if st.connected_at is not None and st.closed)
    errors: dict[str, int] = {}
    for st in streams:
        if not st.open:
            errors[st.error or "?"] = errors.get(st.error or "?", 0) + 1
    incomplete = []  # for diagnosis: open streams still missing acknowledged steps, and which
    for index, st in enumerate(streams):
        want = acked.get(st.plan_idx, 0)
        if st.open and st.scanner.seen & want != want and len(incomplete) < 20:
            gone = want & ~st.scanner.seen
            incomplete.append([index, [bit for bit in range(gone.bit_length()) if gone >> bit & 1][:20]])
    for st in streams:
        if st.transport is not None and not st.transport.is_closing():
            st.transport.abort()
    emit(
        {
            "result": True,
            "attempted": len(streams),
            "connected": sum(1 for st in streams if st.connected_at is not None),
            "open_at_end": open_at_end,
            "closed_after_connect": lost_midway,
            "open_s": opened_s,
            "drain_s": drain_s,
            "connect_ms": summarize(subs.connect_latencies, 1000),
            "fanout_ms": summarize(subs.latencies, 1000),
            "group_fanout_ms": {name: summarize(group, 1000) for name, group in subs.groups.items()},
            "events": len(subs.latencies),
            "duplicates": sum(st.scanner.duplicates for st in streams),
            "resets": sum(st.scanner.resets for st in streams),
            "streams": [[st.plan_idx, format(st.scanner.seen, "x"), st.scanner.duplicates] for st in streams],
            "stream_errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
            "incomplete_streams": incomplete,
            "cpu_s": cpu_seconds() - cpu0,
            "busy_share": busy_share,
        }
    )


# --- open-loop HTTP ---------------------------------------------------------------------------------


def request_body(req: dict[str, Any], i: int, sent: float) -> dict[str, Any]:
    """A request's JSON body: `$TEXT` becomes the step text with the send time (so that the edit's
    event is scanned like a new step's), `$TOGGLE` true and false in turn, `$CHOICE` the next of
    `choices`."""
    round_ = i // max(1, int(req.get("period", 1)))
    body: dict[str, Any] = {}
    for key, value in req["body"].items():
        if value == "$TEXT":
            value = step_text(i, sent)
        elif value == "$TOGGLE":
            value = round_ % 2 == 0
        elif value == "$CHOICE":
            value = req["choices"][round_ % len(req["choices"])]
        body[key] = value
    return body


async def http_load(spec: dict[str, Any]) -> None:
    import aiohttp

    bases: list[str] = spec["bases"]
    variants: list[dict[str, Any]] = spec["requests"]
    rate = float(spec["rate"])
    count = int(spec["count"])
    records: list[list[Any]] = []
    errors: dict[str, int] = {}
    json_type = {"Content-Type": "application/json"}

    connector = aiohttp.TCPConnector(limit=int(spec.get("max_connections", 16)))  # keep-alive pool
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 30)))
    async with aiohttp.ClientSession(
        headers=spec["headers"], connector=connector, timeout=timeout
    ) as session:
        order: list[int] | None = spec.get("order")  # request i is of variant order[i]; else in turn

        async def one(i: int, scheduled: float) -> None:
            variant = order[i] if order else i % len(variants)
            req = variants[variant]
            url = bases[i % len(bases)] + req["path"]
            sent = monotonic()
            step_id = None
            try:
                if "body" in req:
                    body = json.dumps(request_body(req, i, sent), separators=(",", ":")).encode()
                    request = session.request(req["method"], url, data=body, headers=json_type)
                elif req["method"] == "POST" and "plan_id" in req:
                    # The same bytes httpx's `json=` sent: compact, UTF-8.
                    body = json.dumps(
                        {"plan_id": req["plan_id"], "text": step_text(i, sent)},
                        ensure_ascii=False,
                        separators=(",", ":"),
                    ).encode()
                    request = session.post(url, data=body, headers=json_type)
                else:
                    request = session.request(req["method"], url, headers=req.get("headers"))
                async with request as response:
                    content = await response.read()
                    latency = monotonic() - sent
                status = response.status
                if status == 200 and req["method"] != "GET":
                    step_id = (json.loads(content).get("step") or {}).get("id")
                elif status != 200:
                    key = f"HTTP {status}: {content[:120].decode('utf-8', 'replace')}"
                    errors[key] = errors.get(key, 0) + 1
                records.append(
                    [i, variant, status, latency * 1000, (sent - scheduled) * 1000, len(content), step_id]
                )
            except Exception as exc:  # a failed request is a data point, not a crash
                key = f"{type(exc).__name__}: {exc}"[:200]
                errors[key] = errors.get(key, 0) + 1
                records.append(
                    [i, variant, 0, (monotonic() - sent) * 1000, (sent - scheduled) * 1000, 0, None]
                )

        cpu0, t0 = cpu_seconds(), monotonic() + 0.05
        tasks = []
        for i in range(count):
            scheduled = t0 + i / rate
            delay = scheduled - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(i, scheduled)))
        if tasks:
            await asyncio.wait(tasks)
    records.sort()
    emit(
        {
            "result": True,
            "records": records,
            "errors": errors,
            "elapsed_s": monotonic() - t0,
            "cpu_s": cpu_seconds() - cpu0,
        }
    )


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    if spec["mode"] == "subscribe":
        runner(subscribe(spec))
    elif spec["mode"] == "http":
        runner(http_load(spec))
    else:
        raise SystemExit(f"unknown mode {spec['mode']!r}")


if __name__ == "__main__":
    main()
