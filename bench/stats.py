"""Percentiles, summaries and the median across repeated runs. Pure functions, no dependencies."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

STATS = ("p50", "p95", "p99", "max")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default).
    None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, Any]:
    """n, p50, p95, p99, max and mean of `values` multiplied by `scale` (1000: seconds to ms)."""
    data = sorted(v * scale for v in values)
    if not data:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(data),
        "p50": percentile(data, 50),
        "p95": percentile(data, 95),
        "p99": percentile(data, 99),
        "max": data[-1],
        "mean": statistics.fmean(data),
    }


def median_of_runs(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per statistic, the median across runs (runs without a value are left out); `n` is summed and
    `runs` says how many runs had data."""
    present = [s for s in summaries if s and s.get("n")]
    out: dict[str, Any] = {"n": sum(s.get("n", 0) for s in present), "runs": len(present)}
    for key in ("p50", "p95", "p99", "max", "mean"):
        values = [s[key] for s in present if s.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out
