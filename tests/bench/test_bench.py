"""The benchmark's measuring parts (bench/): statistics, the byte scanner, verdicts, `--check`, and one
tiny end-to-end run of bench/run.py against embedded SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.run import completeness, plan_duplicates, shuffled_rounds
from bench.scan import ChunkedDecoder, StreamScanner, mask_of, step_text
from bench.stats import median_of_runs, percentile, summarize

ROOT = Path(__file__).resolve().parents[2]


# --- statistics -------------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 95) == 95
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None


def test_summarize_scales_and_handles_empty() -> None:
    summary = summarize([0.001, 0.002, 0.003], scale=1000)
    assert summary["n"] == 3
    assert summary["p50"] == pytest.approx(2.0)
    assert summary["max"] == pytest.approx(3.0)
    assert summarize([]) == {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}


def test_median_of_runs_takes_each_percentile_separately() -> None:
    runs = [
        {"n": 10, "p50": 1.0, "p95": 9.0, "p99": 30.0, "max": 40.0, "mean": 2.0},
        {"n": 10, "p50": 3.0, "p95": 5.0, "p99": 10.0, "max": 90.0, "mean": 4.0},
        {"n": 10, "p50": 2.0, "p95": 7.0, "p99": 20.0, "max": 50.0, "mean": 3.0},
        {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None},  # a run without data
    ]
    median = median_of_runs(runs)
    assert (median["p50"], median["p95"], median["p99"], median["max"]) == (2.0, 7.0, 20.0, 50.0)
    assert median["runs"] == 3
    assert median["n"] == 30


# --- the byte scanner -------------------------------------------------------------------------------

CONNECTED = b'retry: 2000\nid: plan-x:3\ndata: {"type": "connected", "plan_id": "x"}\n\n'


def step_event(eid: int, index: int, sent: float) -> bytes:
    data = {"type": "step", "plan_id": "x", "id": f"s{index}", "text": step_text(index, sent), "owner": "o"}
    return f"id: plan-x:{eid}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def scan_in_pieces(payload: bytes, cut: int) -> tuple[StreamScanner, list[float]]:
    scanner, latencies = StreamScanner(), []
    scanner.feed(payload[:cut], 100.0, latencies)
    scanner.feed(payload[cut:], 100.0, latencies)
    return scanner, latencies


def test_scanner_finds_steps_and_control_events_wherever_the_bytes_are_split() -> None:
    payload = (
        CONNECTED
        + step_event(4, 0, 99.5)
        + b": keep-alive\n\n"
        + step_event(5, 1, 99.75)
        + step_event(6, 0, 99.5)
    )
    for cut in range(len(payload) + 1):
        scanner, latencies = scan_in_pieces(payload, cut)
        assert scanner.connected, cut
        assert scanner.count == 2, cut
        assert scanner.duplicates == 1, cut  # step 0 arrived twice
        assert scanner.seen == mask_of([0, 1]), cut
        assert sorted(latencies) == pytest.approx([0.25, 0.5]), cut


def test_scanner_ignores_an_incomplete_event_until_its_end_arrives() -> None:
    scanner, latencies = StreamScanner(), []
    event = step_event(1, 7, 99.0)
    scanner.feed(event[:-1], 100.0, latencies)
    assert scanner.count == 0
    scanner.feed(event[-1:], 101.0, latencies)
    assert scanner.count == 1
    assert latencies == [pytest.approx(2.0)]  # measured when the event is complete


def test_scanner_counts_resets_and_ignores_foreign_steps() -> None:
    scanner, latencies = StreamScanner(), []
    foreign = b'data: {"type":"step","text":"written by a person"}\n\n'
    scanner.feed(foreign + b'data: {"type": "reset", "plan_id": "x"}\n\n', 1.0, latencies)
    assert (scanner.count, scanner.resets, latencies) == (0, 1, [])


def test_chunked_decoder_reassembles_a_body_split_anywhere() -> None:
    body = CONNECTED + step_event(2, 3, 1.0)
    encoded = (
        b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:10], body[10:])) + b"0\r\n\r\n"
    )
    for cut in range(len(encoded) + 1):
        decoder = ChunkedDecoder()
        assert decoder.feed(encoded[:cut]) + decoder.feed(encoded[cut:]) == body, cut
        assert decoder.done


# --- accounting -------------------------------------------------------------------------------------


def test_completeness_counts_against_acknowledged_steps_only() -> None:
    acked = {0: mask_of([0, 2, 4]), 1: mask_of([1, 3])}
    streams = [
        [0, format(mask_of([0, 2, 4]), "x"), 0],  # everything
        [0, format(mask_of([0, 4, 6]), "x"), 1],  # missed 2; 6 was never acknowledged
        [1, "0", 0],  # never connected: expects its plan's steps all the same
    ]
    result = completeness(streams, acked)
    assert result == {"expected": 8, "received": 5, "unacknowledged_deliveries": 1, "value": 5 / 8}
    assert completeness([], {})["value"] is None


def test_working_a_plan_mixes_the_kinds_so_none_always_follows_the_same_others() -> None:
    kinds = ["add", "edit", "tick", "move", "delete", "restore", "small", "large"]
    order = shuffled_rounds(kinds, 800, keep_together=[("delete", "restore")])
    assert len(order) == 800
    rounds = [order[i : i + 8] for i in range(0, 800, 8)]
    assert all(sorted(r) == list(range(8)) for r in rounds)  # every kind once a round
    assert all(r[r.index(4) + 1] == 5 for r in rounds)  # a restore right after its delete
    before_add = {r[r.index(0) - 1] for r in rounds if r.index(0) > 0}
    assert before_add >= {1, 2, 3, 5, 6, 7}  # adds follow every other kind but a delete
    assert order == shuffled_rounds(kinds, 800, keep_together=[("delete", "restore")])  # alike each run


def test_plan_duplicates_by_id_and_by_step_index() -> None:
    steps = [
        {"id": "a", "text": step_text(1, 5.0)},
        {"id": "b", "text": step_text(2, 5.0)},
        {"id": "c", "text": step_text(2, 5.0)},  # the same POST stored twice
        {"id": "a", "text": "seeded"},
        {"id": "d", "text": "seeded"},  # seeded texts may repeat
    ]
    assert plan_duplicates(steps) == 2


# --- verdicts and --check ---------------------------------------------------------------------------


def figure(scenario: str, key: str) -> report.Figure:
    return next(f for f in report.FIGURES if (f.scenario, f.key) == (scenario, key))


def test_verdicts() -> None:
    fanout = figure("a", "fanout")  # p50 <= 25 and p99 <= 50
    assert report.verdict(fanout, {"p50": 20.0, "p95": 40.0, "p99": 49.0, "max": 90.0}) == "meets"
    assert report.verdict(fanout, {"p50": 20.0, "p95": 40.0, "p99": 51.0, "max": 90.0}) == "misses"
    assert report.verdict(fanout, {"p50": None, "p99": None}) == "n/a"
    assert report.verdict(fanout, None) == "n/a"
    assert report.verdict(figure("a", "completeness"), {"value": 1.0}) == "meets"
    assert report.verdict(figure("a", "completeness"), {"value": 0.999}) == "misses"
    assert report.verdict(figure("d", "step_add_ratio"), {"value": 1.6}) == "misses"
    assert report.verdict(figure("d", "step_add_small"), {"p95": 1000.0}) == ""  # no goal


def test_aggregation_takes_median_latency_and_worst_correctness() -> None:
    def run(p95: float, completeness_value: float, duplicates: int) -> dict:
        return {
            "scenarios": {
                "a": {
                    "figures": {
                        "step_add": {"n": 5, "p50": 1.0, "p95": p95, "p99": p95, "max": p95, "mean": 1.0},
                        "completeness": {"value": completeness_value},
                        "duplicates": {"value": duplicates},
                    }
                }
            }
        }

    summary = report.aggregate([run(5, 1.0, 0), run(50, 0.9, 0), run(9, 1.0, 2)], ["a"])
    assert summary["a"]["step_add"]["p95"] == 9
    assert summary["a"]["completeness"]["value"] == 0.9
    assert summary["a"]["duplicates"]["value"] == 2
    rows = report.table_rows(summary, ["a"])
    by_key = {row["figure"]: row for row in rows}
    assert by_key["step_add"]["p95"] == "9.0"
    assert by_key["step_add"]["verdict"] == "meets"
    assert by_key["completeness"]["verdict"] == "misses"
    assert by_key["fanout"]["verdict"] == "n/a"
    text = report.format_table(rows)
    assert "step add, POST -> response" in text
    assert "90.00%" in text


def test_check_fails_on_correctness_never_on_latency() -> None:
    slow = {
        "scenarios": {
            "a": {
                "error": None,
                "figures": {
                    "fanout": {"n": 9, "p50": 9000.0, "p95": 9000.0, "p99": 9000.0, "max": 9000.0},
                    "completeness": {"value": 1.0},
                    "duplicates": {"value": 0},
                    "lost": {"value": 0},
                    "errors": {"value": 0},
                },
            }
        }
    }
    assert report.check_failures([slow]) == []
    broken = json.loads(json.dumps(slow))
    broken["scenarios"]["a"]["figures"]["completeness"]["value"] = 0.99
    broken["scenarios"]["a"]["figures"]["lost"]["value"] = 1
    broken["scenarios"]["b"] = {"error": "Traceback ...\nRuntimeError: server died", "figures": {}}
    failures = report.check_failures([slow, broken])
    assert failures == [
        "run 2, scenario a: completeness = 0.99",
        "run 2, scenario a: lost = 1",
        "run 2, scenario b: errored: RuntimeError: server died",
    ]
    broke = {"index": 0, "scenarios": {}, "error": "Traceback ...\nRuntimeError: load process ended early"}
    assert report.check_failures([broke]) == ["run 1: broke: RuntimeError: load process ended early"]
    duplicated = {"scenarios": {}, "sweep": [{"subscribers": 10, "figures": {"duplicates": {"value": 3}}}]}
    assert report.check_failures([duplicated]) == ["run 1, sweep point 1 (10 subscribers): duplicates = 3"]


# --- end to end -------------------------------------------------------------------------------------


@pytest.mark.live
def test_quick_run_end_to_end(tmp_path: Path) -> None:
    """bench/run.py with tiny sizes: its own uvicorn on embedded SQLite, every scenario but the soak."""
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "DATABASE_URL", "REDIS_URL"))}
    argv = [sys.executable, str(ROOT / "bench" / "run.py"), "--mode", "quick", "--check", "--json", str(out)]
    argv += ["--subscribers", "5", "--duration", "0.5", "--big-plans", "60", "--large-steps", "60"]
    argv += ["--plans", "6", "--viewers", "3"]
    completed = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    assert result["check"] == {"ok": True, "failures": []}
    assert result["scenarios"] == ["a", "b", "c", "d", "f", "g"]
    assert result["machine"]["nproc"] >= 1
    (run,) = result["runs"]
    for name, deliveries in (
        ("a", 5 * 25),
        ("b", 25),
    ):  # (a) 5 streams x 25 steps; (b) 25 steps, 1 stream each
        figures = run["scenarios"][name]["figures"]
        assert figures["completeness"]["value"] == 1.0
        assert figures["retention"]["value"] == 1.0
        assert figures["duplicates"]["value"] == 0
        assert figures["fanout"]["n"] == deliveries
    assert run["scenarios"]["c"]["figures"]["list_first"]["n"] == 25
    listing = run["scenarios"]["c"]["figures"]
    assert listing["list_small"]["n"] == 25 and listing["list_big_turns"]["n"] == 25
    assert listing["list_ratio"]["value"] > 0
    # (g): 6 plans x 3 viewers, each viewer a member of their own; 25 adds and edits, each seen by
    # the 3 viewers of its plan; the memory of the server per stream it holds is measured.
    viewers = run["scenarios"]["g"]["figures"]
    assert viewers["completeness"]["value"] == 1.0 and viewers["retention"]["value"] == 1.0
    assert viewers["fanout"]["n"] == 25 * 3
    assert viewers["kb_per_stream_python"]["value"] is not None
    assert run["scenarios"]["g"]["details"]["streams"] == 18
    assert run["scenarios"]["d"]["figures"]["lost"]["value"] == 0
    working = run["scenarios"]["f"]["figures"]
    assert working["completeness"]["value"] == 1.0 and working["errors"]["value"] == 0
    for kind in ("step_add", "step_edit", "step_tick", "step_move", "step_delete", "step_restore"):
        assert working[kind]["n"] >= 3, kind  # 25 operations over 8 kinds
    # every add and edit reached the 5 subscribers, and their fan-outs are told apart
    adds, edits = working["step_add"]["n"], working["step_edit"]["n"]
    assert (working["fanout_adds"]["n"], working["fanout_edits"]["n"]) == (adds * 5, edits * 5)
    assert working["fanout"]["n"] == (adds + edits) * 5
    assert "fan-out, POST sent -> event" in completed.stdout
