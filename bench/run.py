"""The load benchmark (`make bench`, issue 8): starts the app, seeds it, drives it, reports.

    .venv/bin/python bench/run.py                      # quick, embedded SQLite, one daphne (< 3 min)
    .venv/bin/python bench/run.py --mode full          # full sizes, 3 runs, plus the 5-minute soak
    .venv/bin/python bench/run.py --database-url postgres://postgres@127.0.0.1:5432/aep_bench \\
        --redis-url redis://127.0.0.1:6379/8 --processes 2
    .venv/bin/python bench/run.py --sweep 10,100,500,1000,2000 --json bench/results/sweep.json
    .venv/bin/python bench/run.py --check              # CI: exit 1 on incompleteness, never on latency

The server runs as in production (DEBUG=0, the same ASGI app, daphne or uvicorn, N processes sharing
PostgreSQL and Redis, optionally Pushpin in front). The load comes from separate processes
(bench/load.py): one holds every SSE stream, another sends requests open-loop at a fixed rate, so
parsing tens of thousands of events per second never delays the writer and queueing shows in the
latencies. All of them share this machine's cores with the server: compare runs side by side, on the
same machine, rather than against absolute numbers.

Scenarios: (a) many subscribers on one plan while steps are added; (b) many plans with one subscriber
each; (c) the list API for an org with 10,000 plans; (d) step add on a plan of 10 steps vs one of
10,000, and GET of the large plan; (e) a soak with 1,000 streams (full mode only).

Latency figures are the median across runs of each percentile; correctness figures (retention,
completeness, duplicates, lost, errors) are the worst run. Results go to bench/results/ as JSON
(every run kept) next to the table printed here.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import queue
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.scan import mask_of  # noqa: E402
from bench.stats import median_of_runs, summarize  # noqa: E402
from ops.processes import ServerProcess, free_port, production_env  # noqa: E402
from ops.pushpin import PushpinProcess  # noqa: E402

PY = Path(sys.executable)
BIN = PY.parent
LOAD = ROOT / "bench" / "load.py"
SEED = ROOT / "bench" / "seed.py"
RESULTS = ROOT / "bench" / "results"
ALL_SCENARIOS = "abcdefg"


@dataclass
class Sizes:
    a_subscribers: int = 200
    a_rate: float = 50.0
    a_duration: float = 5.0
    b_plans: int = 200
    b_rate: float = 50.0
    b_duration: float = 5.0
    c_plans: int = 10_000
    c_other_plans: int = 1_000
    c_rate: float = 50.0
    c_duration: float = 5.0
    d_small_steps: int = 10
    # The largest plan the step cap (MAX_STEPS_PER_PLAN, 2,000) leaves room for, with (d)'s adds.
    d_large_steps: int = 1_600
    d_rate: float = 20.0  # per plan
    d_duration: float = 5.0
    d_get_rate: float = 10.0
    d_get_duration: float = 5.0
    e_streams: int = 1_000
    e_rate: float = 5.0
    e_seconds: float = 300.0
    open_rate: float = 100.0  # new streams per second
    drain: float = 10.0  # seconds to wait for the last deliveries after the last acknowledgement
    sweep_rate: float = 20.0
    sweep_steps: int = 50
    f_subscribers: int = 200
    f_rate: float = 50.0  # operations per second, all kinds together
    f_duration: float = 5.0
    g_plans: int = 50
    g_viewers: int = 4
    g_rate: float = 50.0  # adds and edits per second across the plans
    g_duration: float = 5.0
    g_open_rate: float = 200.0


QUICK = Sizes()
FULL = Sizes(
    a_subscribers=1_000,
    a_duration=20.0,
    b_plans=1_000,
    b_duration=20.0,
    c_other_plans=2_000,
    c_duration=20.0,
    d_duration=20.0,
    d_get_duration=20.0,
    f_subscribers=1_000,
    f_duration=20.0,
    g_plans=1_000,
    g_viewers=10,
    g_duration=20.0,
    g_open_rate=500.0,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- machine and processes ---------------------------------------------------------------------------


def _proc_status(pid: int, key: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _proc_cpu_s(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def machine_info() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    versions = {}
    for name in ("django", "daphne", "uvicorn", "django-eventstream", "aiohttp", "psycopg", "redis"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "mem_total_mb": round(mem_kb / 1024) if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "versions": versions,
    }


class Topology:
    """The server side: N daphne or uvicorn processes on N ports, optionally Pushpin in front."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], workdir: Path) -> None:
        self.kind = args.server
        self.processes = args.processes
        self.api_processes = args.api_processes
        self.use_pushpin = args.pushpin
        self.env = env
        self.workdir = workdir
        self.ports: list[int] = []
        self.servers: list[ServerProcess] = []
        self.pushpin: Any = None
        self.starts = 0

    def describe(self) -> dict[str, Any]:
        return {
            "server": self.kind,
            "processes": self.processes,
            "api_processes": self.api_processes,
            "pushpin": self.use_pushpin,
            "database": "postgresql" if self.env.get("DATABASE_URL") else "sqlite (embedded)",
            "redis": bool(self.env.get("REDIS_URL")),
        }

    def start(self) -> None:
        self.starts += 1
        self.ports = [free_port() for _ in range(self.processes)]
        env = dict(self.env)
        if self.use_pushpin:
            key = secrets.token_hex(16)
            self.pushpin = PushpinProcess(
                self.workdir / f"pushpin-{self.starts}", free_port(), self.ports, key=key
            )
            env["GRIP_URL"], env["GRIP_KEY"] = self.pushpin.grip_url, key
        if "PROMETHEUS_MULTIPROC_DIR" in env:
            prom = Path(env["PROMETHEUS_MULTIPROC_DIR"])
            for stale in prom.glob("*.db"):
                stale.unlink()
        self.servers = [
            ServerProcess(
                env,
                server=self.kind,
                port=port,
                log_path=self.workdir / f"server-{self.starts}-{index}.log",
                ready_path="/api/plan/list",  # answered (401) without the database
            ).launch()
            for index, port in enumerate(self.ports)
        ]
        for server in self.servers:
            server.wait_ready(timeout=60)
        if self.pushpin is not None:
            self.pushpin.start()

    def stop(self) -> None:
        if self.pushpin is not None:
            with contextlib.suppress(Exception):
                self.pushpin.stop()
            self.pushpin = None
        for server in self.servers:
            server.stop()
        self.servers = []

    def alive(self) -> bool:
        return all(server.running() for server in self.servers)

    @property
    def stream_targets(self) -> list[tuple[str, int]]:
        if self.pushpin is not None:
            return [("127.0.0.1", self.pushpin.http_port)]
        return [("127.0.0.1", port) for port in self.ports[self.api_processes :]]

    @property
    def write_bases(self) -> list[str]:
        """Where requests other than streams go: the first `--api-processes` ports, if set (a load
        balancer routing /api/plan/*/stream to the other processes), else every process."""
        ports = self.ports[: self.api_processes] or self.ports
        return [f"http://127.0.0.1:{port}" for port in ports]

    def pids(self) -> list[int]:
        return [server.process.pid for server in self.servers if server.process is not None]

    def rss_mb(self) -> float:
        return sum(_proc_status(pid, "VmRSS") or 0 for pid in self.pids()) / 1024

    def process_rss_kb(self) -> dict[str, int]:
        """RSS of every process that serves streams: each app server, and Pushpin's own processes
        (condure holds the client connections, pushpin-handler the held sessions)."""
        out = {f"{self.kind}-{i}": _proc_status(pid, "VmRSS") or 0 for i, pid in enumerate(self.pids())}
        if self.pushpin is not None and self.pushpin.process is not None:
            runner = self.pushpin.process.pid
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                    if runner in (int(proc.name), int(stat[1])):  # the runner, and the services it started
                        name = (proc / "comm").read_text().strip()
                        out[f"pushpin:{name}"] = _proc_status(int(proc.name), "VmRSS") or 0
        return out

    def streams_held(self, streams: int, names: list[str]) -> dict[str, float]:
        """How many of `streams` (spread round-robin over `stream_targets`) each of the processes
        `names` (as `process_rss_kb` names them) holds."""
        if self.pushpin is not None:
            return {name: (streams if name.startswith("pushpin:") else 0) for name in names}
        stream_ports = self.ports[self.api_processes :]
        return {
            f"{self.kind}-{i}": (streams / len(stream_ports) if port in stream_ports else 0)
            for i, port in enumerate(self.ports)
        }

    def threads(self) -> int:
        return sum(_proc_status(pid, "Threads") or 0 for pid in self.pids())

    def cpu_s(self) -> float:
        return sum(_proc_cpu_s(pid) for pid in self.pids())


def memory_per_stream(
    before: dict[str, int], after: dict[str, int], held: dict[str, float]
) -> dict[str, Any]:
    """RSS growth per open stream in each process (KB), from before the streams opened to once they
    were all connected; a process that holds none reports its growth per stream of the whole load."""
    total = max(held.values(), default=0) or 1
    return {
        name: {
            "rss_before_kb": before.get(name, 0),
            "rss_connected_kb": rss,
            "streams": held.get(name, 0),
            "kb_per_stream": round((rss - before.get(name, 0)) / (held.get(name) or total), 2),
        }
        for name, rss in after.items()
    }


# --- load processes ---------------------------------------------------------------------------------


class LoadProcess:
    """A bench/load.py process; JSON lines from its stdout are read by a thread."""

    def __init__(self, spec: dict[str, Any], workdir: Path, name: str) -> None:
        spec_path = workdir / f"spec-{name}-{time.monotonic_ns()}.json"
        spec_path.write_text(json.dumps(spec))
        self.stderr_path = spec_path.with_suffix(".log")
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [str(PY), str(LOAD), str(spec_path)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"load process gave no answer within {timeout:.0f} s") from None
            if line is None:
                raise RuntimeError(f"load process ended early:\n{self.stderr_tail()}")
            if line.strip():
                return json.loads(line)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_text(errors="replace")[-3000:]
        return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def shuffled_rounds(
    kinds: list[str], count: int, keep_together: list[tuple[str, ...]] | None = None, seed: int = 16
) -> list[int]:
    """The kind (its index in `kinds`) of each of `count` requests: rounds of every kind once, each
    round in its own random order (seeded, so that runs are alike), so that no kind always follows
    the same others. In a fixed order, (f)'s step adds always came after the two moves in plans
    nobody watches and every other kind after a fan-out to all the subscribers: the figures compared
    places in the cycle, not operations. The kinds of each `keep_together` group stay next to each
    other in that order (a restore needs its delete)."""
    rng = random.Random(seed)
    groups = [list(group) for group in keep_together or []]
    grouped = {kind for group in groups for kind in group}
    blocks = groups + [[kind] for kind in kinds if kind not in grouped]
    index = {kind: i for i, kind in enumerate(kinds)}
    order: list[int] = []
    while len(order) < count:
        rng.shuffle(blocks)
        order.extend(index[kind] for block in blocks for kind in block)
    return order[:count]


def run_http(spec: dict[str, Any], workdir: Path, timeout: float) -> dict[str, Any]:
    load = LoadProcess({"mode": "http", **spec}, workdir, "http")
    try:
        return load.read(timeout)
    finally:
        load.close()


def http_records(result: dict[str, Any], variant: int | None = None) -> list[list[Any]]:
    return [r for r in result["records"] if variant is None or r[1] == variant]


def ok_latencies(records: list[list[Any]]) -> list[float]:
    return [r[3] for r in records if r[2] == 200]


def failed(records: list[list[Any]]) -> int:
    return sum(1 for r in records if r[2] != 200)


# --- correctness accounting -------------------------------------------------------------------------


def completeness(streams: list[list[Any]], acked: dict[int, int]) -> dict[str, Any]:
    """Deliveries against acknowledged steps. `streams` rows are [plan index, hex bitmap of step
    indices seen, duplicates]; `acked` maps a plan index to the bitmap of its acknowledged steps. A
    stream that never connected expects its plan's steps too (and received none)."""
    expected = received = unacked = 0
    for plan_idx, seen_hex, _dups in streams:
        seen = int(seen_hex, 16)
        mask = acked.get(plan_idx, 0)
        expected += mask.bit_count()
        received += (seen & mask).bit_count()
        unacked += (seen & ~mask).bit_count()
    return {
        "expected": expected,
        "received": received,
        "unacknowledged_deliveries": unacked,
        "value": received / expected if expected else None,
    }


def plan_duplicates(steps: list[dict[str, Any]]) -> int:
    """Steps that appear more than once in a plan: repeated ids, or a bench step index written twice
    (the writer never retries, so each index is one POST)."""
    ids = Counter(step["id"] for step in steps)
    indices = Counter(
        step["text"].split(" ")[1] for step in steps if step.get("text", "").startswith("bench ")
    )
    return sum(n - 1 for n in ids.values() if n > 1) + sum(n - 1 for n in indices.values() if n > 1)


# --- the benchmark ----------------------------------------------------------------------------------


@dataclass
class Context:
    token: str
    org: str
    big_org: str | None = None
    big_plans: int = 0
    small_org: str | None = None
    small_plans: int = 0
    plans: list[str] = field(default_factory=list)
    small_plan: str | None = None
    large_plan: str | None = None


class Bench:
    def __init__(self, args: argparse.Namespace, sizes: Sizes, env: dict[str, str], workdir: Path) -> None:
        self.args = args
        self.sizes = sizes
        self.env = env
        self.workdir = workdir
        self.topology = Topology(args, env, workdir)
        self.ctx: Context | None = None
        self.warm_plan: str | None = None

    # -- setup --

    def manage(self, *argv: str, timeout: float = 600) -> str:
        return subprocess.run(
            [str(PY), *argv],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        ).stdout

    def seed(self, *argv: str) -> dict[str, Any]:
        out = self.manage(str(SEED), *argv)
        return json.loads(out.strip().splitlines()[-1])

    def setup(self, scenarios: list[str]) -> None:
        started = time.monotonic()
        self.manage("manage.py", "migrate", "--noinput", "-v0")
        log(f"migrated in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        run_id = (
            "bench-" + datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
        )
        big = self.sizes.c_plans if "c" in scenarios else 0
        base = self.seed(
            "base",
            "--run-id",
            run_id,
            "--big-plans",
            str(big),
            "--other-plans",
            str(self.sizes.c_other_plans),
        )
        self.ctx = Context(
            token=base["token"],
            org=base["org"],
            big_org=base.get("big_org"),
            big_plans=big,
            small_org=base.get("small_org"),
            small_plans=base.get("small_plans", 0),
        )
        log(f"seeded the base (org with {big} plans) in {time.monotonic() - started:.1f} s")

    def seed_run(self, scenarios: list[str], sweep: list[int]) -> None:
        assert self.ctx is not None
        s = self.sizes
        count = 1  # warm-up
        count += ("a" in scenarios) + ("e" in scenarios) + ("f" in scenarios) + len(sweep)
        count += s.b_plans if "b" in scenarios else 0
        argv = ["plans", "--org", self.ctx.org, "--count", str(count)]
        if "d" in scenarios or "f" in scenarios:
            argv += ["--small-steps", str(s.d_small_steps), "--large-steps", str(s.d_large_steps)]
        started = time.monotonic()
        seeded = self.seed(*argv)
        self.ctx.plans = seeded["plans"]
        self.warm_plan = None
        self.ctx.small_plan = seeded.get("small_plan")
        self.ctx.large_plan = seeded.get("large_plan")
        log(f"seeded {count} plans for this run in {time.monotonic() - started:.1f} s")

    def take_plans(self, n: int) -> list[str]:
        assert self.ctx is not None
        taken, self.ctx.plans = self.ctx.plans[:n], self.ctx.plans[n:]
        if len(taken) < n:
            raise RuntimeError("ran out of seeded plans")
        return taken

    def headers(self, org: str | None = None) -> dict[str, str]:
        assert self.ctx is not None
        return {"Authorization": f"Token {self.ctx.token}", "X-Org-Id": org or self.ctx.org}

    def warm_up(self, reads: bool = True) -> None:
        """A few unmeasured requests of every kind, so that no scenario pays for first-use costs."""
        import httpx

        assert self.ctx is not None
        if self.warm_plan is None:
            self.warm_plan = self.take_plans(1)[0]
        plan = self.warm_plan
        for base in self.topology.write_bases:
            with httpx.Client(base_url=base, headers=self.headers(), timeout=30) as client:
                for i in range(5):
                    r = client.post("/api/plan/step", json={"plan_id": plan, "text": f"warm-up {i}"})
                    r.raise_for_status()
                client.get(f"/api/plan/{plan}").raise_for_status()
                if self.ctx.big_org and reads:
                    r = client.get("/api/plan/list", headers={"X-Org-Id": self.ctx.big_org})
                    r.raise_for_status()
                    if r.json()["count"] != self.ctx.big_plans:
                        raise RuntimeError(
                            f"the big org lists {r.json()['count']} plans, not {self.ctx.big_plans}"
                        )
                if self.ctx.large_plan and reads:
                    client.get(f"/api/plan/{self.ctx.large_plan}").raise_for_status()

    # -- verification through the API --

    def verify(self, plans: list[str], acked_ids: dict[int, set[str]]) -> dict[str, int]:
        """GET each plan: acknowledged steps missing from it (lost), steps in it twice (duplicates)."""
        import httpx

        base = self.topology.write_bases[0]

        def check(item: tuple[int, str]) -> tuple[int, int, int]:
            index, plan_id = item
            with httpx.Client(base_url=base, headers=self.headers(), timeout=60) as client:
                response = client.get(f"/api/plan/{plan_id}")
            if response.status_code != 200:
                return 0, 0, 1
            steps = response.json()["steps"]
            present = {step["id"] for step in steps}
            return len(acked_ids.get(index, set()) - present), plan_duplicates(steps), 0

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(check, enumerate(plans)))
        return {
            "lost": sum(r[0] for r in results),
            "duplicates": sum(r[1] for r in results),
            "errors": sum(r[2] for r in results),
        }

    # -- scenarios --

    def stream_scenario(
        self,
        plans: list[str],
        stream_plans: list[int],
        rate: float,
        count: int,
        requests: list[dict[str, Any]] | None = None,
        header_sets: list[dict[str, str]] | None = None,
        open_rate: float | None = None,
    ) -> dict[str, Any]:
        """Streams open at a fixed rate, then `count` requests at `rate`: by default a step added to
        each of `plans` in turn; `requests` (each naming its `plan_idx`) may mix in edits, whose
        text the subscribers scan like a step's. Stream i sends `header_sets[i % len]`, if given."""
        topo = self.topology
        rss_before = topo.rss_mb()
        processes_before = topo.process_rss_kb()
        open_rate = open_rate or self.sizes.open_rate
        subscriber = LoadProcess(
            {
                "mode": "subscribe",
                "targets": topo.stream_targets,
                "headers": self.headers(),
                "header_sets": header_sets,
                "plans": plans,
                "stream_plans": stream_plans,
                "open_rate": open_rate,
                "connect_timeout": 30,
            },
            self.workdir,
            "subscribe",
        )
        try:
            ready = subscriber.read(timeout=len(stream_plans) / open_rate + 90)
            rss_connected, threads_connected = topo.rss_mb(), topo.threads()
            processes_connected = topo.process_rss_kb()
            memory = memory_per_stream(
                processes_before,
                processes_connected,
                topo.streams_held(len(stream_plans), list(processes_connected)),
            )
            cpu0 = topo.cpu_s()
            requests = requests or [
                {"method": "POST", "path": "/api/plan/step", "plan_id": plan_id, "plan_idx": index}
                for index, plan_id in enumerate(plans)
            ]
            writer = run_http(
                {
                    "bases": topo.write_bases,
                    "headers": self.headers(),
                    "rate": rate,
                    "count": count,
                    "requests": requests,
                },
                self.workdir,
                timeout=count / rate + 120,
            )
            acked_bits: dict[int, list[int]] = {}
            acked_ids: dict[int, set[str]] = {}
            for i, variant, status, *_rest, step_id in writer["records"]:
                if status == 200:
                    request = requests[variant]
                    acked_bits.setdefault(request["plan_idx"], []).append(i)
                    if request["path"] == "/api/plan/step":  # an add: its step must be stored
                        acked_ids.setdefault(request["plan_idx"], set()).add(step_id)
            acked = {k: mask_of(v) for k, v in acked_bits.items()}
            subscriber.send(
                {"acked": {str(k): format(v, "x") for k, v in acked.items()}, "drain": self.sizes.drain}
            )
            result = subscriber.read(timeout=self.sizes.drain + 120)
            rss_end, cpu_end = topo.rss_mb(), topo.cpu_s()
        finally:
            subscriber.close()
        checked = self.verify(plans, acked_ids)
        complete = completeness(result["streams"], acked)
        records = http_records(writer)
        attempted = result["attempted"]
        python = [v["kb_per_stream"] for k, v in memory.items() if not k.startswith("pushpin:")]
        pushpin = [v["kb_per_stream"] for k, v in memory.items() if k.startswith("pushpin:")]
        figures = {
            "step_add": summarize(ok_latencies(records)),
            "kb_per_stream_python": {"value": max(python) if python else None},
            "kb_per_stream_pushpin": {"value": round(sum(pushpin), 2) if pushpin else None},
            "sse_connect": result["connect_ms"],
            "fanout": result["fanout_ms"],
            "retention": {"value": result["open_at_end"] / attempted if attempted else None},
            "completeness": {"value": complete["value"]},
            "duplicates": {"value": result["duplicates"] + checked["duplicates"]},
            "lost": {"value": checked["lost"]},
            "errors": {"value": failed(records) + checked["errors"]},
        }
        details = {
            "plans": len(plans),
            "streams": attempted,
            "steps_sent": count,
            "steps_acknowledged": sum(len(v) for v in acked_bits.values()),
            "rate": rate,
            "connected": result["connected"],
            "open_at_end": result["open_at_end"],
            "closed_after_connect": result["closed_after_connect"],
            "streams_opened_in_s": round(result["open_s"], 3),
            "ready": ready,
            "drain_s": round(result["drain_s"], 3),
            "expected_deliveries": complete["expected"],
            "received_deliveries": complete["received"],
            "unacknowledged_deliveries": complete["unacknowledged_deliveries"],
            "stream_duplicates": result["duplicates"],
            "plan_duplicates": checked["duplicates"],
            "resets": result["resets"],
            "stream_errors": result["stream_errors"],
            "incomplete_streams": result.get("incomplete_streams"),
            "request_errors": writer["errors"],
            "writer_lag_ms": summarize(r[4] for r in records),
            "writer_elapsed_s": round(writer["elapsed_s"], 3),
            "server_rss_mb": {"before": rss_before, "connected": rss_connected, "end": rss_end},
            "memory_per_stream": memory,
            "server_threads_connected": threads_connected,
            "server_cpu_s_while_writing": round(cpu_end - cpu0, 2),
            "subscriber_cpu_s": round(result["cpu_s"], 2),
            "subscriber_busy_share_while_writing": round(result["busy_share"], 3),
            "writer_cpu_s": round(writer["cpu_s"], 2),
            "writer_busy_share": round(writer["cpu_s"] / max(1e-9, writer["elapsed_s"]), 3),
        }
        return {"figures": figures, "details": details}

    def scenario_a(self) -> dict[str, Any]:
        s = self.sizes
        return self.stream_scenario(
            self.take_plans(1), [0] * s.a_subscribers, s.a_rate, round(s.a_rate * s.a_duration)
        )

    def scenario_b(self) -> dict[str, Any]:
        s = self.sizes
        return self.stream_scenario(
            self.take_plans(s.b_plans), list(range(s.b_plans)), s.b_rate, round(s.b_rate * s.b_duration)
        )

    def scenario_g(self) -> dict[str, Any]:
        """Many live viewers on one machine (issue 21): `g_plans` plans with `g_viewers` viewers
        each, every viewer of a plan a different member (so presence has work to do), opened at
        `g_open_rate`; then step adds and edits, half each, at `g_rate` across the plans."""
        assert self.ctx is not None
        s = self.sizes
        seeded = self.seed("plans", "--org", self.ctx.org, "--count", str(s.g_plans), "--steps-each", "1")
        viewers = self.seed("viewers", "--org", self.ctx.org, "--count", str(s.g_viewers))["tokens"]
        plans, first_steps = seeded["plans"], seeded["first_steps"]
        requests = []
        for v in range(2 * s.g_plans):  # adds to the first half of the plans, edits to the second
            edit = v % 2
            plan_idx = (v // 2 + edit * (s.g_plans // 2)) % s.g_plans
            if edit:
                path = f"/api/plan/{plans[plan_idx]}/steps/{first_steps[plan_idx]}"
                requests.append(
                    {"method": "PATCH", "path": path, "body": {"text": "$TEXT"}, "plan_idx": plan_idx}
                )
            else:
                requests.append(
                    {
                        "method": "POST",
                        "path": "/api/plan/step",
                        "plan_id": plans[plan_idx],
                        "plan_idx": plan_idx,
                    }
                )
        out = self.stream_scenario(
            plans,
            [plan_idx for plan_idx in range(s.g_plans) for _ in range(s.g_viewers)],
            s.g_rate,
            round(s.g_rate * s.g_duration),
            requests=requests,
            header_sets=[{"Authorization": f"Token {token}"} for token in viewers],
            open_rate=s.g_open_rate,
        )
        out["details"]["viewers_per_plan"] = s.g_viewers
        return out

    def scenario_e(self) -> dict[str, Any]:
        s = self.sizes
        out = self.stream_scenario(
            self.take_plans(1), [0] * s.e_streams, s.e_rate, round(s.e_rate * s.e_seconds)
        )
        rss = out["details"]["server_rss_mb"]
        out["figures"]["rss_start_mb"] = {"value": rss["before"]}
        out["figures"]["rss_end_mb"] = {"value": rss["end"]}
        del out["figures"]["step_add"]
        out["details"]["step_add_ms"] = summarize(ok_latencies([]))
        return out

    def scenario_c(self) -> dict[str, Any]:
        assert self.ctx is not None and self.ctx.big_org
        s = self.sizes
        offset = max(0, self.ctx.big_plans - self.ctx.big_plans // 10)
        variants = {
            "list_first": "/api/plan/list",
            "list_offset": f"/api/plan/list?offset={offset}",
            "list_archived": "/api/plan/list?archived=true",
        }
        figures: dict[str, Any] = {}
        details: dict[str, Any] = {"org_plans": self.ctx.big_plans, "offset": offset, "rate": s.c_rate}
        errors = 0
        for key, path in variants.items():
            result = run_http(
                {
                    "bases": self.topology.write_bases,
                    "headers": self.headers(self.ctx.big_org),
                    "rate": s.c_rate,
                    "count": round(s.c_rate * s.c_duration),
                    "requests": [{"method": "GET", "path": path}],
                },
                self.workdir,
                timeout=s.c_duration + 120,
            )
            records = http_records(result)
            figures[key] = summarize(ok_latencies(records))
            errors += failed(records)
            details[key] = {
                "path": path,
                "response_bytes": records[0][5] if records else None,
                "request_errors": result["errors"],
                "writer_lag_ms": summarize(r[4] for r in records),
            }
        # The cost stays flat (issue 21): the first page of the big org against that of an org of
        # 100 plans, in turn in one schedule, so that both see the same machine.
        pair = [
            {"method": "GET", "path": "/api/plan/list", "headers": {"X-Org-Id": org}}
            for org in (self.ctx.big_org, self.ctx.small_org)
        ]
        result = run_http(
            {
                "bases": self.topology.write_bases,
                "headers": self.headers(),
                "rate": s.c_rate,
                "count": 2 * round(s.c_rate * s.c_duration),
                "requests": pair,
            },
            self.workdir,
            timeout=2 * s.c_duration + 120,
        )
        figures["list_big_turns"] = summarize(ok_latencies(http_records(result, 0)))
        figures["list_small"] = summarize(ok_latencies(http_records(result, 1)))
        big_p95, small_p95 = figures["list_big_turns"]["p95"], figures["list_small"]["p95"]
        figures["list_ratio"] = {"value": big_p95 / small_p95 if big_p95 and small_p95 else None}
        errors += failed(http_records(result))
        details["small_org_plans"] = self.ctx.small_plans
        figures["errors"] = {"value": errors}
        return {"figures": figures, "details": details}

    def scenario_d(self) -> dict[str, Any]:
        assert self.ctx is not None and self.ctx.small_plan and self.ctx.large_plan
        s = self.sizes
        plans = [self.ctx.small_plan, self.ctx.large_plan]
        # Both plans in one open-loop schedule, alternating, so both see the same conditions.
        writer = run_http(
            {
                "bases": self.topology.write_bases,
                "headers": self.headers(),
                "rate": 2 * s.d_rate,
                "count": 2 * round(s.d_rate * s.d_duration),
                "requests": [{"method": "POST", "path": "/api/plan/step", "plan_id": p} for p in plans],
            },
            self.workdir,
            timeout=s.d_duration + 120,
        )
        small, large = (summarize(ok_latencies(http_records(writer, v))) for v in (0, 1))
        ratio = large["p95"] / small["p95"] if small["p95"] and large["p95"] is not None else None
        getter = run_http(
            {
                "bases": self.topology.write_bases,
                "headers": self.headers(),
                "rate": s.d_get_rate,
                "count": round(s.d_get_rate * s.d_get_duration),
                "requests": [{"method": "GET", "path": f"/api/plan/{self.ctx.large_plan}"}],
            },
            self.workdir,
            timeout=s.d_get_duration + 300,
        )
        acked_ids: dict[int, set[str]] = {}
        for _i, variant, status, *_rest, step_id in writer["records"]:
            if status == 200:
                acked_ids.setdefault(variant, set()).add(step_id)
        checked = self.verify(plans, acked_ids)
        gets = http_records(getter)
        figures = {
            "step_add_small": small,
            "step_add_large": large,
            "step_add_ratio": {"value": ratio},
            "plan_get": summarize(ok_latencies(gets)),
            "duplicates": {"value": checked["duplicates"]},
            "lost": {"value": checked["lost"]},
            "errors": {"value": failed(http_records(writer)) + failed(gets) + checked["errors"]},
        }
        details = {
            "small_steps_at_start": s.d_small_steps,
            "large_steps_at_start": s.d_large_steps,
            "rate_per_plan": s.d_rate,
            "plan_get_rate": s.d_get_rate,
            "plan_get_bytes": gets[0][5] if gets else None,
            "request_errors": {**writer["errors"], **getter["errors"]},
            "writer_lag_ms": summarize(r[4] for r in writer["records"]),
            "getter_lag_ms": summarize(r[4] for r in gets),
        }
        return {"figures": figures, "details": details}

    def add_steps(self, plan_id: str, count: int) -> None:
        import httpx

        with httpx.Client(
            base_url=self.topology.write_bases[0], headers=self.headers(), timeout=60
        ) as client:
            for n in range(count):
                client.post(
                    "/api/plan/step", json={"plan_id": plan_id, "text": f"seed {n}"}
                ).raise_for_status()

    def step_ids(self, plan_id: str) -> list[str]:
        import httpx

        with httpx.Client(
            base_url=self.topology.write_bases[0], headers=self.headers(), timeout=60
        ) as client:
            response = client.get(f"/api/plan/{plan_id}")
        response.raise_for_status()
        return [step["id"] for step in response.json()["steps"]]

    def scenario_f(self) -> dict[str, Any]:
        """Working a plan (issue 16): subscribers on one plan while adds, edits, ticks, moves,
        deletes and restores arrive at a fixed rate, in rounds of each kind once in random order
        (`shuffled_rounds`); and moves in a plan of 10 steps vs one at the cap, alternating, in the
        same schedule."""
        assert self.ctx is not None and self.ctx.small_plan and self.ctx.large_plan
        s = self.sizes
        plan = self.take_plans(1)[0]
        self.add_steps(plan, 6)
        ids = self.step_ids(plan)
        small, large = self.step_ids(self.ctx.small_plan), self.step_ids(self.ctx.large_plan)
        steps = f"/api/plan/{plan}/steps"
        mid = len(large) // 2
        kinds = {
            "step_add": {"method": "POST", "path": "/api/plan/step", "plan_id": plan},
            "step_edit": {"method": "PATCH", "path": f"{steps}/{ids[0]}", "body": {"text": "$TEXT"}},
            "step_tick": {"method": "PATCH", "path": f"{steps}/{ids[1]}", "body": {"done": "$TOGGLE"}},
            "step_move": {
                "method": "POST",
                "path": f"{steps}/{ids[2]}/move",
                "body": {"after": "$CHOICE"},
                "choices": [ids[-1], None],
            },
            "step_delete": {"method": "DELETE", "path": f"{steps}/{ids[3]}"},
            "step_restore": {"method": "POST", "path": f"{steps}/{ids[3]}/restore", "body": {}},
            "move_small": {
                "method": "POST",
                "path": f"/api/plan/{self.ctx.small_plan}/steps/{small[len(small) // 2]}/move",
                "body": {"after": "$CHOICE"},
                "choices": [small[-1], small[0]],
            },
            "move_large": {
                "method": "POST",
                "path": f"/api/plan/{self.ctx.large_plan}/steps/{large[mid]}/move",
                "body": {"after": "$CHOICE"},
                "choices": [large[-1], large[0]],
            },
        }
        requests = [{**spec, "period": len(kinds)} for spec in kinds.values()]
        count = round(s.f_rate * s.f_duration)
        order = shuffled_rounds(list(kinds), count, keep_together=[("step_delete", "step_restore")])
        topo = self.topology
        subscriber = LoadProcess(
            {
                "mode": "subscribe",
                "targets": topo.stream_targets,
                "headers": self.headers(),
                "plans": [plan],
                "stream_plans": [0] * s.f_subscribers,
                # Adds and edits carry the send time in their text: their fan-outs, apart too.
                "groups": {
                    kind: [i for i, variant in enumerate(order) if variant == list(kinds).index(kind)]
                    for kind in ("step_add", "step_edit")
                },
                "open_rate": s.open_rate,
                "connect_timeout": 30,
            },
            self.workdir,
            "subscribe",
        )
        try:
            subscriber.read(timeout=s.f_subscribers / s.open_rate + 90)
            writer = run_http(
                {
                    "bases": topo.write_bases,
                    "headers": self.headers(),
                    "rate": s.f_rate,
                    "count": count,
                    "requests": requests,
                    "order": order,
                },
                self.workdir,
                timeout=count / s.f_rate + 120,
            )
            # Adds and edits carry the send time in their text: the subscribers expect each of them.
            scanned = {list(kinds).index("step_add"), list(kinds).index("step_edit")}
            acked_bits = [
                i for i, variant, status, *_ in writer["records"] if status == 200 and variant in scanned
            ]
            subscriber.send({"acked": {"0": format(mask_of(acked_bits), "x")}, "drain": s.drain})
            result = subscriber.read(timeout=s.drain + 120)
        finally:
            subscriber.close()
        add_ids = {
            step_id
            for _i, variant, status, *_rest, step_id in writer["records"]
            if status == 200 and variant == list(kinds).index("step_add")
        }
        checked = self.verify([plan], {0: add_ids})
        complete = completeness(result["streams"], {0: mask_of(acked_bits)})
        records = http_records(writer)
        figures: dict[str, Any] = {
            kind: summarize(ok_latencies(http_records(writer, index))) for index, kind in enumerate(kinds)
        }
        adds = figures["step_add"]["p95"]
        worst = max((figures[k]["p95"] or 0) for k in ("step_edit", "step_tick", "step_move", "step_delete"))
        figures["ops_vs_add"] = {"value": worst / adds if adds else None}
        small_p95, large_p95 = figures["move_small"]["p95"], figures["move_large"]["p95"]
        figures["move_ratio"] = {"value": large_p95 / small_p95 if small_p95 and large_p95 else None}
        figures.update(
            {
                "sse_connect": result["connect_ms"],
                "fanout": result["fanout_ms"],
                "fanout_adds": result["group_fanout_ms"]["step_add"],
                "fanout_edits": result["group_fanout_ms"]["step_edit"],
                "retention": {
                    "value": result["open_at_end"] / result["attempted"] if result["attempted"] else None
                },
                "completeness": {"value": complete["value"]},
                "duplicates": {"value": result["duplicates"] + checked["duplicates"]},
                "lost": {"value": checked["lost"]},
                "errors": {"value": failed(records) + checked["errors"]},
            }
        )
        adds_p99, edits_p99 = figures["fanout_adds"]["p99"], figures["fanout_edits"]["p99"]
        figures["fanout_edits_vs_adds"] = {"value": edits_p99 / adds_p99 if adds_p99 and edits_p99 else None}
        details = {
            "streams": result["attempted"],
            "operations": count,
            "rate": s.f_rate,
            "kinds": list(kinds),
            "large_plan_steps": len(large),
            "small_plan_steps": len(small),
            "request_errors": writer["errors"],
            "failed_by_kind": {kind: failed(http_records(writer, index)) for index, kind in enumerate(kinds)},
            "expected_deliveries": complete["expected"],
            "received_deliveries": complete["received"],
            "writer_lag_ms": summarize(r[4] for r in records),
        }
        return {"figures": figures, "details": details}

    def sweep_point(self, subscribers: int) -> dict[str, Any]:
        s = self.sizes
        return self.stream_scenario(self.take_plans(1), [0] * subscribers, s.sweep_rate, s.sweep_steps)

    # -- a run --

    def run_once(self, index: int, scenarios: list[str], sweep: list[int]) -> dict[str, Any]:
        run: dict[str, Any] = {"index": index, "started_at": now_iso(), "scenarios": {}}
        self.seed_run(scenarios, sweep)
        started = time.monotonic()
        self.topology.start()
        log(f"run {index + 1}: {self.topology.processes} {self.topology.kind} process(es) up in "
            f"{time.monotonic() - started:.1f} s")  # fmt: skip
        try:
            self.warm_up()
            for position, name in enumerate(scenarios):
                if name in ("e", "g") and position > 0:
                    # These report the servers' memory: start them as fresh processes, not with
                    # what the earlier scenarios left behind (freed memory is reused, not returned).
                    self.topology.stop()
                    self.topology.start()
                    self.warm_up(reads=False)
                started = time.monotonic()
                log(f"run {index + 1}: scenario {name} ...")
                try:
                    result = getattr(self, f"scenario_{name}")()
                    result["error"] = None
                except Exception:
                    result = {"figures": {}, "details": {}, "error": traceback.format_exc()}
                    log(f"run {index + 1}: scenario {name} errored:\n{result['error']}")
                result["wall_s"] = round(time.monotonic() - started, 2)
                result["servers_alive_after"] = self.topology.alive()
                run["scenarios"][name] = result
                log(f"run {index + 1}: scenario {name} done in {result['wall_s']} s")
                if not self.topology.alive():
                    raise RuntimeError("a server process died; see " + str(self.workdir))
            if sweep:
                run["sweep"] = []
                for subscribers in sweep:
                    started = time.monotonic()
                    log(f"run {index + 1}: sweep, {subscribers} subscribers ...")
                    try:
                        point = {"subscribers": subscribers, **self.sweep_point(subscribers), "error": None}
                    except Exception:
                        point = {"subscribers": subscribers, "figures": {}, "error": traceback.format_exc()}
                        log(point["error"])
                    point["wall_s"] = round(time.monotonic() - started, 2)
                    run["sweep"].append(point)
        finally:
            self.topology.stop()
        run["finished_at"] = now_iso()
        return run


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- database ---------------------------------------------------------------------------------------


def ensure_postgres_database(url: str) -> bool:
    """Create the database named in `url` when it does not exist. Returns True when created."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit("--database-url needs a database name")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')  # name comes from the operator's own URL
    return True


def drop_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


# --- summary and output -----------------------------------------------------------------------------


def summarize_sweep(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        for point in run.get("sweep", []):
            points.setdefault(point["subscribers"], []).append(point)
    out = []
    for subscribers, items in sorted(points.items()):
        figures = [p.get("figures", {}) for p in items]
        comp = [
            f["completeness"]["value"] for f in figures if f.get("completeness", {}).get("value") is not None
        ]
        out.append(
            {
                "subscribers": subscribers,
                "fanout": median_of_runs([f["fanout"] for f in figures if "fanout" in f]),
                "step_add": median_of_runs([f["step_add"] for f in figures if "step_add" in f]),
                "sse_connect": median_of_runs([f["sse_connect"] for f in figures if "sse_connect" in f]),
                "completeness": min(comp) if comp else None,
                "duplicates": max((f.get("duplicates", {}).get("value") or 0 for f in figures), default=0),
                "errors": sum(1 for p in items if p.get("error")),
            }
        )
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_sweep(points: list[dict[str, Any]]) -> str:
    head = ("subscribers", "p50", "p95", "p99", "max", "completeness", "duplicates")
    rows = [head]
    for p in points:
        f = p["fanout"]
        comp = "-" if p["completeness"] is None else f"{p['completeness']:.2%}"
        rows.append((str(p["subscribers"]), _ms(f["p50"]), _ms(f["p95"]), _ms(f["p99"]), _ms(f["max"]), comp,
                     str(p["duplicates"])))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["fan-out latency (ms) by subscribers on one plan"]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def load_client_warnings(runs: list[dict[str, Any]], limit: float = 0.8) -> list[str]:
    """Where a load process was nearly saturated: its latencies then include its own delay."""
    warnings = []
    for run in runs:
        items = [(f"scenario {k}", v) for k, v in run["scenarios"].items()]
        items += [(f"sweep {p['subscribers']}", p) for p in run.get("sweep", [])]
        for where, item in items:
            details = item.get("details") or {}
            for key in ("subscriber_busy_share_while_writing", "writer_busy_share"):
                share = details.get(key)
                if share is not None and share > limit:
                    who = key.split("_", 1)[0]
                    warnings.append(
                        f"warning: run {run['index'] + 1}, {where}: the {who} process used {share:.0%} "
                        "of a core; its own delay is part of the latencies"
                    )
    return warnings


def scenario_titles(s: Sizes) -> dict[str, str]:
    return {
        "a": f"(a) one plan, {s.a_subscribers} subscribers, {s.a_rate:g} steps/s for {s.a_duration:g} s",
        "b": f"(b) {s.b_plans} plans x 1 subscriber, {s.b_rate:g} steps/s for {s.b_duration:g} s",
        "c": f"(c) list API, an org of {s.c_plans} plans, {s.c_rate:g}/s for {s.c_duration:g} s per query",
        "d": f"(d) plans of {s.d_small_steps} vs {s.d_large_steps} steps, {s.d_rate:g} adds/s each "
        f"for {s.d_duration:g} s; GET at {s.d_get_rate:g}/s",
        "e": f"(e) soak: {s.e_streams} streams for {s.e_seconds:g} s, {s.e_rate:g} steps/s",
        "f": f"(f) working a plan: {s.f_subscribers} subscribers, adds/edits/ticks/moves/deletes/restores "
        f"at {s.f_rate:g}/s for {s.f_duration:g} s; moves at {s.d_small_steps} vs {s.d_large_steps} steps",
        "g": f"(g) {s.g_plans} plans x {s.g_viewers} viewers (members each), opened at {s.g_open_rate:g}/s; "
        f"adds and edits at {s.g_rate:g}/s for {s.g_duration:g} s",
    }


def header(result: dict[str, Any], sizes: Sizes, with_sizes: bool) -> str:
    topo, machine = result["topology"], result["machine"]
    lines = [
        f"Live Plan Mode bench, {result['mode']} mode, {result['repeat']} run(s): "
        f"{topo['processes']} x {topo['server']}{' + pushpin' if topo['pushpin'] else ''}"
        f"{' (' + str(topo['api_processes']) + ' for the API)' if topo.get('api_processes') else ''}, "
        f"{topo['database']}{' + redis' if topo['redis'] else ''}",
        f"{machine['nproc']} cpu(s) ({machine['cpu_model']}); the load clients share them",
    ]
    if with_sizes:
        lines += [
            f"streams opened at {sizes.open_rate:g}/s; latencies in ms, the median of the runs' percentiles; "
            "correctness: the worst run",
            "goals are issue 8's, set for PostgreSQL + Redis at full sizes on 2 cores",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument(
        "--scenarios", help="comma-separated subset of a,b,c,d,e,f,g (default: a,b,c,d,f,g; full adds e)"
    )
    parser.add_argument(
        "--repeat", type=int, help="runs; the table shows the median (default: quick 1, full 3)"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="uvicorn")
    parser.add_argument("--processes", type=int, default=1, help="server processes (more than 1 needs Redis)")
    parser.add_argument(
        "--api-processes",
        type=int,
        default=0,
        help="of --processes, how many take every request but streams (which go to the others); "
        "0: every process takes everything",
    )
    parser.add_argument("--pushpin", action="store_true", help="Pushpin in front of the server(s)")
    parser.add_argument("--subscribers", type=int, help="subscribers in (a) and plans in (b)")
    parser.add_argument("--rate", type=float, help="steps per second in (a) and (b)")
    parser.add_argument("--duration", type=float, help="seconds of load in (a), (b), (c) and (d)")
    parser.add_argument("--open-rate", type=float, help="new streams per second (default 100; (g): 200/500)")
    parser.add_argument("--plans", type=int, help="plans in (g) (quick 50, full 1,000)")
    parser.add_argument("--viewers", type=int, help="viewers per plan in (g) (quick 4, full 10)")
    parser.add_argument("--soak-seconds", type=float, help="length of (e) (default 300)")
    parser.add_argument("--big-plans", type=int, help="plans in the org of (c) (default 10,000)")
    parser.add_argument("--large-steps", type=int, help="steps of the large plan in (d) (default 10,000)")
    parser.add_argument("--sweep", help="subscriber counts: scenario (a) at 20 steps/s, 50 steps, for each")
    parser.add_argument(
        "--json", type=Path, help="write the results here (default bench/results/<UTC>-<mode>.json)"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep server logs and the SQLite file")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if any run is incomplete, lost or errored"
    )
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if (args.api_processes and not (0 < args.api_processes < args.processes)) or args.api_processes < 0:
        parser.error("--api-processes must leave at least one of --processes for the streams")
    if args.processes > 1 and not args.redis_url:
        parser.error("--processes > 1 needs --redis-url (events cross processes through Redis)")
    return args


def build_sizes(args: argparse.Namespace) -> Sizes:
    sizes = Sizes(**asdict(FULL if args.mode == "full" else QUICK))
    if args.subscribers is not None:
        sizes.a_subscribers = sizes.b_plans = sizes.f_subscribers = args.subscribers
    if args.rate is not None:
        sizes.a_rate = sizes.b_rate = sizes.g_rate = args.rate
    if args.duration is not None:
        sizes.a_duration = sizes.b_duration = sizes.c_duration = args.duration
        sizes.d_duration = sizes.d_get_duration = sizes.f_duration = sizes.g_duration = args.duration
    if args.open_rate is not None:
        sizes.open_rate = sizes.g_open_rate = args.open_rate
    if args.plans is not None:
        sizes.g_plans = args.plans
    if args.viewers is not None:
        sizes.g_viewers = args.viewers
    if args.soak_seconds is not None:
        sizes.e_seconds = args.soak_seconds
    if args.big_plans is not None:
        sizes.c_plans = args.big_plans
        sizes.c_other_plans = min(sizes.c_other_plans, args.big_plans)
    if args.large_steps is not None:
        sizes.d_large_steps = args.large_steps
    return sizes


def server_env(args: argparse.Namespace, sizes: Sizes, workdir: Path, max_streams: int) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"GRIP_URL", "GRIP_KEY", "PROMETHEUS_MULTIPROC_DIR", "DJANGO_SETTINGS_MODULE"}
    }
    env = production_env(
        base,
        database_url=args.database_url,
        redis_url=args.redis_url,
        sqlite_path=str(workdir / "bench.sqlite3"),
        max_streams_per_user=max_streams + 100,
    )
    env.update(
        DJANGO_SETTINGS_MODULE="aep.settings",
        SECRET_KEY="bench-" + secrets.token_hex(32),
        PYTHONUNBUFFERED="1",
    )
    if args.processes > 1:
        prom = workdir / "prometheus"
        prom.mkdir(exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
    return env


def main(argv: list[str] | None = None) -> int:
    wall_started = time.monotonic()
    args = parse_args(argv)
    sizes = build_sizes(args)
    sweep = [int(x) for x in args.sweep.split(",")] if args.sweep else []
    if args.scenarios:
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    else:
        scenarios = [] if sweep else (list("abcdefg") if args.mode == "full" else list("abcdfg"))
    unknown = [s for s in scenarios if s not in ALL_SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios: {unknown}")
    repeat = args.repeat or (3 if args.mode == "full" else 1)
    per_scenario = {
        "a": sizes.a_subscribers,
        "b": sizes.b_plans,
        "e": sizes.e_streams,
        "f": sizes.f_subscribers,
        "g": sizes.g_plans * sizes.g_viewers,
    }
    max_streams = max([0, *sweep, *(per_scenario.get(s, 0) for s in scenarios)])

    workdir = Path(tempfile.mkdtemp(prefix="aep-bench-"))
    env = server_env(args, sizes, workdir, max_streams)
    created_db = ensure_postgres_database(args.database_url) if args.database_url else False
    bench = Bench(args, sizes, env, workdir)
    result: dict[str, Any] = {
        "version": 1,
        "mode": args.mode,
        "argv": sys.argv[1:] if argv is None else argv,
        "started_at": now_iso(),
        "machine": machine_info(),
        "topology": bench.topology.describe(),
        "scenarios": scenarios,
        "sweep_points": sweep,
        "repeat": repeat,
        "sizes": asdict(sizes),
        "runs": [],
    }
    what = ",".join(scenarios) or "-"
    log(f"{args.mode} mode, scenarios {what}, sweep {sweep or '-'}, {repeat} run(s), "
        f"topology {result['topology']}, workdir {workdir}")  # fmt: skip
    try:
        bench.setup(scenarios)
        for index in range(repeat):
            try:
                result["runs"].append(bench.run_once(index, scenarios, sweep))
            except Exception:
                # A broken run (a server that died, a load process that hung) is reported, not hidden.
                error = traceback.format_exc()
                log(f"run {index + 1} broke:\n{error}")
                result["runs"].append({"index": index, "scenarios": {}, "error": error})
                break
    finally:
        bench.topology.stop()
        if created_db:
            with contextlib.suppress(Exception):
                drop_postgres_database(args.database_url)
    result["finished_at"] = now_iso()
    result["wall_s"] = round(time.monotonic() - wall_started, 1)
    summary = report.aggregate(result["runs"], scenarios)
    rows = report.table_rows(summary, scenarios)
    result["summary"] = summary
    result["table"] = rows
    failures = report.check_failures(result["runs"])
    result["check"] = {"ok": not failures, "failures": failures}
    errored = any(
        r.get("error")
        for run in result["runs"]
        for r in [run, *run["scenarios"].values(), *run.get("sweep", [])]
    )
    if args.keep_workdir or errored:
        log(f"server logs and load specs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if sweep:
        result["sweep"] = summarize_sweep(result["runs"])

    out = (
        args.json
        or RESULTS / f"{datetime.datetime.now(datetime.UTC).strftime('%Y%m%dT%H%M%SZ')}-{args.mode}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))

    print()
    print(header(result, sizes, bool(scenarios)))
    if scenarios:
        print()
        print(report.format_table(rows, scenario_titles(sizes)))
    if sweep:
        print()
        print(format_sweep(result["sweep"]))
    busy = load_client_warnings(result["runs"])
    if busy:
        print()
        print("\n".join(busy))
    print()
    if failures:
        print("CHECK FAILED:\n  " + "\n  ".join(failures))
    else:
        print("check: complete, no duplicates, nothing lost, no errors")
    print(f"wall time {result['wall_s']} s; results: {out}")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
