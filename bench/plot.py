"""Plot fan-out latency against subscriber count from sweep results (`make bench-sweep`).

    .venv/bin/python bench/plot.py bench/results/sweep.json [more.json ...] -o bench/results/sweep.png

Each JSON file is one topology (as written by `bench/run.py --sweep ...`); each gets its own set of
p50 / p95 / p99 lines, labelled with its topology, on a log-scaled subscriber axis.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def short_count(n: int) -> str:
    """10, 100, 1k, 5k, 10k: neighbours on a log axis do not overlap."""
    return f"{n // 1000:g}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def topology_label(result: dict[str, Any]) -> str:
    topo = result.get("topology", {})
    label = f"{topo.get('processes', 1)} x {topo.get('server', '?')}"
    if topo.get("api_processes"):
        label += f" ({topo['api_processes']} for the API)"
    if topo.get("pushpin"):
        label += " + pushpin"
    label += ", " + ("PostgreSQL" if str(topo.get("database", "")).startswith("postgres") else "SQLite")
    if topo.get("redis"):
        label += " + Redis"
    return label


def series(result: dict[str, Any]) -> dict[str, list[float | None]]:
    points = sorted(result.get("sweep", []), key=lambda p: p["subscribers"])
    return {
        "subscribers": [p["subscribers"] for p in points],
        **{stat: [p["fanout"].get(stat) for p in points] for stat in ("p50", "p95", "p99")},
    }


def plot(results: list[dict[str, Any]], out: Path, title: str | None = None) -> Path:
    """Two panels (p50, p99), one line per topology, the goal as a horizontal line in each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), dpi=120, sharey=True)
    counts = sorted({x for result in results for x in series(result)["subscribers"]})
    for ax, stat, goal in ((axes[0], "p50", 25.0), (axes[1], "p99", 50.0)):
        for index, result in enumerate(results):
            data = series(result)
            points = [(x, y) for x, y in zip(data["subscribers"], data[stat], strict=True) if y is not None]
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "-", marker="o", color=f"C{index}", label=topology_label(result))
        ax.axhline(goal, color="grey", linewidth=1, linestyle="--", label=f"goal: {stat} {goal:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(counts, [short_count(x) for x in counts])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("subscribers on one plan")
        ax.set_title(f"fan-out {stat}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("POST sent -> event received (ms, log scale)")
    axes[1].legend(fontsize="small", loc="upper left")
    sizes = results[0].get("sizes", {}) if results else {}
    fig.suptitle(
        title or f"Fan-out latency, {sizes.get('sweep_steps', 50)} steps at {sizes.get('sweep_rate', 20):g}/s"
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="+", type=Path, help="sweep JSON files, one per topology")
    parser.add_argument("-o", "--output", type=Path, default=Path("bench/results/sweep.png"))
    parser.add_argument("--title")
    args = parser.parse_args()
    results = [json.loads(path.read_text()) for path in args.results]
    missing = [str(p) for p, r in zip(args.results, results, strict=True) if not r.get("sweep")]
    if missing:
        raise SystemExit(f"no sweep in {', '.join(missing)} (run bench/run.py --sweep ...)")
    print(plot(results, args.output, args.title))


if __name__ == "__main__":
    main()
