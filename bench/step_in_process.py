"""A step add in process, without HTTP: how long `services.add_step` takes on one connection.

    .venv/bin/python bench/step_in_process.py postgres://postgres@127.0.0.1:5432/aep_bench [--steps 600]

Migrates the database it is given, starts a plan and adds steps one after another (the first 100 are
left out of the figures as warm-up). DEBUG is off, as in production.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("database_url")
    parser.add_argument("--steps", type=int, default=600)
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
    latencies = []
    for n in range(args.steps):
        started = time.perf_counter()
        services.add_step(org=org, user=None, plan_id=plan.id, text=f"step {n}", owner="bench")
        latencies.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(latencies[100:], n=100)
    print(f"add_step in process: p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms ({len(latencies) - 100} steps)")


if __name__ == "__main__":
    main()
