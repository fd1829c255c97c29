"""The writes of a plan in process, without HTTP: how long each service takes on one connection.

    .venv/bin/python bench/step_in_process.py postgres://postgres@127.0.0.1:5432/aep_bench [--rounds 600]

Migrates the database it is given, starts a plan, then runs rounds of every write once, in turn:
`add_step`, `update_step` (text), `update_step` (done, true and false in turn), `move_step` (to the
top, then after the last, in turn), `delete_step` and `restore_step` of one step. The first 100
rounds are left out of the figures as warm-up. Prints, per write, the p50 and p95 of wall time and
the mean CPU time of this process (what the server's thread spends; the rest is the database). DEBUG
is off, as in production.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WARM_UP = 100


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("database_url")
    parser.add_argument("--rounds", type=int, default=600, help="rounds of every write (at most 1,900)")
    args = parser.parse_args()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aep.settings",
        DATABASE_URL=args.database_url,
        DEBUG="0",
        SECRET_KEY="bench-" + "x" * 50,
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from aep.models import Organization
    from plans import services

    call_command("migrate", verbosity=0)
    org, _ = Organization.objects.get_or_create(id="bench-in-process", defaults={"name": "bench"})
    plan = services.start_plan(org=org, user=None, title="in process")
    first, second, third, fourth = (
        services.add_step(org=org, user=None, plan_id=plan.id, text=f"step {n}", owner="bench").id
        for n in range(4)
    )
    target = {"org": org, "user": None, "plan_id": plan.id}

    def add(n: int) -> None:
        services.add_step(**target, text=f"round {n}", owner="bench")

    def edit(n: int) -> None:
        services.update_step(**target, step_id=first, text=f"edit {n}")

    def tick(n: int) -> None:
        services.update_step(**target, step_id=second, done=n % 2 == 0)

    def move(n: int) -> None:
        services.move_step(**target, step_id=third, after=None if n % 2 == 0 else fourth)

    def delete(_n: int) -> None:
        services.delete_step(**target, step_id=fourth)

    def restore(_n: int) -> None:
        services.restore_step(**target, step_id=fourth)

    writes: dict[str, Callable[[int], None]] = {
        "add_step": add,
        "edit": edit,
        "tick": tick,
        "move": move,
        "delete": delete,
        "restore": restore,
    }
    wall: dict[str, list[float]] = {name: [] for name in writes}
    cpu: dict[str, list[float]] = {name: [] for name in writes}
    for n in range(args.rounds):
        for name, write in writes.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            write(n)
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - cpu_started) * 1000)
    print(f"in process, {args.rounds - WARM_UP} rounds after {WARM_UP} of warm-up (ms):")
    for name in writes:
        cuts = statistics.quantiles(wall[name][WARM_UP:], n=100)
        mean_cpu = statistics.fmean(cpu[name][WARM_UP:])
        print(f"  {name:9s} wall p50 {cuts[49]:6.2f}  p95 {cuts[94]:6.2f}   cpu mean {mean_cpu:5.2f}")


if __name__ == "__main__":
    main()
