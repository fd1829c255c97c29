"""What the benchmark reports: the figures, their goals (issue 8), verdicts, the table, `--check`.

Latency figures are reported as the median across runs of each percentile; correctness figures
(retention, completeness, duplicates, lost, errors) as the worst run, so one bad run is never
averaged away. Only correctness decides `--check`: latency never fails a run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from bench.stats import median_of_runs

Goal = tuple[tuple[str, str, float], ...]  # (statistic, "<=" | ">=" | "==", limit), all must hold


@dataclass(frozen=True)
class Figure:
    scenario: str
    key: str
    label: str
    kind: str  # "latency" (ms summary), "fraction", "count", "ratio", "info"
    goal: Goal = ()

    @property
    def worst_is_low(self) -> bool:
        return self.kind == "fraction"


RETENTION = ("value", ">=", 1.0)
ZERO = ("value", "==", 0)


ADD_GOAL: Goal = (("p95", "<=", 10.0),)
CONNECT_GOAL: Goal = (("p95", "<=", 25.0),)
FANOUT_GOAL: Goal = (("p50", "<=", 25.0), ("p99", "<=", 50.0))


def _stream_figures(s: str, connect_goal: bool, fanout_goal: bool, add_goal: bool) -> list[Figure]:
    return [
        Figure(s, "step_add", "step add, POST -> response", "latency", ADD_GOAL if add_goal else ()),
        Figure(
            s, "sse_connect", "SSE connect -> `connected`", "latency", CONNECT_GOAL if connect_goal else ()
        ),
        Figure(s, "fanout", "fan-out, POST sent -> event", "latency", FANOUT_GOAL if fanout_goal else ()),
        Figure(s, "retention", "retention (open at end / opened)", "fraction", (RETENTION,)),
        Figure(s, "completeness", "completeness (received / expected)", "fraction", (RETENTION,)),
        Figure(s, "duplicates", "duplicates", "count", (ZERO,)),
        Figure(s, "lost", "lost (acknowledged, not in plan)", "count", (ZERO,)),
        Figure(s, "errors", "request errors", "count", (ZERO,)),
    ]


FIGURES: list[Figure] = [
    *_stream_figures("a", connect_goal=True, fanout_goal=True, add_goal=True),
    *_stream_figures("b", connect_goal=True, fanout_goal=True, add_goal=False),
    Figure("c", "list_first", "list, first page (limit 50)", "latency", (("p95", "<=", 50.0),)),
    Figure("c", "list_offset", "list, deep offset", "latency", (("p95", "<=", 50.0),)),
    Figure("c", "list_archived", "list, archived=true", "latency", (("p95", "<=", 50.0),)),
    Figure("c", "list_big_turns", "list, first page, in turn with the small org's", "latency"),
    Figure("c", "list_small", "list, first page, an org of 100 plans", "latency"),
    Figure("c", "list_ratio", "list p95, 10,000 plans / 100 plans", "ratio", (("value", "<=", 1.2),)),
    Figure("c", "errors", "request errors", "count", (ZERO,)),
    Figure("d", "step_add_small", "step add, small plan", "latency"),
    Figure("d", "step_add_large", "step add, large plan", "latency"),
    Figure("d", "step_add_ratio", "step add p95, large / small", "ratio", (("value", "<=", 1.5),)),
    Figure("d", "plan_get", "plan GET, large plan", "latency"),
    Figure("d", "duplicates", "duplicates", "count", (ZERO,)),
    Figure("d", "lost", "lost (acknowledged, not in plan)", "count", (ZERO,)),
    Figure("d", "errors", "request errors", "count", (ZERO,)),
    *[f for f in _stream_figures("e", True, True, False) if f.key != "step_add"],
    Figure("e", "rss_start_mb", "server RSS before streams (MB)", "info"),
    Figure("e", "rss_end_mb", "server RSS at the end (MB)", "info"),
    Figure("f", "step_add", "step add", "latency"),
    Figure("f", "step_edit", "edit (PATCH text)", "latency"),
    Figure("f", "step_tick", "tick off (PATCH done)", "latency"),
    Figure("f", "step_move", "move", "latency"),
    Figure("f", "step_delete", "delete", "latency"),
    Figure("f", "step_restore", "restore", "latency"),
    Figure(
        "f", "ops_vs_add", "worst p95 of edit/tick/move/delete / add p95", "ratio", (("value", "<=", 1.0),)
    ),
    Figure("f", "move_small", "move, plan of 10 steps", "latency"),
    Figure("f", "move_large", "move, plan at the step cap", "latency"),
    Figure("f", "move_ratio", "move p95, large / small", "ratio", (("value", "<=", 1.2),)),
    Figure("f", "sse_connect", "SSE connect -> `connected`", "latency"),
    Figure("f", "fanout", "fan-out of adds and edits", "latency", FANOUT_GOAL),
    Figure("f", "fanout_adds", "fan-out of adds", "latency"),
    Figure("f", "fanout_edits", "fan-out of edits", "latency"),
    Figure("f", "fanout_edits_vs_adds", "fan-out p99, edits / adds", "ratio", (("value", "<=", 1.0),)),
    Figure("f", "retention", "retention (open at end / opened)", "fraction", (RETENTION,)),
    Figure("f", "completeness", "completeness (received / expected)", "fraction", (RETENTION,)),
    Figure("f", "duplicates", "duplicates", "count", (ZERO,)),
    Figure("f", "lost", "lost (acknowledged, not in plan)", "count", (ZERO,)),
    Figure("f", "errors", "request errors", "count", (ZERO,)),
    # Issue 21's goals for 10,000 viewers on one machine (1,000 plans x 10, full mode).
    Figure("g", "step_add", "step add and edit, request -> response", "latency"),
    Figure("g", "sse_connect", "SSE connect -> `connected`", "latency", (("p95", "<=", 50.0),)),
    Figure("g", "fanout", "fan-out of adds and edits", "latency", (("p99", "<=", 100.0),)),
    Figure(
        "g",
        "kb_per_stream_python",
        "memory per stream, Python process (KB)",
        "info",
        (("value", "<=", 20.0),),
    ),
    Figure("g", "kb_per_stream_pushpin", "memory per stream, Pushpin's processes (KB)", "info"),
    Figure("g", "retention", "retention (open at end / opened)", "fraction", (RETENTION,)),
    Figure("g", "completeness", "completeness (received / expected)", "fraction", (RETENTION,)),
    Figure("g", "duplicates", "duplicates", "count", (ZERO,)),
    Figure("g", "lost", "lost (acknowledged, not in plan)", "count", (ZERO,)),
    Figure("g", "errors", "request errors", "count", (ZERO,)),
]

SCENARIO_TITLES = {
    "a": "(a) one plan, many subscribers, steps at a fixed rate",
    "b": "(b) many plans, one subscriber each",
    "c": "(c) list API, a large org (10,000 plans)",
    "d": "(d) a small plan vs a large plan (10 vs 1,600 steps: the step cap is 2,000)",
    "e": "(e) soak: streams held for minutes",
    "f": "(f) working a plan: edit, tick, move, delete, restore beside adds",
    "g": "(g) many viewers: plans x viewers (members each), adds and edits across them",
}

# Checked by --check (CI): correctness only.
CHECKED = {"completeness": ("<", 1.0), "duplicates": (">", 0), "lost": (">", 0), "errors": (">", 0)}


def figures_for(scenarios: list[str]) -> list[Figure]:
    return [f for f in FIGURES if f.scenario in scenarios]


def aggregate_figure(figure: Figure, values: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One figure across runs: median per percentile for latencies and ratios, the worst run for
    correctness figures."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if figure.kind == "latency":
        return median_of_runs(present)
    numbers = [v["value"] for v in present if v.get("value") is not None]
    if not numbers:
        return {"value": None, "runs": len(present)}
    if figure.kind == "fraction":
        value = min(numbers)
    elif figure.kind == "count":
        value = max(numbers)
    else:
        value = statistics.median(numbers)
    return {"value": value, "runs": len(present), "all": numbers}


def aggregate(runs: list[dict[str, Any]], scenarios: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for figure in figures_for(scenarios):
        values = [
            (run["scenarios"].get(figure.scenario) or {}).get("figures", {}).get(figure.key) for run in runs
        ]
        out.setdefault(figure.scenario, {})[figure.key] = aggregate_figure(figure, values)
    return out


def _holds(value: float, op: str, limit: float) -> bool:
    if op == "<=":
        return value <= limit
    if op == ">=":
        return value >= limit
    return value == limit


def verdict(figure: Figure, agg: dict[str, Any] | None) -> str:
    """ "meets", "misses", "n/a" (no data) or "" (no goal)."""
    if not figure.goal:
        return ""
    if agg is None:
        return "n/a"
    for stat, op, limit in figure.goal:
        value = agg.get(stat)
        if value is None:
            return "n/a"
        if not _holds(value, op, limit):
            return "misses"
    return "meets"


def goal_text(figure: Figure) -> str:
    parts = []
    for stat, op, limit in figure.goal:
        if figure.kind == "fraction":
            parts.append(f"{op} {limit:.0%}".replace("== ", "").replace(">= ", ""))
        elif figure.kind == "count":
            parts.append(f"{limit:g}")
        elif figure.kind == "ratio":
            parts.append(f"<= {limit:g}x")
        elif figure.kind == "info":
            parts.append(f"{op} {limit:g}")
        else:
            parts.append(f"{stat} {limit:g} ms")
    return " / ".join(parts)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _scalar(figure: Figure, value: float | None) -> str:
    if value is None:
        return "-"
    if figure.kind == "fraction":
        return f"{value:.2%}"
    if figure.kind == "ratio":
        return f"{value:.2f}x"
    if figure.kind == "count":
        return f"{value:g}"
    return f"{value:.1f}"


def table_rows(summary: dict[str, dict[str, Any]], scenarios: list[str]) -> list[dict[str, Any]]:
    rows = []
    for figure in figures_for(scenarios):
        agg = summary.get(figure.scenario, {}).get(figure.key)
        row: dict[str, Any] = {
            "scenario": figure.scenario,
            "figure": figure.key,
            "label": figure.label,
            "goal": goal_text(figure),
            "verdict": verdict(figure, agg),
        }
        if figure.kind == "latency":
            for stat in ("p50", "p95", "p99", "max"):
                row[stat] = _ms(agg.get(stat)) if agg else "-"
            row["n"] = agg.get("n", 0) if agg else 0
        else:
            row.update(
                {"p50": _scalar(figure, agg.get("value") if agg else None), "p95": "", "p99": "", "max": ""}
            )
            row["n"] = ""
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]], titles: dict[str, str] | None = None) -> str:
    """A plain-text table, one block per scenario. Latencies in ms; scalar figures in the p50 column."""
    header = ("figure", "p50", "p95", "p99", "max", "n", "goal", "verdict")
    lines: list[list[str]] = []
    current = None
    for row in rows:
        if row["scenario"] != current:
            current = row["scenario"]
            lines.append([(titles or SCENARIO_TITLES).get(current, current)])
        lines.append(
            ["  " + row["label"], row["p50"], row["p95"], row["p99"], row["max"], str(row["n"]), row["goal"],
             row["verdict"]]
        )  # fmt: skip
    widths = [max(len(header[i]), *(len(r[i]) for r in lines if len(r) > 1)) for i in range(len(header))]
    out = []

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [
            c.rjust(w) if i < 5 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells[1:], widths[1:], strict=True))
        ]
        return "  ".join([first, *rest]).rstrip()

    out.append(fmt(header))
    out.append("  ".join("-" * w for w in widths))
    for cells in lines:
        out.append(cells[0] if len(cells) == 1 else fmt(cells))
    return "\n".join(out)


def check_failures(runs: list[dict[str, Any]]) -> list[str]:
    """Why `--check` fails: an errored scenario, completeness below 100%, duplicates, lost steps or
    failed requests, in any run. Latency is never a reason."""
    failures = []
    for index, run in enumerate(runs):
        if run.get("error"):
            failures.append(f"run {index + 1}: broke: {run['error'].strip().splitlines()[-1]}")
        for name, result in sorted(run.get("scenarios", {}).items()):
            failures += _result_failures(f"run {index + 1}, scenario {name}", result)
        for index_point, point in enumerate(run.get("sweep", [])):
            where = f"run {index + 1}, sweep point {index_point + 1} ({point.get('subscribers')} subscribers)"
            failures += _result_failures(where, point)
    return failures


def _result_failures(where: str, result: dict[str, Any]) -> list[str]:
    """The `--check` failures of one scenario or sweep point."""
    if result.get("error"):
        return [f"{where}: errored: {result['error'].strip().splitlines()[-1]}"]
    failures = []
    figures = result.get("figures", {})
    for key, (op, limit) in CHECKED.items():
        value = (figures.get(key) or {}).get("value")
        if value is not None and ((op == "<" and value < limit) or (op == ">" and value > limit)):
            failures.append(f"{where}: {key} = {value:g}")
    return failures
