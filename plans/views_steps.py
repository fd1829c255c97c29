"""Working a plan from its page (DESIGN 10): tick, edit in place, move, delete and undo, edit the plan.

Thin adapters like plans/views.py: each calls one service. An htmx request gets the fragment of the
event its change caused (`plans.fragments.render_event_html`, the one every other open page gets
from the stream), plus what only its author sees (a move's announcement, a delete's Undo toast);
a plain POST goes back to the page. Refusals: 404 for another plan's step, the service's message
otherwise (409 for an archived plan), as JSON-free HTML.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST, require_safe

from aep.errors import Conflict, DomainError, NotFound
from aep.models import Organization
from aep.pages import org_page
from plans import events, fragments, selectors, services
from plans.models import PlanStep


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _step_or_404(org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID) -> PlanStep:
    try:
        plan = selectors.get_plan(org=org, plan_id=plan_id)
    except NotFound:
        raise Http404("Plan not found.") from None
    step = selectors.live_steps(plan.id).filter(id=step_id).first()
    if step is None:
        raise Http404("Step not found.")
    return step


def _fragment(payload: dict[str, Any]) -> str:
    rendered = fragments.render_event_html(payload)
    return rendered[1] if rendered else ""


def _answer(request: HttpRequest, plan_id: uuid.UUID, html: str, *, status: int = 200) -> HttpResponse:
    if not _is_htmx(request):
        return redirect("plan-detail", plan_id=plan_id)
    return HttpResponse(html, status=status)


def _refused(request: HttpRequest, plan_id: uuid.UUID, exc: DomainError) -> HttpResponse:
    if isinstance(exc, NotFound):
        raise Http404(exc.detail)
    if not _is_htmx(request):
        messages.error(request, exc.detail)
        return redirect("plan-detail", plan_id=plan_id)
    toast = render_to_string("plans/_toast_error.html", {"detail": exc.detail})
    return HttpResponse(toast, status=200)  # shown out-of-band; the page stays as it is


def _edit_form(
    request: HttpRequest,
    step: Any,
    *,
    text: str,
    owner: str,
    version: int,
    conflict: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "step": step,
        "plan_id": step.plan_id,
        "text": text,
        "owner": owner,
        "version": version,
        "conflict": conflict,
        "error": error,
    }
    return render(request, "plans/_step_edit.html", context, status=status)


@require_safe
@org_page
def step_view(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    """The step as the list shows it (what Cancel puts back)."""
    step = _step_or_404(org, plan_id, step_id)
    return HttpResponse(fragments.render_step(str(plan_id), step))


@require_safe
@org_page
def step_edit(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    step = _step_or_404(org, plan_id, step_id)
    return _edit_form(request, step, text=step.text, owner=step.owner, version=step.version)


def _version(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@require_POST
@org_page
def step_update(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    """Save an edit. A stale version: the form again (409) with the current text shown and the
    editor's kept, and the current version, so that saving again replaces it knowingly."""
    text = request.POST.get("text", "")
    owner = request.POST.get("owner", "")
    version = _version(request.POST.get("version"))
    try:
        step = services.update_step(
            org=org,
            user=request.user,
            plan_id=plan_id,
            step_id=step_id,
            text=text,
            owner=owner,
            version=version,
        )
    except Conflict as exc:
        current = exc.extra.get("step")
        if current is None:
            return _refused(request, plan_id, exc)
        step = fragments.step_view(str(plan_id), current)
        notice = f"Someone else changed this step while you were editing it. It now says: “{current['text']}”"
        notice += (
            f" (owner {current['owner']}). Your text is kept below: Save replaces theirs, Cancel keeps it."
        )
        if not _is_htmx(request):
            messages.error(request, notice)
            return redirect("plan-detail", plan_id=plan_id)
        return _edit_form(
            request, step, text=text, owner=owner, version=current["version"], conflict=notice, status=409
        )
    except DomainError as exc:
        if isinstance(exc, NotFound) or not _is_htmx(request):
            return _refused(request, plan_id, exc)
        step = _step_or_404(org, plan_id, step_id)
        return _edit_form(
            request,
            step,
            text=text,
            owner=owner,
            version=version or step.version,
            error=exc.detail,
            status=422,
        )
    return _answer(request, plan_id, fragments.render_step(str(plan_id), step))


@require_POST
@org_page
def step_done(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    done = request.POST.get("done") == "true"
    try:
        step = services.update_step(org=org, user=request.user, plan_id=plan_id, step_id=step_id, done=done)
    except DomainError as exc:
        return _refused(request, plan_id, exc)
    return _answer(request, plan_id, _fragment(events.step_updated_payload(step)))


def _after_for(plan_id: uuid.UUID, step_id: uuid.UUID, direction: str) -> tuple[bool, uuid.UUID | None]:
    """(whether it can move, the step to put it after) for one place up or down."""
    order = list(selectors.live_steps(plan_id).values_list("id", flat=True))
    if step_id not in order:
        raise Http404("Step not found.")
    index = order.index(step_id)
    if direction == "up":
        return index > 0, (order[index - 2] if index >= 2 else None)
    return index < len(order) - 1, (order[index + 1] if index + 1 < len(order) else None)


@require_POST
@org_page
def step_move(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    """Move a step one place (`direction` up or down: the buttons, keyboard) or after another
    (`after`, empty for first: drag and drop)."""
    direction = request.POST.get("direction")
    if direction in ("up", "down"):
        _step_or_404(org, plan_id, step_id)
        movable, after = _after_for(plan_id, step_id, direction)
        if not movable:
            return _answer(request, plan_id, "")
    else:
        raw_after = request.POST.get("after", "")
        try:
            after = uuid.UUID(raw_after) if raw_after else None
        except ValueError:
            return _refused(request, plan_id, services.InvalidInput("No step with this id in this plan."))
    try:
        step, after = services.move_step(
            org=org, user=request.user, plan_id=plan_id, step_id=step_id, after=after
        )
    except DomainError as exc:
        return _refused(request, plan_id, exc)
    order = list(selectors.live_steps(plan_id).values_list("id", flat=True))
    announce = f"Moved “{step.text[:60]}” to position {order.index(step.id) + 1} of {len(order)}."
    feedback = render_to_string("plans/_step_feedback.html", {"announce": announce})
    return _answer(request, plan_id, _fragment(events.step_moved_payload(step, after)) + feedback)


@require_POST
@org_page
def step_delete(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    try:
        step = services.delete_step(org=org, user=request.user, plan_id=plan_id, step_id=step_id)
    except DomainError as exc:
        return _refused(request, plan_id, exc)
    if not _is_htmx(request):
        messages.success(request, f"Deleted “{step.text[:60]}”.")
    context = {"deleted": step, "plan_id": plan_id, "announce": f"Deleted “{step.text[:60]}”."}
    feedback = render_to_string("plans/_step_feedback.html", context)
    return _answer(request, plan_id, _fragment(events.step_deleted_payload(step)) + feedback)


@require_POST
@org_page
def step_restore(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, step_id: uuid.UUID
) -> HttpResponse:
    try:
        step, after = services.restore_step(org=org, user=request.user, plan_id=plan_id, step_id=step_id)
    except DomainError as exc:
        return _refused(request, plan_id, exc)
    feedback = render_to_string("plans/_step_feedback.html", {"announce": f"Restored “{step.text[:60]}”."})
    closed = '<div id="toast" class="toast" role="status" hidden hx-swap-oob="true"></div>'
    return _answer(request, plan_id, _fragment(events.step_restored_payload(step, after)) + feedback + closed)


@require_POST
@org_page
def plan_edit(request: HttpRequest, org: Organization, plan_id: uuid.UUID) -> HttpResponse:
    """Rename a plan or change its description (the page's Edit dialog; a plain form post)."""
    title = request.POST.get("title", "")
    description = request.POST.get("description", "")
    try:
        services.update_plan(
            org=org,
            user=request.user,
            plan_id=plan_id,
            title=title,
            description=description,
            version=_version(request.POST.get("version")),
        )
    except NotFound:
        raise Http404("Plan not found.") from None
    except Conflict as exc:
        current = exc.extra.get("plan")
        if current is None:
            messages.error(request, exc.detail)
        else:
            messages.error(
                request,
                f"Someone else edited this plan meanwhile; it is now “{current['title']}”. Nothing was saved:"
                f" your title was “{title.strip()}”. Edit again to replace theirs.",
            )
    except DomainError as exc:
        messages.error(request, f"Not saved: {exc.detail}")
    else:
        messages.success(request, "Plan saved.")
    return redirect("plan-detail", plan_id=plan_id)
