"""`manage.py archive_plans --plan ID | --idle-days N [--org ORG] [--dry-run]` (DESIGN 7).

Archives through `plans.services.archive_plan`, so a plan archived here gets the same memory node,
audit row, metric and live event as one archived from the API (with no user).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from aep.errors import DomainError
from aep.models import Organization
from aep.tenancy import scope
from plans.models import LivePlan
from plans.services import archive_plan

MAX_IDLE_DAYS = 36_500


class Command(BaseCommand):
    help = "Archive one plan, or every plan idle for N days, into the memory graph."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--plan", metavar="ID", help="Archive this plan (its UUID).")
        which.add_argument(
            "--idle-days",
            metavar="N",
            type=int,
            help="Archive every plan not archived and not updated for N days.",
        )
        parser.add_argument("--org", metavar="ORG", help="Only plans of this org (its id).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be archived; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        org = self._org(options["org"])
        dry_run: bool = options["dry_run"]
        if options["plan"] is not None:
            archived, failed = self._archive_one(options["plan"], org=org, dry_run=dry_run)
        else:
            archived, failed = self._archive_idle(options["idle_days"], org=org, dry_run=dry_run)
        verb = "would archive" if dry_run else "archived"
        self.stdout.write(f"{verb} {archived} plan{'' if archived == 1 else 's'}")
        if failed:
            raise CommandError(f"{failed} plan{'' if failed == 1 else 's'} could not be archived")

    def _org(self, org_id: str | None) -> Organization | None:
        if org_id is None:
            return None
        org = Organization.objects.filter(id=org_id).first()
        if org is None:
            raise CommandError(f"Unknown org {org_id!r}.")
        return org

    def _plans(self, org: Organization | None) -> Any:
        return scope(LivePlan.objects, org) if org is not None else LivePlan.objects.all()

    def _archive_one(self, plan_id: str, *, org: Organization | None, dry_run: bool) -> tuple[int, int]:
        try:
            plan_uuid = uuid.UUID(plan_id)
        except ValueError:
            raise CommandError(f"Not a plan id (a UUID): {plan_id!r}.") from None
        plan = self._plans(org).select_related("org").filter(id=plan_uuid).first()
        if plan is None:
            where = f" in org {org.id!r}" if org is not None else ""
            raise CommandError(f"No plan {plan_uuid}{where}.")
        if plan.archived and plan.memory_node_id is not None:
            self.stdout.write(f"already archived {plan.id} {plan.title}")
            return 0, 0
        return self._archive(plan, dry_run=dry_run, idle_before=None)

    def _archive_idle(self, days: int, *, org: Organization | None, dry_run: bool) -> tuple[int, int]:
        if not 0 <= days <= MAX_IDLE_DAYS:
            raise CommandError(f"--idle-days must be between 0 and {MAX_IDLE_DAYS}, not {days}.")
        cutoff = timezone.now() - datetime.timedelta(days=days)
        stale = (
            self._plans(org)
            .filter(archived=False, updated_at__lt=cutoff)
            .select_related("org")
            .order_by("updated_at", "id")
        )
        archived = failed = 0
        # Listed up front: each plan is then archived in a transaction of its own.
        for plan in list(stale):
            done, error = self._archive(plan, dry_run=dry_run, idle_before=cutoff)
            archived += done
            failed += error
        return archived, failed

    def _archive(
        self, plan: LivePlan, *, dry_run: bool, idle_before: datetime.datetime | None
    ) -> tuple[int, int]:
        if dry_run:
            self.stdout.write(f"would archive {plan.id} {plan.title}")
            return 1, 0
        try:
            with transaction.atomic():
                if idle_before is not None:
                    # A step may have arrived since the plan was listed: look again under the lock
                    # archive_plan is about to take, so a plan in use is never archived as idle.
                    still_idle = (
                        LivePlan.objects.select_for_update()
                        .filter(id=plan.id, archived=False, updated_at__lt=idle_before)
                        .first()
                    )
                    if still_idle is None:
                        self.stdout.write(f"skipped {plan.id} {plan.title} (no longer idle)")
                        return 0, 0
                archive_plan(org=plan.org, user=None, plan_id=plan.id)
        except DomainError as error:
            self.stderr.write(f"failed {plan.id} {plan.title}: {error.detail}")
            return 0, 1
        self.stdout.write(f"archived {plan.id} {plan.title}")
        return 1, 0
