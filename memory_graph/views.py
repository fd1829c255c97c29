"""Server-rendered memory pages (DESIGN 8): search the org's memory graph, and a node with its edges.

Thin adapters, like the plan pages: the org comes from `org_page`, every read goes through
`memory_graph.selectors` (or `scope()`), never a hand-written org filter. The results list is one
partial (`memory_graph/_results.html`) rendered both by the full page and by the htmx endpoint, so
search-as-you-type and the plain GET form (no JavaScript) show exactly the same thing.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from aep.errors import InvalidInput, NotFound
from aep.models import Organization
from aep.pages import org_page
from aep.tenancy import can_write
from memory_graph import selectors, services
from memory_graph.models import MemoryEdge, MemoryNode

RESULTS_LIMIT = selectors.SEARCH_LIMIT_DEFAULT
RELATED_SHOWN = 5
SIMILAR_SHOWN = 5
# Longer text is cut before it is searched or shown: no sensible query is longer, and the API refuses
# more than 500 characters anyway.
QUERY_MAX = 200
PARTICIPANTS_SHOWN = 3


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _parse_ts(value: Any) -> datetime.datetime | None:
    """An ISO 8601 time from a node's JSON, or None for anything else (nodes may hold any JSON)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


@dataclass
class PlanStepView:
    id: str
    text: str
    owner: str
    ts: datetime.datetime | None
    done: bool = False
    done_by: str = ""


@dataclass
class PlanSession:
    """What a `plan_session` node's content holds, read defensively: a field of the wrong type is
    left out rather than failing the page."""

    description: str = ""
    steps: list[PlanStepView] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)


def _plan_session(node: MemoryNode) -> PlanSession | None:
    if node.kind != MemoryNode.Kind.PLAN_SESSION:
        return None
    try:
        data = json.loads(node.content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    steps = [
        PlanStepView(
            id=str(s.get("id") or ""),
            text=s["text"] if isinstance(s.get("text"), str) else "",
            owner=s["owner"] if isinstance(s.get("owner"), str) else "",
            ts=_parse_ts(s.get("ts")),
            done=s.get("done") is True,
            done_by=s["done_by"] if isinstance(s.get("done_by"), str) else "",
        )
        for s in (data.get("steps") if isinstance(data.get("steps"), list) else [])
        if isinstance(s, dict)
    ]
    description = data.get("description")
    return PlanSession(
        description=description if isinstance(description, str) else "",
        steps=steps,
        participants=_names(data.get("participants")),
    )


@dataclass
class NodeSummary:
    """One search result as the list shows it."""

    node: MemoryNode
    session: PlanSession | None
    kind_label: str
    step_count: int | None
    participants: list[str]
    more_participants: int
    participants_all: list[str]
    archived_at: datetime.datetime | None


def _summary(node: MemoryNode) -> NodeSummary:
    metadata = node.metadata if isinstance(node.metadata, dict) else {}
    step_count = metadata.get("step_count")
    if not isinstance(step_count, int) or isinstance(step_count, bool):
        step_count = None
    names = _names(metadata.get("participants"))
    session = _plan_session(node)
    return NodeSummary(
        node=node,
        session=session,
        kind_label=kind_label(node.kind),
        step_count=step_count,
        participants=names[:PARTICIPANTS_SHOWN],
        more_participants=max(0, len(names) - PARTICIPANTS_SHOWN),
        participants_all=names,
        archived_at=_parse_ts(metadata.get("archived_at")),
    )


def kind_label(kind: str) -> str:
    """How a kind is shown: its label for the kinds the code knows ("Plan session"), else as stored."""
    return str(dict(MemoryNode.Kind.choices).get(kind, kind))


def _kinds(org: Organization) -> list[tuple[str, str]]:
    """The kinds the filter offers, (value, label): plan sessions always, then whatever other kinds
    the org has."""
    present = selectors.node_kinds(org=org)
    values = [MemoryNode.Kind.PLAN_SESSION.value, *sorted(present - {MemoryNode.Kind.PLAN_SESSION})]
    return [(value, kind_label(value)) for value in values]


def _recent(org: Organization, kind: str | None) -> list[MemoryNode]:
    return selectors.recent_nodes(org=org, kind=kind, limit=RESULTS_LIMIT)


def _results_context(request: HttpRequest, org: Organization) -> dict[str, Any]:
    """The query, the kind filter and their results: best match first, or the most recent nodes
    when nothing is typed."""
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:QUERY_MAX]
    kinds = _kinds(org)
    kind = request.GET.get("kind") or ""
    if kind not in dict(kinds):
        kind = ""  # "all", also for a kind this org does not have (a stale page, a hand-made URL)
    if query:
        nodes = selectors.search(query=query, org=org, kind=kind or None, limit=RESULTS_LIMIT)
    else:
        nodes = _recent(org, kind or None)
    return {
        "q": query,
        "kind": kind,
        "kind_label": kind_label(kind) if kind else "",
        "kinds": kinds,
        "results": [_summary(node) for node in nodes],
        "search_url": reverse("memory-search-results"),
    }


def _page_url(context: dict[str, Any]) -> str:
    """The shareable address of these results: the full page, not the htmx endpoint."""
    params = {k: context[k] for k in ("q", "kind") if context[k]}
    return reverse("memory-search") + (f"?{urlencode(params)}" if params else "")


@require_safe
@org_page
def memory_search(request: HttpRequest, org: Organization) -> HttpResponse:
    """`/memory`: the search page. Works as a plain GET form; htmx updates `#results` as you type."""
    return render(request, "memory_graph/memory_search.html", _results_context(request, org))


@require_safe
@org_page
def memory_search_results(request: HttpRequest, org: Organization) -> HttpResponse:
    """`/memory/search`: the results partial for htmx. The address bar gets the page's URL
    (`HX-Replace-Url`), so a reload or a shared link shows the same results. Opened directly, it
    sends the browser to that page."""
    context = _results_context(request, org)
    if not _is_htmx(request):
        return redirect(_page_url(context))
    response = render(request, "memory_graph/results_swap.html", context)
    response["HX-Replace-Url"] = _page_url(context)
    return response


@dataclass
class EdgeView:
    kind: str
    other: MemoryNode


def _plan_link(org: Organization, node: MemoryNode) -> str | None:
    """The original plan's page, while that plan (still) exists in the org."""
    plan_id = selectors.archived_plan_id(org=org, node=node)
    return None if plan_id is None else reverse("plan-detail", kwargs={"plan_id": plan_id})


@require_safe
@org_page
def memory_node(request: HttpRequest, org: Organization, node_id: str) -> HttpResponse:
    """`/memory/<id>`: a node, its content and its edges both ways. Another org's node, an unknown
    or a malformed id: 404."""
    try:
        node = selectors.get_node(org=org, node_id=node_id)
    except NotFound:
        raise Http404("Memory node not found.") from None
    out_edges: list[MemoryEdge] = list(
        selectors.edges_out(org=org, node=node).select_related("target").defer("target__search_vector")
    )
    in_edges: list[MemoryEdge] = list(
        selectors.edges_in(org=org, node=node).select_related("source").defer("source__search_vector")
    )
    summary = _summary(node)
    session = summary.session
    context = {
        "node": node,
        "session": session,
        "kind_label": summary.kind_label,
        "participants": session.participants if session else summary.participants_all,
        "archived_at": summary.archived_at,
        "plan_url": _plan_link(org, node),
        "edges_out": [EdgeView(kind=e.kind, other=e.target) for e in out_edges],
        "edges_in": [EdgeView(kind=e.kind, other=e.source) for e in in_edges],
        "pretty_content": None if session else _pretty(node.content),
        "related": _related(
            org, node, linked={e.target_id for e in out_edges} | {e.source_id for e in in_edges}
        ),
        "start_url": (
            f"{reverse('plan-new')}?{urlencode({'template': node.id})}"
            if session is not None and can_write(org)
            else None
        ),
    }
    return render(request, "memory_graph/memory_node.html", context)


@dataclass
class RelatedView:
    node: MemoryNode
    linked: bool


def _related(org: Organization, node: MemoryNode, *, linked: set[Any]) -> list[RelatedView]:
    return [
        RelatedView(node=other, linked=other.id in linked)
        for other in selectors.related(org=org, node=node, limit=RELATED_SHOWN)
    ]


@require_POST
@org_page
def memory_node_link(request: HttpRequest, org: Organization, node_id: str) -> HttpResponse:
    """`POST /memory/<id>/links` (`target`): a `relates_to` edge to another node of the org, then back
    to the node's page, where it is listed (and on the other node's page too). Viewers: 403 (org_page)."""
    try:
        node = selectors.get_node(org=org, node_id=node_id)
    except NotFound:
        raise Http404("Memory node not found.") from None
    try:
        services.link_nodes(org=org, source=node, target_id=request.POST.get("target", ""))
    except InvalidInput as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Linked.")
    return redirect("memory-node", node_id=node.id)


@require_safe
@org_page
def similar_plans(request: HttpRequest, org: Organization) -> HttpResponse:
    """`/memory/similar?title=`: the archived plans most like a title being typed (the new-plan page
    asks for it with htmx as the title changes), each with a link to start from it."""
    title = (request.GET.get("title") or "").replace("\x00", "").strip()[:QUERY_MAX]
    nodes = (
        selectors.search(query=title, org=org, kind=MemoryNode.Kind.PLAN_SESSION, limit=SIMILAR_SHOWN)
        if len(title) >= 3
        else []
    )
    plans = [
        {"node": node, "start_url": f"{reverse('plan-new')}?{urlencode({'template': node.id})}"}
        for node in nodes
    ]
    return render(request, "memory_graph/_similar_plans.html", {"plans": plans, "title": title})


def _pretty(content: str) -> str:
    """Other kinds' content as text: JSON indented, anything else as stored (escaped by the template)."""
    try:
        return json.dumps(json.loads(content), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return content
