"""Memory search latency: N plan_session nodes in one org, then timed searches through the service,
in each mode (lexical, semantic, hybrid), and the latency of archiving a plan with its embedding.

Works in a database of its own, created and dropped by the script: on PostgreSQL a database
`aep_search_bench` next to the one --database-url names (that role needs CREATEDB), else a temporary
SQLite file. Nodes are made with `memory_graph.services.create_node`, so they are indexed and embedded
(after each batch commits) exactly as archived plans are. Each query is timed around
`memory_graph.services.search` (SQL, ranking, embedding the query, the cosine, fusion, snippets and
ORM), after a short warm-up; the report gives p50/p95/max per mode and the plan PostgreSQL chose.
Archives are timed around `plans.services.archive_plan` outside any transaction, so the time includes
its after-commit embedding, as a request's does.

    .venv/bin/python bench/search_bench.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/search_bench.py --sqlite          # the embedded fallback, for comparison
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "aep_search_bench"

_WORDS = """
    auth token session login password oauth saml sso jwt refresh rotate secret key signing certificate
    migration schema table column index constraint backfill rollback database postgres replica shard
    deploy release pipeline build artifact container docker kubernetes helm canary rollout staging
    cache redis invalidate warmup ttl eviction latency throughput queue worker retry backoff timeout
    billing invoice payment refund subscription plan pricing tax currency ledger reconcile report
    search ranking relevance query filter facet pagination sort export import upload download
    alert metric dashboard trace logging incident postmortem oncall runbook outage capacity budget
    api endpoint webhook client sdk versioning deprecation contract compatibility documentation
    frontend page form validation accessibility layout component theme mobile browser performance
    review design proposal decision estimate milestone roadmap sprint backlog priority ownership
    security audit permission role tenant organisation membership compliance privacy retention
    notification email digest template scheduler cron batch nightly cleanup archive storage bucket
"""
_VERBS = "add fix write design review move split merge test measure document plan check update remove"
_NAMES = "alice bob carol dora erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil"
WORDS = _WORDS.split()
VERBS = _VERBS.split()
NAMES = _NAMES.split()
STOP = ["the", "and", "of", "to", "for", "with", "on", "in", "a"]


# A few words are common, most are rare (Zipf): roughly what real plan text looks like.
ZIPF = list(itertools.accumulate(1 / (i + 1) for i in range(len(WORDS))))


def zipf_word(rng: random.Random) -> str:
    return rng.choices(WORDS, cum_weights=ZIPF)[0]


def plan_content(rng: random.Random) -> tuple[str, dict[str, Any]]:
    title = " ".join(zipf_word(rng) for _ in range(rng.randint(2, 5))).capitalize()
    participants = rng.sample(NAMES, rng.randint(1, 4))
    now = datetime.datetime.now(datetime.UTC)
    steps = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "text": " ".join(
                [rng.choice(VERBS)]
                + [
                    zipf_word(rng) if rng.random() < 0.7 else rng.choice(STOP)
                    for _ in range(rng.randint(5, 14))
                ]
            ),
            "owner": rng.choice(participants),
            "ts": now.isoformat().replace("+00:00", "Z"),
        }
        for _ in range(rng.randint(2, 12))
    ]
    description = " ".join(zipf_word(rng) for _ in range(rng.randint(0, 12)))
    content = {"title": title, "description": description, "steps": steps, "participants": participants}
    metadata = {
        "plan_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "title": title,
        "step_count": len(steps),
        "participants": participants,
        "archived_at": now.isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(content), metadata


def queries(rng: random.Random, n: int) -> list[str]:
    """A mix of what people type: one word, two words, a half-typed word, a rare word, names."""
    made: list[str] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            made.append(zipf_word(rng))
        elif kind == 1:
            made.append(f"{zipf_word(rng)} {zipf_word(rng)}")
        elif kind == 2:
            word = zipf_word(rng)
            made.append(f"{zipf_word(rng)} {word[: max(3, len(word) // 2)]}")
        elif kind == 3:
            made.append(rng.choice(WORDS[-40:]))
        else:
            made.append(f"{rng.choice(NAMES)} {zipf_word(rng)[:4]}")
    return made


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_pg_database(url: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return with_database(url, BENCH_DB)


def drop_pg_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", ""), help="a PostgreSQL server"
    )
    parser.add_argument("--sqlite", action="store_true", help="bench SQLite's FTS5 fallback instead")
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument(
        "--other-org-nodes", type=int, default=1_000, help="nodes of a second org, never found"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--modes", default="lexical,semantic,hybrid", help="search modes, in order")
    parser.add_argument("--archives", type=int, default=50, help="plans archived and timed (8 steps each)")
    args = parser.parse_args()

    tmp_dir = None
    if args.sqlite:
        tmp_dir = tempfile.TemporaryDirectory(prefix="aep-search-bench-")
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = str(Path(tmp_dir.name) / "bench.sqlite3")
    else:
        if not args.database_url.startswith(("postgres://", "postgresql://")):
            parser.error("give --database-url postgres://... (or --sqlite)")
        os.environ["DATABASE_URL"] = create_pg_database(args.database_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aep.settings")
    os.environ.setdefault("SECRET_KEY", "search-bench")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from aep.models import Organization
    from memory_graph import search as engine
    from memory_graph import vectors
    from memory_graph.models import MemoryNode, NodeEmbedding
    from memory_graph.services import create_node, search
    from plans import services as plan_services

    try:
        call_command("migrate", verbosity=0)
        rng = random.Random(args.seed)
        org = Organization.objects.create(id="bench", name="Bench")
        other = Organization.objects.create(id="bench-other", name="Other")

        started = time.perf_counter()
        for target, count in ((org, args.nodes), (other, args.other_org_nodes)):
            for batch_start in range(0, count, 500):
                with transaction.atomic():
                    for _ in range(min(500, count - batch_start)):
                        content, metadata = plan_content(rng)
                        create_node(org=target, kind="plan_session", content=content, metadata=metadata)
        seeded = time.perf_counter() - started
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE memory_graph_memorynode")

        texts = queries(rng, args.warmup + args.queries)
        modes = args.modes.split(",")
        # The first semantic search of a process loads the model, and the first of an org its matrix.
        vectors._cache.clear()
        t0 = time.perf_counter()
        search(query="warm the model", org=org, limit=args.limit, mode="semantic")
        cold_ms = (time.perf_counter() - t0) * 1000
        by_mode: dict[str, tuple[list[float], list[int]]] = {mode: ([], []) for mode in modes}
        for text in texts[: args.warmup]:
            for mode in modes:
                search(query=text, org=org, limit=args.limit, mode=mode)
        # The modes take turns on each query (in a rotating order), so that a change of load on the
        # machine during the run weighs on all of them alike.
        for i, text in enumerate(texts[args.warmup :]):
            for mode in modes[i % len(modes) :] + modes[: i % len(modes)]:
                t0 = time.perf_counter()
                found = search(query=text, org=org, limit=args.limit, mode=mode)
                by_mode[mode][0].append((time.perf_counter() - t0) * 1000)
                by_mode[mode][1].append(len(found))
                assert all(n.org_id == org.id for n in found)

        archive_ms: list[float] = []
        for i in range(args.archives):
            plan = plan_services.start_plan(org=org, user=None, title=f"Bench archive {i}: {zipf_word(rng)}")
            for _ in range(8):
                plan_services.add_step(org=org, user=None, plan_id=plan.id, text=plan_content(rng)[0][:200])
            t0 = time.perf_counter()
            plan = plan_services.archive_plan(org=org, user=None, plan_id=plan.id)
            archive_ms.append((time.perf_counter() - t0) * 1000)
            assert NodeEmbedding.objects.filter(node_id=plan.memory_node_id).exists()

        version = connection.pg_version if connection.vendor == "postgresql" else ""
        print(f"database      {connection.vendor} {version}")
        print(
            f"nodes         {MemoryNode.objects.filter(org=org).count()} in org 'bench', "
            f"{MemoryNode.objects.filter(org=other).count()} in another org"
        )
        rate = (args.nodes + args.other_org_nodes) / seeded
        print(f"seeding       {seeded:.1f} s via create_node ({rate:.0f} nodes/s)")
        embedded = NodeEmbedding.objects.filter(org=org).count()
        print(f"embeddings    {embedded} in org 'bench'")
        print(f"queries       {args.queries} per mode, timed after {args.warmup} warm-up, limit {args.limit}")
        print(
            f"cold semantic {cold_ms:.0f} ms (the first semantic search after the org's matrix is dropped:"
            " it loads the matrix)"
        )
        for mode, (timings, hits) in by_mode.items():
            print(
                f"{mode:<9} ms  p50 {percentile(timings, 50):.2f}  p95 {percentile(timings, 95):.2f}  "
                f"max {max(timings):.2f}  mean {statistics.fmean(timings):.2f}   results mean "
                f"{statistics.fmean(hits):.1f}, empty {sum(1 for h in hits if h == 0)}"
            )
            slowest = sorted(zip(timings, texts[args.warmup :], strict=True), reverse=True)[:3]
            print("  slowest     " + "; ".join(f"{q!r} {t:.1f} ms" for t, q in slowest))
        if "lexical" in by_mode and "hybrid" in by_mode:
            ratio = percentile(by_mode["hybrid"][0], 95) / percentile(by_mode["lexical"][0], 95)
            print(f"hybrid p95 / lexical p95  {ratio:.2f}")
        if archive_ms:
            print(
                f"archive ms    p50 {percentile(archive_ms, 50):.2f}  p95 {percentile(archive_ms, 95):.2f}  "
                f"max {max(archive_ms):.2f}  ({len(archive_ms)} plans of 8 steps, embedding included)"
            )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_size_pretty(pg_total_relation_size('memory_graph_memorynode')),"
                    f" pg_size_pretty(pg_relation_size('{engine.GIN_INDEX}'))"
                )
                table_size, index_size = cursor.fetchone()
                print(f"sizes         table+toast+indexes {table_size}, GIN index {index_size}")
                parsed = engine.parse_query("deploy cach")
                assert parsed is not None
                plan_qs = engine.postgres_search(MemoryNode.objects.filter(org=org), query=parsed)[
                    : args.limit
                ]
                sql, params = plan_qs.query.sql_with_params()
                cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", params)
                print("plan for 'deploy cach':")
                for (line,) in cursor.fetchall():
                    print(f"    {line}")
    finally:
        connection.close()
        if tmp_dir is not None:
            tmp_dir.cleanup()
        elif not args.keep:
            drop_pg_database(args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
