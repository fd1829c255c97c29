"""`manage.py archive_plans`: one plan or every idle plan, through the archive service (DESIGN 7)."""

from __future__ import annotations

import datetime
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aep.models import AuditLog
from memory_graph.models import MemoryNode
from plans import services
from plans.models import LivePlan


def run(*args: str) -> str:
    out = StringIO()
    call_command("archive_plans", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def backdate(plan: LivePlan, days: float) -> None:
    # .update() skips auto_now, so updated_at keeps the past date.
    LivePlan.objects.filter(id=plan.id).update(updated_at=timezone.now() - datetime.timedelta(days=days))


@pytest.fixture
def stale_and_fresh(org_a, org_b, alice, bob):  # type: ignore[no-untyped-def]
    old_a = services.start_plan(org=org_a, user=alice, title="Old A")
    services.add_step(org=org_a, user=alice, plan_id=old_a.id, text="first step")
    older_b = services.start_plan(org=org_b, user=bob, title="Older B")
    fresh_a = services.start_plan(org=org_a, user=alice, title="Fresh A")
    borderline = services.start_plan(org=org_a, user=alice, title="Borderline")
    backdate(old_a, 40)
    backdate(older_b, 90)
    backdate(fresh_a, 1)
    backdate(borderline, 29)
    return {"old_a": old_a, "older_b": older_b, "fresh_a": fresh_a, "borderline": borderline}


def archived_ids() -> set[uuid.UUID]:
    return set(LivePlan.objects.filter(archived=True).values_list("id", flat=True))


@pytest.mark.django_db
class TestIdleDays:
    def test_archives_exactly_the_stale_plans(self, stale_and_fresh):
        output = run("--idle-days", "30")
        old_a, older_b = stale_and_fresh["old_a"], stale_and_fresh["older_b"]
        assert archived_ids() == {old_a.id, older_b.id}
        lines = output.splitlines()
        # Oldest first, then the summary.
        assert lines == [f"archived {older_b.id} Older B", f"archived {old_a.id} Old A", "archived 2 plans"]

    def test_archiving_goes_through_the_service(self, stale_and_fresh):
        run("--idle-days", "30")
        plan = LivePlan.objects.get(id=stale_and_fresh["old_a"].id)
        node = MemoryNode.objects.get(id=plan.memory_node_id)
        assert node.kind == "plan_session" and node.org_id == "org-a"
        assert node.metadata["plan_id"] == str(plan.id) and node.metadata["step_count"] == 1
        row = AuditLog.objects.get(action="PLAN_ARCHIVE", resource_id=str(plan.id))
        assert row.user is None and row.details["memory_node_id"] == str(node.id)

    def test_archived_plans_are_searchable(self, stale_and_fresh, org_a):
        from memory_graph.services import search

        run("--idle-days", "30")
        assert [n.title for n in search(query="old", org=org_a)] == ["Old A"]

    def test_second_run_archives_nothing_new(self, stale_and_fresh):
        run("--idle-days", "30")
        nodes = MemoryNode.objects.count()
        assert run("--idle-days", "30").splitlines() == ["archived 0 plans"]
        assert MemoryNode.objects.count() == nodes
        assert AuditLog.objects.filter(action="PLAN_ARCHIVE").count() == 2

    def test_dry_run_changes_nothing(self, stale_and_fresh):
        audit_rows = AuditLog.objects.count()
        output = run("--idle-days", "30", "--dry-run")
        assert archived_ids() == set()
        assert MemoryNode.objects.count() == 0
        assert AuditLog.objects.count() == audit_rows
        assert output.splitlines() == [
            f"would archive {stale_and_fresh['older_b'].id} Older B",
            f"would archive {stale_and_fresh['old_a'].id} Old A",
            "would archive 2 plans",
        ]

    def test_org_limits(self, stale_and_fresh):
        output = run("--idle-days", "30", "--org", "org-b")
        assert archived_ids() == {stale_and_fresh["older_b"].id}
        assert output.splitlines()[-1] == "archived 1 plan"

    def test_zero_days_archives_every_active_plan(self, stale_and_fresh):
        run("--idle-days", "0")
        assert archived_ids() == {p.id for p in stale_and_fresh.values()}

    def test_a_plan_that_became_busy_is_skipped(self, stale_and_fresh, monkeypatch):
        from plans.management.commands import archive_plans

        old_a = stale_and_fresh["old_a"]

        # The step lands after the plans are listed and before Old A's turn.
        original = archive_plans.Command._archive

        def archive_with_race(self, plan, **kwargs):  # type: ignore[no-untyped-def]
            if plan.id == old_a.id:
                services.add_step(org=plan.org, user=None, plan_id=plan.id, text="still working")
            return original(self, plan, **kwargs)

        monkeypatch.setattr(archive_plans.Command, "_archive", archive_with_race)
        output = run("--idle-days", "30")
        assert archived_ids() == {stale_and_fresh["older_b"].id}
        assert f"skipped {old_a.id} Old A (no longer idle)" in output
        assert output.splitlines()[-1] == "archived 1 plan"


@pytest.mark.django_db
class TestOnePlan:
    def test_archives_the_plan(self, plan_a):
        output = run("--plan", str(plan_a.id))
        plan_a.refresh_from_db()
        assert plan_a.archived and plan_a.memory_node_id is not None
        assert output.splitlines() == [f"archived {plan_a.id} Auth service", "archived 1 plan"]

    def test_archives_a_fresh_plan_too(self, plan_a):
        run("--plan", str(plan_a.id), "--org", "org-a")
        assert LivePlan.objects.get(id=plan_a.id).archived

    def test_already_archived_is_reported_and_not_an_error(self, plan_a, org_a):
        services.archive_plan(org=org_a, user=None, plan_id=plan_a.id)
        node_id = LivePlan.objects.get(id=plan_a.id).memory_node_id
        output = run("--plan", str(plan_a.id))
        assert output.splitlines() == [f"already archived {plan_a.id} Auth service", "archived 0 plans"]
        assert LivePlan.objects.get(id=plan_a.id).memory_node_id == node_id
        assert MemoryNode.objects.count() == 1

    def test_dry_run_changes_nothing(self, plan_a):
        output = run("--plan", str(plan_a.id), "--dry-run")
        assert not LivePlan.objects.get(id=plan_a.id).archived
        assert output.splitlines() == [f"would archive {plan_a.id} Auth service", "would archive 1 plan"]

    def test_plan_of_another_org_is_refused(self, plan_a, org_b):
        with pytest.raises(CommandError, match="No plan"):
            run("--plan", str(plan_a.id), "--org", "org-b")
        assert not LivePlan.objects.get(id=plan_a.id).archived


@pytest.mark.django_db
class TestBadArguments:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--plan", str(uuid.UUID(int=1))], "No plan"),
            (["--plan", "not-a-uuid"], "Not a plan id"),
            (["--plan", ""], "Not a plan id"),
            (["--idle-days", "-1"], "between 0 and"),
            (["--idle-days", "99999999"], "between 0 and"),
            (["--idle-days", "30", "--org", "nope"], "Unknown org"),
            (["--idle-days", "soon"], "invalid int value"),
            ([], "one of the arguments --plan --idle-days is required"),
            (["--plan", str(uuid.UUID(int=1)), "--idle-days", "3"], "not allowed with"),
        ],
    )
    def test_bad_arguments_are_command_errors(self, org_a, args, message):
        with pytest.raises(CommandError, match=message):
            run(*args)
        assert not LivePlan.objects.filter(archived=True).exists()

    def test_a_failing_plan_is_reported_and_the_rest_archived(self, stale_and_fresh, monkeypatch):
        from aep.errors import InvalidInput
        from plans.management.commands import archive_plans

        real_archive = archive_plans.archive_plan

        def flaky(**kwargs):  # type: ignore[no-untyped-def]
            if kwargs["plan_id"] == stale_and_fresh["older_b"].id:
                raise InvalidInput("broken plan")
            return real_archive(**kwargs)

        monkeypatch.setattr(archive_plans, "archive_plan", flaky)
        err = StringIO()
        with pytest.raises(CommandError, match="1 plan could not be archived"):
            call_command("archive_plans", "--idle-days", "30", stdout=StringIO(), stderr=err)
        assert "broken plan" in err.getvalue()
        assert archived_ids() == {stale_and_fresh["old_a"].id}


def test_the_command_runs_as_a_process(tmp_path):
    """The real entry point: exit codes and messages as an operator sees them."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "archive_plans", "--idle-days", "-5"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SQLITE_PATH": str(tmp_path / "empty.sqlite3")},
        timeout=60,
    )
    assert result.returncode != 0
    assert "--idle-days must be between 0 and" in result.stderr
