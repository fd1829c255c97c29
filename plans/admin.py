"""Admin for live plans: find, read and archive. Plans and steps are written only by the services
(with their audit rows, metrics and live events), so the admin neither adds, edits nor deletes them;
archiving goes through `plans.services.archive_plan`, exactly as the API and the pages do."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from aep.admin import ReadOnlyAdmin
from aep.errors import DomainError
from plans import services
from plans.models import LivePlan
from plans.selectors import plan_steps

STEPS_SHOWN = 500  # a read-only page, not an export: very long plans are cut here


@admin.register(LivePlan)
class LivePlanAdmin(ReadOnlyAdmin):
    list_display = ["title", "org", "archived", "step_count", "updated_at"]
    list_filter = ["org", "archived"]
    list_select_related = ["org"]
    search_fields = ["title", "description"]
    ordering = ["-updated_at", "-id"]
    actions = ["archive_selected"]
    fields = [
        "id",
        "org",
        "title",
        "description",
        "participant_names",
        "archived",
        "archived_at",
        "memory_node",
        "step_count",
        "version",
        "created_by",
        "created_at",
        "updated_at",
        "steps_in_order",
    ]
    readonly_fields = fields

    def has_archive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("plans.change_liveplan")

    @admin.display(description="Participants")
    def participant_names(self, plan: LivePlan) -> str:
        return ", ".join(plan.participants) or "-"

    @admin.display(description="Steps (in the plan's order; deleted ones left out)")
    def steps_in_order(self, plan: LivePlan) -> str:
        steps = list(plan_steps(plan)[:STEPS_SHOWN])
        if not steps:
            return "No steps."

        def done(step: object) -> str:
            if not step.done:  # type: ignore[attr-defined]
                return ""
            when = step.done_at.strftime("%Y-%m-%d %H:%M UTC") if step.done_at else ""  # type: ignore[attr-defined]
            return f"✓ {step.done_by or ''} {when}".strip()  # type: ignore[attr-defined]

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (n, s.owner, s.text, done(s), s.version, s.ts.strftime("%Y-%m-%d %H:%M:%S UTC"))
                for n, s in enumerate(steps, start=1)
            ),
        )
        total = plan_steps(plan).count() if len(steps) == STEPS_SHOWN else len(steps)
        more = format_html("<p>… and {} more.</p>", total - len(steps)) if total > len(steps) else ""
        return format_html(
            "<table><thead><tr><th>#</th><th>Owner</th><th>Step</th><th>Done</th><th>Version</th>"
            "<th>Added</th></tr></thead><tbody>{}</tbody></table>{}",
            rows,
            more,
        )

    @admin.action(description="Archive selected plans", permissions=["archive"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[LivePlan]) -> None:
        archived = skipped = 0
        for plan in queryset.select_related("org"):
            if plan.archived:
                skipped += 1
                continue
            try:
                # One transaction per plan (the service's): a refused plan does not undo the others.
                services.archive_plan(org=plan.org, user=request.user, plan_id=plan.id)
            except DomainError as exc:
                self.message_user(request, f"“{plan.title}” was not archived: {exc.detail}", messages.ERROR)
            else:
                archived += 1
        if archived:
            self.message_user(
                request,
                ngettext("Archived %d plan.", "Archived %d plans.", archived) % archived,
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext("%d plan was already archived.", "%d plans were already archived.", skipped)
                % skipped,
                messages.INFO,
            )
