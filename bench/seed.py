"""Bulk seeding for the benchmark, run by bench/run.py with the server's environment.

    python bench/seed.py base  --run-id R --big-plans 10000 --other-plans 2000
    python bench/seed.py plans --org ORG --count N --small-steps 10 --large-steps 10000
    python bench/seed.py plans --org ORG --count N --steps-each 1     # plans with a step to edit
    python bench/seed.py viewers --org ORG --count V                  # V users, a token each

Rows are inserted with the ORM's bulk_create (the services would take minutes for 10,000 plans) but
mirror what the services write: plans with `step_count`, participants and timestamps; steps with
`seq` 1..n; django-eventstream's `Event` rows and `EventCounter` per plan channel, in the format
live.publish writes (eid 1..n, the step payload as JSON); PLAN_START and PLAN_STEP audit rows.
Archived plans get `archived_at` but no memory node (the list and plan endpoints do not read it).
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aep.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.serializers.json import DjangoJSONEncoder  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_eventstream.models import Event, EventCounter  # noqa: E402

from aep.accounts.tokens import token_create  # noqa: E402
from aep.models import AuditLog, Membership, Organization  # noqa: E402
from plans import ordering  # noqa: E402
from plans.events import plan_channel, step_payload  # noqa: E402
from plans.models import LivePlan, PlanStep  # noqa: E402

BATCH = 2000
_WORD_TEXT = (
    "auth token migration schema index deploy release cache redis queue worker billing invoice search "
    "ranking export alert metric dashboard incident rollout canary backfill replica review design api"
)
WORDS = _WORD_TEXT.split()
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


@contextlib.contextmanager
def explicit_timestamps(*fields: models.DateTimeField) -> Iterator[None]:
    """Let bulk_create keep the timestamps we set (auto_now / auto_now_add would overwrite them)."""
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for field in fields:
        field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _field(model: type[models.Model], name: str) -> models.DateTimeField:
    field = model._meta.get_field(name)
    assert isinstance(field, models.DateTimeField)
    return field


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def ensure_user_and_orgs(username: str, org_ids: list[str]) -> tuple[Any, str]:
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
    for org_id in org_ids:
        org, _ = Organization.objects.get_or_create(id=org_id, defaults={"name": org_id})
        Membership.objects.get_or_create(user=user, org=org)
    _token, secret = token_create(user=user, name="bench")  # a new one per run: only hashes are kept
    return user, secret


def seed_plans(
    *,
    org: Organization,
    user: Any,
    step_counts: list[int],
    rng: random.Random,
    archived_every: int = 0,
    spread_days: float = 0.0,
    title_prefix: str = "plan",
) -> list[LivePlan]:
    """Plans with the given numbers of steps, plus everything the services would have stored."""
    now = timezone.now()
    plans: list[LivePlan] = []
    steps: list[PlanStep] = []
    events: list[Event] = []
    counters: list[EventCounter] = []
    audits: list[AuditLog] = []
    for i, n_steps in enumerate(step_counts):
        created = now - datetime.timedelta(days=rng.random() * spread_days) if spread_days else now
        updated = min(now, created + datetime.timedelta(minutes=5 * n_steps + rng.random() * 60))
        owners = rng.sample(NAMES, k=min(len(NAMES), 1 + i % 3))
        archived = bool(archived_every) and i % archived_every == archived_every - 1
        plan = LivePlan(
            id=uuid.uuid4(),
            org=org,
            title=f"{title_prefix} {i}: {words(rng, 4)}",
            description=words(rng, 12),
            participants=owners if n_steps else [],
            archived=archived,
            archived_at=updated if archived else None,
            step_count=n_steps,
            created_by=user,
            created_at=created,
            updated_at=updated,
        )
        plans.append(plan)
        audits.append(
            AuditLog(
                org=org,
                user=user,
                action=AuditLog.Action.PLAN_START,
                resource_type="plan",
                resource_id=str(plan.id),
                details={"title": plan.title},
                created_at=created,
            )
        )
        channel = plan_channel(plan.id)
        for seq, position in zip(range(1, n_steps + 1), ordering.spread(n_steps), strict=True):
            ts = created + (updated - created) * (seq / n_steps)
            step = PlanStep(
                id=uuid.uuid4(),
                plan=plan,
                seq=seq,
                text=f"step {seq}: {words(rng, 8)}",
                owner=owners[seq % len(owners)],
                created_by=user,
                ts=ts,
                updated_at=ts,
                position=position,
            )
            steps.append(step)
            events.append(
                Event(
                    channel=channel,
                    type="message",
                    data=json.dumps(step_payload(step, plan.participants), cls=DjangoJSONEncoder),
                    eid=seq,
                    created=now,  # within the retention window, as live events would be
                )
            )
            audits.append(
                AuditLog(
                    org=org,
                    user=user,
                    action=AuditLog.Action.PLAN_STEP,
                    resource_type="plan",
                    resource_id=str(plan.id),
                    details={"step_id": str(step.id), "seq": seq},
                    created_at=ts,
                )
            )
        if n_steps:
            counters.append(EventCounter(name=channel, value=n_steps, updated=now))
    with (
        explicit_timestamps(
            _field(LivePlan, "created_at"),
            _field(LivePlan, "updated_at"),
            _field(AuditLog, "created_at"),
            _field(EventCounter, "updated"),
        ),
        transaction.atomic(),
    ):
        LivePlan.objects.bulk_create(plans, batch_size=BATCH)
        PlanStep.objects.bulk_create(steps, batch_size=BATCH)
        Event.objects.bulk_create(events, batch_size=BATCH)
        EventCounter.objects.bulk_create(counters, batch_size=BATCH)
        AuditLog.objects.bulk_create(audits, batch_size=BATCH)
    return plans


def cmd_base(args: argparse.Namespace) -> dict[str, Any]:
    org_id, big_id, other_id = args.run_id, f"{args.run_id}-big", f"{args.run_id}-other"
    small_id = f"{args.run_id}-small"
    user, token = ensure_user_and_orgs(args.user, [org_id, big_id, other_id, small_id])
    rng = random.Random(8)
    out: dict[str, Any] = {"token": token, "user": args.user, "org": org_id}
    if args.big_plans:
        big = Organization.objects.get(id=big_id)
        other = Organization.objects.get(id=other_id)
        counts = [i % 6 for i in range(args.big_plans)]
        seed_plans(org=big, user=user, step_counts=counts, rng=rng, archived_every=10, spread_days=90)
        other_counts = [i % 6 for i in range(args.other_plans)]
        seed_plans(org=other, user=user, step_counts=other_counts, rng=rng, archived_every=10, spread_days=90)
        out.update(big_org=big_id, big_plans=args.big_plans, other_org=other_id, other_plans=args.other_plans)
        small = Organization.objects.get(id=small_id)
        small_counts = [i % 6 for i in range(args.small_plans)]
        seed_plans(org=small, user=user, step_counts=small_counts, rng=rng, archived_every=10, spread_days=90)
        out.update(small_org=small_id, small_plans=args.small_plans)
    return out


def cmd_plans(args: argparse.Namespace) -> dict[str, Any]:
    user, _ = ensure_user_and_orgs(args.user, [args.org])
    org = Organization.objects.get(id=args.org)
    rng = random.Random()
    seeded = seed_plans(
        org=org, user=user, step_counts=[args.steps_each] * args.count, rng=rng, title_prefix="bench"
    )
    out: dict[str, Any] = {"plans": [str(p.id) for p in seeded]}
    if args.steps_each:
        first = PlanStep.objects.filter(plan__in=seeded, seq=1).values_list("plan_id", "id")
        by_plan = {str(plan_id): str(step_id) for plan_id, step_id in first}
        out["first_steps"] = [by_plan[plan] for plan in out["plans"]]
    if args.large_steps:
        small, large = seed_plans(
            org=org,
            user=user,
            step_counts=[args.small_steps, args.large_steps],
            rng=rng,
            title_prefix="bench-d",
        )
        out.update(small_plan=str(small.id), large_plan=str(large.id))
    return out


def cmd_viewers(args: argparse.Namespace) -> dict[str, Any]:
    """Members of the org with a token each: streams opened with them are distinct viewers, so
    presence has work to do. Named `viewer-<n>`, never `bench ...` (the scanner's step text)."""
    tokens = [ensure_user_and_orgs(f"viewer-{n}", [args.org])[1] for n in range(args.count)]
    return {"tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--user", default="bench")
    sub = parser.add_subparsers(dest="command", required=True)
    base = sub.add_parser("base")
    base.add_argument("--run-id", required=True)
    base.add_argument("--big-plans", type=int, default=10000)
    base.add_argument("--other-plans", type=int, default=2000)
    base.add_argument("--small-plans", type=int, default=100, help="plans of the small org (list cost)")
    plans = sub.add_parser("plans")
    plans.add_argument("--org", required=True)
    plans.add_argument("--count", type=int, default=1)
    plans.add_argument("--small-steps", type=int, default=10)
    plans.add_argument("--large-steps", type=int, default=0)
    plans.add_argument("--steps-each", type=int, default=0, help="steps in each of the COUNT plans")
    viewers = sub.add_parser("viewers")
    viewers.add_argument("--org", required=True)
    viewers.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    commands = {"base": cmd_base, "plans": cmd_plans, "viewers": cmd_viewers}
    result = commands[args.command](args)
    # Bulk inserts leave the planner's statistics stale (it then guessed 16 plans for an org of
    # 10,000 and scanned every step); a production database has been analysed by autovacuum.
    # VACUUM (PostgreSQL) also sets the visibility map that index-only scans rely on.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
