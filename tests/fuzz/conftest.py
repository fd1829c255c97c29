"""Print how many requests the fuzzers made, per operation and status code, after the run."""

from __future__ import annotations

from collections import Counter
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import sys

    module = sys.modules.get("tests.fuzz.test_schemathesis")
    calls: Counter[tuple[str, int]] = getattr(module, "CALLS", Counter())
    if not calls:
        return
    per_operation: Counter[str] = Counter()
    for (operation, _status), count in calls.items():
        per_operation[operation] += count
    terminalreporter.section("schemathesis requests")
    terminalreporter.write_line(f"{sum(calls.values())} requests, FUZZ_EXAMPLES={module.FUZZ_EXAMPLES}")
    for operation, count in sorted(per_operation.items()):
        statuses = {status: n for (op, status), n in sorted(calls.items()) if op == operation}
        terminalreporter.write_line(f"  {operation}: {count} requests, by status {statuses}")
