"""Server-rendered plan pages (DESIGN 8). Thin adapters: resolve the org (`org_page`), validate a form,
call one service, render. Steps arriving live are rendered by the stream from the same partial
(`plans/_step.html`) the page uses."""

from __future__ import annotations

import datetime
import uuid
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from aep.errors import DomainError, NotFound
from aep.models import Organization
from aep.pages import choose_page_org, org_page
from aep.tenancy import can_write, scope
from memory_graph import selectors as memory_selectors
from memory_graph import services as memory_services
from memory_graph.models import MemoryNode
from plans import events, fragments, selectors, services
from plans.forms import PlanForm, StepForm
from plans.models import LivePlan
from plans.selectors import annotate_progress, get_plan, org_of_plan
from plans.serializers import progress_json

PLANS_PER_PAGE = 24


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _plan_or_404(org: Organization, plan_id: uuid.UUID | str) -> LivePlan:
    try:
        return get_plan(org=org, plan_id=plan_id)
    except NotFound:
        raise Http404("Plan not found.") from None


def _stream_url(plan: LivePlan, org: Organization, last_event_id: str | None) -> str:
    """The page's live connection (DESIGN 5): session-authenticated, org as `?org=` (EventSource
    cannot send headers), HTML fragments as named events, and resuming after `last_event_id`."""
    params: dict[str, Any] = {"org": org.id, "html": 1}
    if last_event_id:
        params["lastEventId"] = last_event_id
    return f"/api/plan/{plan.id}/stream?{urlencode(params)}"


def _ago(when: datetime.datetime, now: datetime.datetime) -> str:
    if now - when < datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(when, now, depth=1)} ago"


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return redirect("plan-list")


@require_safe
@org_page
def plan_list(request: HttpRequest, org: Organization) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    # The org stream's position before the plans are read: what changes after it arrives live.
    last_event_id = events.org_event_id(org.id)
    plans = scope(LivePlan.objects, org)
    if not show_archived:  # "Show archived" shows them beside the active ones
        plans = plans.filter(archived=False)
    plans = annotate_progress(plans.order_by("archived", "-updated_at", "-id"))
    page = Paginator(plans, PLANS_PER_PAGE).get_page(request.GET.get("page"))
    cards = list(page.object_list)
    now = timezone.now()
    for plan in cards:
        plan.updated_ago = _ago(plan.updated_at, now)  # type: ignore[attr-defined]
    archived_count = (
        0 if show_archived or cards else scope(LivePlan.objects, org).filter(archived=True).count()
    )
    context = {"page": page, "plans": cards, "show_archived": show_archived, "archived_count": archived_count}
    context["org_stream_url"] = (
        f"/api/org/stream?{urlencode({'org': org.id, 'html': 1, 'lastEventId': last_event_id})}"
    )
    return render(request, "plans/plan_list.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@org_page
def plan_new(request: HttpRequest, org: Organization) -> HttpResponse:
    if not can_write(org):  # a viewer gets the page that says why, not a form they cannot send
        return render(request, "registration/read_only.html", status=403)
    data = request.POST if request.method == "POST" else request.GET
    template = _template_or_none(org, data.get("template"))
    initial = {"template": template.id, "title": template.title} if template else None
    form = PlanForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        try:
            plan = services.start_plan(org=org, user=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            return redirect("plan-detail", plan_id=plan.id)
    context = {
        "form": form,
        "template": template,
        "template_steps": memory_selectors.template_steps(template) if template else [],
    }
    return render(request, "plans/plan_new.html", context, status=422 if form.errors else 200)


def _template_or_none(org: Organization, node_id: str | None) -> MemoryNode | None:
    """The archived plan a new plan starts from, when the page names one of the org's."""
    if not node_id:
        return None
    try:
        return memory_services.template_node(org=org, node_id=node_id)
    except DomainError:
        return None


def _detail_page(
    request: HttpRequest, org: Organization, plan_id: uuid.UUID, *, step_form: StepForm | None = None
) -> HttpResponse:
    # The plan, its steps and the id of its channel's last event, from one snapshot: the stream
    # replays everything after that id, so a change committed between this render and the browser
    # connecting still arrives, and applies to exactly the state rendered here.
    # A long plan shows its first PLAN_PAGE_STEPS steps (the whole plan's progress), and all of
    # them on request: the page of a plan at the step cap stays small (static/js/plan.js keeps a
    # part live: what moves out of it leaves, what moves into it is fetched).
    try:
        if request.GET.get("steps") == "all":
            plan, step_rows, last_event_id = events.plan_snapshot(org=org, plan_id=plan_id)
            cursor, progress = None, progress_json(step_rows)
        else:
            plan, step_rows, cursor, progress, last_event_id = events.plan_page_snapshot(
                org=org, plan_id=plan_id, limit=settings.PLAN_PAGE_STEPS, after=None
            )
    except NotFound:
        raise Http404("Plan not found.") from None
    steps = [fragments.step_view(str(plan.id), row) for row in step_rows]
    if step_form is None:
        step_form = StepForm(initial={"owner": services.display_name(request.user)})
    status = 422 if step_form.errors else 200
    context = {
        "plan": plan,
        "steps": steps,
        "partial": cursor is not None,
        "progress": progress,
        "step_form": step_form,
        "stream_url": None if plan.archived else _stream_url(plan, org, last_event_id),
    }
    return render(request, "plans/plan_detail.html", context, status=status)


@require_safe
@org_page
def plan_progress(request: HttpRequest, org: Organization, plan_id: uuid.UUID) -> HttpResponse:
    """The progress line of a plan's page, for a page that shows only part of the plan."""
    plan = _plan_or_404(org, plan_id)
    return render(request, "plans/_progress.html", {"progress": selectors.progress_of(plan.id)})


@require_safe
@org_page
def plan_detail(request: HttpRequest, org: Organization, plan_id: uuid.UUID) -> HttpResponse:
    """The plan's page. A member of the plan's org who has another org chosen is switched to the
    plan's org (and told so); anyone else gets the 404 of a plan that does not exist."""
    home = org_of_plan(plan_id=plan_id, orgs=request.page_orgs)  # type: ignore[attr-defined]
    if home is not None and home.id != org.id:
        choose_page_org(request, home)
        messages.info(request, f"Switched to {home.name} to show this plan.")
        return redirect(request.get_full_path())  # the same page (and query), in the plan's org
    return _detail_page(request, org, plan_id)


def _focus_text(form: StepForm) -> None:
    """Swapped-in forms put the cursor back in the text (htmx focuses `[autofocus]` in new content)."""
    form.fields["text"].widget.attrs["autofocus"] = True


@require_POST
@org_page
def step_add(request: HttpRequest, org: Organization, plan_id: uuid.UUID) -> HttpResponse:
    """Add a step. From htmx: the step's fragment (appended to the list) plus a fresh form swapped
    out-of-band; without JavaScript: back to the page. Invalid: the form again with its errors."""
    plan = _plan_or_404(org, plan_id)
    form = StepForm(request.POST)
    if form.is_valid():
        try:
            step = services.add_step(
                org=org,
                user=request.user,
                plan_id=plan.id,
                text=form.cleaned_data["text"],
                owner=form.cleaned_data["owner"] or None,
            )
        except NotFound:
            raise Http404("Plan not found.") from None
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            if not _is_htmx(request):
                return redirect("plan-detail", plan_id=plan.id)
            fresh = StepForm(initial={"owner": step.owner})
            _focus_text(fresh)
            plan.refresh_from_db(fields=["participants"])  # the author may have joined
            return render(
                request,
                "plans/step_added.html",
                {"plan": plan, "step": step, "step_form": fresh},
            )
    if not _is_htmx(request):
        return _detail_page(request, org, plan.id, step_form=form)
    _focus_text(form)
    response = render(request, "plans/_step_form.html", {"plan": plan, "step_form": form}, status=422)
    response["HX-Retarget"] = "#add-step-form"
    response["HX-Reswap"] = "outerHTML"
    return response


@require_POST
@org_page
def plan_archive(request: HttpRequest, org: Organization, plan_id: uuid.UUID) -> HttpResponse:
    try:
        plan = services.archive_plan(org=org, user=request.user, plan_id=plan_id)
    except NotFound:
        raise Http404("Plan not found.") from None
    messages.success(request, f"“{plan.title}” was archived and saved to memory.")
    target = reverse("plan-list")
    if _is_htmx(request):
        response = HttpResponse(status=200)
        response["HX-Redirect"] = target
        return response
    return redirect(target)
