"""The memory pages: /memory (search as you type with htmx, a plain GET form without), the htmx
results endpoint and /memory/<id>, each tried by the wrong persona too (alice: org A, bob: org B,
carol: both). Nodes are made by archiving plans through the plan services."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.template.loader import render_to_string
from django.test import Client

from memory_graph.models import MemoryNode
from memory_graph.services import create_node, link
from plans import fragments
from plans import services as plan_services
from plans.models import LivePlan
from tests.memory_graph.test_search import HOSTILE

HTMX = {"HTTP_HX_REQUEST": "true"}
NODE_LINK = re.compile(r'href="/memory/([0-9a-f-]{36})"')


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, **params: str) -> str:
    response = client.get(f"/memory?{urlencode(params)}")
    assert response.status_code == 200
    return response.content.decode()


def partial(client: Client, **params: str) -> str:
    response = client.get(f"/memory/search?{urlencode(params)}", **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def results_of(html: str) -> str:
    """The results list of a page or of an htmx answer (the part `_results.html` renders)."""
    match = re.search(
        r'(<ol class="memory-list".*?</ol>|<section class="empty-state.*?</section>)', html, re.S
    )
    assert match, html
    return match.group(1)


def linked_nodes(html: str) -> list[str]:
    return NODE_LINK.findall(results_of(html))


def archive_plan(org: Any, title: str, steps: list[tuple[str, str]], **kwargs: Any) -> LivePlan:
    plan = plan_services.start_plan(org=org, user=None, title=title, **kwargs)
    for owner, text in steps:
        plan_services.add_step(org=org, user=None, plan_id=plan.id, text=text, owner=owner)
    return plan_services.archive_plan(org=org, user=None, plan_id=plan.id)


@pytest.fixture
def nodes(org_a: Any, org_b: Any) -> dict[str, MemoryNode]:
    auth = archive_plan(
        org_a,
        "Authentication service",
        [("Maya", "Design the token schema"), ("Jonas", "Write the migration"), ("Maya", "Ship it")],
        description="Move every client to token auth.",
        participants=["Maya", "Jonas", "Priya", "Lee", "Ana"],
    )
    billing = archive_plan(org_a, "Billing revamp", [("Lee", "Move invoices to the authentication provider")])
    secret = archive_plan(org_b, "Authentication for B", [("Bo", "B's secret authentication step")])
    return {
        "auth": MemoryNode.objects.get(id=auth.memory_node_id),
        "billing": MemoryNode.objects.get(id=billing.memory_node_id),
        "note": create_node(org=org_a, kind="note", content="Authentication review notes"),
        "secret": MemoryNode.objects.get(id=secret.memory_node_id),
    }


# --- Access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/memory", "/memory?q=auth", "/memory/search?q=auth"])
def test_search_pages_redirect_anonymous_to_login_with_next(db: Any, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={quote(path, safe='/')}"


def test_node_page_redirects_anonymous_to_login(nodes: dict[str, MemoryNode]) -> None:
    path = f"/memory/{nodes['auth'].id}"
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
    assert "Authentication" not in response.content.decode()


@pytest.mark.parametrize("path", ["/memory", "/memory/search"])
def test_pages_are_read_only(alice: Any, path: str) -> None:
    assert login(alice).post(path, {"q": "x"}).status_code == 405


# --- /memory: search ----------------------------------------------------------------------------------


def test_search_page_has_a_labelled_autofocused_box_with_htmx_and_a_plain_form(alice: Any) -> None:
    html = page(login(alice))
    assert '<label for="memory-q">Search memory</label>' in html
    box = re.search(r'<input type="search" id="memory-q"[^>]*>', html, re.S).group(0)
    assert "autofocus" in box and 'name="q"' in box
    assert 'hx-get="/memory/search"' in box
    assert 'hx-trigger="input changed delay:300ms, search"' in box
    assert 'hx-target="#results"' in html and 'id="results"' in html
    # without JavaScript: an ordinary GET form to the page itself, with a submit button
    assert re.search(r'<form id="memory-search-form"[^>]*method="get" action="/memory"', html)
    assert '<button type="submit"' in html
    # the org switcher comes back to /memory
    assert "Memory</a>" in html and 'aria-current="page">Memory' in html


def test_the_org_switcher_returns_to_memory(carol: Any, nodes: dict[str, MemoryNode]) -> None:
    client = login(carol)
    for path in ["/memory", f"/memory/{nodes['auth'].id}"]:
        html = client.get(path).content.decode()
        assert '<select id="org-switch-select" name="org">' in html
        assert '<input type="hidden" name="next" value="/memory">' in html


def test_results_are_best_match_first_with_what_a_list_shows(
    alice: Any, nodes: dict[str, MemoryNode]
) -> None:
    html = page(login(alice), q="authentication")
    assert linked_nodes(html)[:1] == [str(nodes["auth"].id)]
    assert set(linked_nodes(html)) == {str(nodes[k].id) for k in ("auth", "billing", "note")}
    results = results_of(html)
    first = results.split('<li class="card memory-result">')[1]
    assert "Authentication service" in first
    assert '<span class="badge badge-kind">Plan session</span>' in first
    assert "<dt>Steps</dt><dd>3</dd>" in first
    # participants, truncated to three names
    assert "Maya, Jonas, Priya" in first and "+2 more" in first and "Ana" not in first
    assert "<dt>Archived</dt>" in first
    assert re.search(
        r"<time datetime=\"\d{4}-\d\d-\d\dT[^\"]+\" title=\"[^\"]+ UTC\">\d{1,2} \w{3} \d{4}</time>", first
    )
    assert '<span class="badge badge-kind">note</span>' in results
    assert "3 results for “authentication”, best match first" in html


def test_results_show_only_the_current_org(
    alice: Any, bob: Any, carol: Any, nodes: dict[str, MemoryNode]
) -> None:
    secret = str(nodes["secret"].id)
    for html in [page(login(alice), q="authentication"), partial(login(alice), q="secret authentication")]:
        assert secret not in html and "Authentication for B" not in html
    assert "secret" not in page(login(alice)).lower()  # nor among the recent nodes
    assert linked_nodes(page(login(bob), q="authentication")) == [secret]
    client = login(carol)
    assert secret not in page(client, q="authentication")  # org A first
    client.post("/org/switch", {"org": "org-b"})
    assert linked_nodes(page(client, q="authentication")) == [secret]
    assert linked_nodes(partial(client, q="authentication")) == [secret]


def test_htmx_endpoint_returns_the_same_results_as_the_page_without_the_layout(
    alice: Any, nodes: dict[str, MemoryNode]
) -> None:
    client = login(alice)
    response = client.get("/memory/search?q=token", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<body" not in html and "topbar" not in html
    assert results_of(html) == results_of(page(client, q="token"))
    assert linked_nodes(html) == [str(nodes["auth"].id)]
    # the status line is updated out-of-band, and the address bar gets the page's own URL
    assert '<p id="results-status"' in html and 'hx-swap-oob="innerHTML"' in html
    assert response["HX-Replace-Url"] == "/memory?q=token"


def test_htmx_endpoint_opened_directly_goes_to_the_page(alice: Any) -> None:
    response = login(alice).get("/memory/search?q=token&kind=plan_session")
    assert response.status_code == 302
    assert response["Location"] == "/memory?q=token&kind=plan_session"


def test_search_as_you_type_matches_a_half_typed_word(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    assert linked_nodes(partial(login(alice), q="authent"))[:1] == [str(nodes["auth"].id)]


def test_initial_state_lists_the_most_recent_nodes(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    client = login(alice)
    html = page(client)
    expected = [str(nodes[k].id) for k in ("note", "billing", "auth")]
    assert linked_nodes(html) == expected
    assert "The 3 most recent nodes" in html
    assert linked_nodes(partial(client, q="   ")) == expected
    plan_only = page(client, kind="plan_session")
    assert linked_nodes(plan_only) == expected[1:]
    assert "The 2 most recent plan session nodes" in plan_only


def test_initial_state_is_capped_at_twenty(alice: Any, org_a: Any) -> None:
    for i in range(23):
        create_node(org=org_a, kind="plan_session", content=json.dumps({"title": f"Plan {i}"}))
    assert len(linked_nodes(page(login(alice)))) == 20


def test_empty_memory_says_so(alice: Any) -> None:
    html = page(login(alice))
    assert "Nothing in memory yet" in html
    assert 'href="/plans"' in results_of(html)


@pytest.mark.parametrize("q", ["zebra", "the of and", "!!!"])
def test_no_match_says_so(alice: Any, nodes: dict[str, MemoryNode], q: str) -> None:
    for html in [page(login(alice), q=q), partial(login(alice), q=q)]:
        assert f"No memory matches “{q}”" in results_of(html)
        assert linked_nodes(html) == []


def test_kind_filter(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    client = login(alice)
    html = page(client, q="authentication", kind="note")
    assert linked_nodes(html) == [str(nodes["note"].id)]
    assert "1 result for “authentication” in note" in html
    assert linked_nodes(partial(client, q="authentication", kind="plan_session")) == [
        str(nodes["auth"].id),
        str(nodes["billing"].id),
    ]
    # the select offers all kinds, plan sessions, and the other kinds this org has, chosen one selected
    assert '<option value="">All kinds</option>' in html
    assert '<option value="plan_session">Plan session</option>' in html
    assert '<option value="note" selected>note</option>' in html


def test_kind_filter_offers_only_this_orgs_kinds(
    alice: Any, org_b: Any, nodes: dict[str, MemoryNode]
) -> None:
    create_node(org=org_b, kind="b_only_kind", content="Authentication elsewhere")
    html = page(login(alice))
    assert "b_only_kind" not in html
    # asking for it anyway is just "all kinds" of this org: nothing of org B comes back
    html = page(login(alice), q="authentication", kind="b_only_kind")
    assert len(linked_nodes(html)) == 3 and str(nodes["secret"].id) not in html


HOSTILE_QUERIES = [
    *[h for h in HOSTILE if "\ud800" not in h],
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }} {% now 'Y' %}",
    "auth " * 2000,
    "x" * 20_000,
]


@pytest.mark.parametrize("q", HOSTILE_QUERIES)
def test_hostile_queries_render_escaped_and_never_fail(
    alice: Any, nodes: dict[str, MemoryNode], q: str
) -> None:
    client = login(alice)
    for response in [
        client.get("/memory", {"q": q, "kind": q}),
        client.get("/memory/search", {"q": q, "kind": q}, **HTMX),
    ]:
        assert response.status_code == 200
        html = response.content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
    if q.startswith("{{"):
        assert "{{ 7*7 }} {% now &#x27;Y&#x27; %}" in page(client, q=q)  # shown, never evaluated
    if "<script>" in q:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page(client, q=q)


def test_raw_hostile_bytes_in_the_url_never_fail(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    client = login(alice)
    for raw in ["%27", "%00", "%ff%fe", "%ED%A0%80", "%E2%80%AE", "%3Cscript%3E", "a&q=b&q=c"]:
        assert client.get(f"/memory?q={raw}").status_code == 200, raw
        assert client.get(f"/memory/search?q={raw}&kind={raw}", **HTMX).status_code == 200, raw


def test_a_very_long_query_is_cut_not_refused(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    html = page(login(alice), q="token " + "x" * 5000)
    assert "x" * 5000 not in html
    assert 'maxlength="200"' in html


# --- /memory/<id>: a node -----------------------------------------------------------------------------


def test_node_page_shows_the_plan_steps_in_order_and_participants(
    alice: Any, nodes: dict[str, MemoryNode]
) -> None:
    node = nodes["auth"]
    response = login(alice).get(f"/memory/{node.id}")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 class="plan-title">Authentication service</h1>' in html
    assert '<span class="badge badge-kind">Plan session</span>' in html
    assert "Move every client to token auth." in html
    assert "Saved to memory <time" in html and "plan archived <time" in html
    texts = re.findall(r'<p class="step-text">(.*?)</p>', html)
    assert texts == ["Design the token schema", "Write the migration", "Ship it"]
    owners = re.findall(r'<span class="step-owner">(.*?)</span>', html)
    assert owners == ["Maya", "Jonas", "Maya"]
    assert len(re.findall(r'<time class="step-time" datetime="\d{4}-', html)) == 3
    chips = re.findall(r'<li class="chip">(.*?)</li>', html)
    assert chips == ["Maya", "Jonas", "Priya", "Lee", "Ana"]


def test_node_page_shows_which_steps_were_done(alice: Any, org_a: Any) -> None:
    from plans import services

    plan = services.start_plan(org=org_a, user=alice, title="Finished work")
    ticked = services.add_step(org=org_a, user=alice, plan_id=plan.id, text="Ticked off")
    services.add_step(org=org_a, user=alice, plan_id=plan.id, text="Left open")
    services.update_step(org=org_a, user=alice, plan_id=plan.id, step_id=ticked.id, done=True)
    node_id = services.archive_plan(org=org_a, user=alice, plan_id=plan.id).memory_node_id
    html = login(alice).get(f"/memory/{node_id}").content.decode()
    done = html[html.index("Ticked off") - 800 : html.index("Ticked off")]
    assert '<li class="step step-done">' in done and "✓ Done by Alice Archer" in done
    assert "✓ Done" not in html[html.index("Left open") - 300 : html.index("Left open")]


def test_node_page_links_the_original_plan_while_it_exists(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    node = nodes["auth"]
    plan_id = node.metadata["plan_id"]
    client = login(alice)
    assert f'href="/plan/{plan_id}">Open the plan</a>' in client.get(f"/memory/{node.id}").content.decode()
    LivePlan.objects.filter(id=plan_id).delete()
    html = client.get(f"/memory/{node.id}").content.decode()
    assert "Open the plan" not in html and f"/plan/{plan_id}" not in html


def test_node_page_never_links_a_plan_of_another_org(alice: Any, org_a: Any, plan_b: Any) -> None:
    node = create_node(org=org_a, kind="plan_session", content="{}", metadata={"plan_id": str(plan_b.id)})
    html = login(alice).get(f"/memory/{node.id}").content.decode()
    assert str(plan_b.id) not in html


def test_node_page_shows_edges_both_ways(alice: Any, org_a: Any, nodes: dict[str, MemoryNode]) -> None:
    context = create_node(org=org_a, kind="note", content=json.dumps({"title": "Design review"}))
    link(source=context, target=nodes["auth"], kind="used_in_planning")
    link(source=nodes["auth"], target=nodes["billing"], kind="followed_by")
    client = login(alice)

    html = client.get(f"/memory/{nodes['auth'].id}").content.decode()
    out = html.split("From this node")[1].split("To this node")[0]
    into = html.split("To this node")[1]
    assert re.search(
        r'→</span> <span class="edge-kind">followed_by</span> '
        r'<span class="edge-arrow" aria-hidden="true">→</span> '
        rf'<a href="/memory/{nodes["billing"].id}">Billing revamp</a>',
        out,
    )
    assert re.search(
        r'←</span> <span class="edge-kind">used_in_planning</span> '
        r'<span class="edge-arrow" aria-hidden="true">←</span> '
        rf'<a href="/memory/{context.id}">Design review</a>',
        into,
    )
    assert str(context.id) not in out and str(nodes["billing"].id) not in into

    html = client.get(f"/memory/{context.id}").content.decode()
    assert f'<a href="/memory/{nodes["auth"].id}">Authentication service</a>' in html.split("To this node")[0]


def test_a_node_without_edges_says_none(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    html = login(alice).get(f"/memory/{nodes['billing'].id}").content.decode()
    assert html.count('<p class="muted small">None.</p>') == 2


def test_other_kinds_show_their_content_escaped(alice: Any, org_a: Any) -> None:
    node = create_node(org=org_a, kind="note", content="Line one\n<script>alert('x')</script>\n  indented")
    html = login(alice).get(f"/memory/{node.id}").content.decode()
    assert (
        '<pre class="card memory-content">Line one\n'
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\n  indented</pre>" in html
    )
    assert "<script>alert" not in html
    assert '<span class="badge badge-kind">note</span>' in html


def test_a_plan_session_with_hostile_or_broken_content_renders(alice: Any, org_a: Any) -> None:
    content = json.dumps(
        {
            "title": "<b>bold</b>",
            "description": "<script>d()</script>",
            "steps": [
                {"id": "1", "text": "<img src=x onerror=s()>", "owner": "<i>o</i>", "ts": "not a time"},
                "not a step",
                {"text": 42, "owner": None, "ts": "2024-05-01T10:00:00Z"},
            ],
            "participants": ["<u>p</u>", 7, None],
        }
    )
    node = create_node(org=org_a, kind="plan_session", content=content, metadata={"archived_at": "garbage"})
    response = login(alice).get(f"/memory/{node.id}")
    assert response.status_code == 200
    html = response.content.decode()
    for raw in ["<b>bold", "<script>d()", "<img src=x", "<i>o", "<u>p"]:
        assert raw not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "&lt;img src=x onerror=s()&gt;" in html
    assert len(re.findall(r'<li class="step">', html)) == 2
    assert "1 May 2024, 10:00 UTC" in html
    for kind, text in [("plan_session", "not json at all"), ("plan_session", "[1]"), ("note", "[" * 100_000)]:
        broken = create_node(org=org_a, kind=kind, content=text)
        assert login(alice).get(f"/memory/{broken.id}").status_code == 200, (kind, text[:10])
    deep = "[" * 50_000 + "]" * 50_000  # deeper than json.loads can go
    for kind in ["plan_session", "note"]:
        node = create_node(org=org_a, kind=kind, content=deep)
        assert login(alice).get(f"/memory/{node.id}").status_code == 200, kind


def test_another_orgs_node_is_not_found(alice: Any, nodes: dict[str, MemoryNode]) -> None:
    response = login(alice).get(f"/memory/{nodes['secret'].id}")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "Authentication for B" not in html


def test_carol_sees_a_node_only_in_its_org(carol: Any, nodes: dict[str, MemoryNode]) -> None:
    client = login(carol)
    assert client.get(f"/memory/{nodes['secret'].id}").status_code == 404
    client.post("/org/switch", {"org": "org-b"})
    assert client.get(f"/memory/{nodes['secret'].id}").status_code == 200
    assert client.get(f"/memory/{nodes['auth'].id}").status_code == 404


@pytest.mark.parametrize("node_id", [str(uuid.uuid4()), "not-a-uuid", "123", "%27%3Cscript%3E", "0" * 300])
def test_unknown_or_malformed_ids_are_not_found(alice: Any, node_id: str) -> None:
    response = login(alice).get(f"/memory/{node_id}")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


# --- Links from the plan pages --------------------------------------------------------------------


def test_archived_banner_links_the_memory_node(db: Any) -> None:
    node_id = str(uuid.uuid4())
    for context in [
        {"plan_id": "p", "memory_node_id": node_id},
        {"plan_id": "p", "memory_node_id": node_id, "page_render": True},
    ]:
        html = render_to_string("plans/_archived_banner.html", context)
        assert f'<a href="/memory/{node_id}">Open it in Memory</a>' in html
    without = render_to_string("plans/_archived_banner.html", {"plan_id": "p", "memory_node_id": None})
    assert '<a href="/memory">Open Memory</a>' in without


def test_streamed_archive_event_links_the_memory_node(db: Any) -> None:
    node_id = str(uuid.uuid4())
    name, html = fragments.render_event_html({"type": "archived", "plan_id": "p", "memory_node_id": node_id})
    assert name == "archived_html" and f'href="/memory/{node_id}"' in html


def test_archived_plan_page_links_its_memory_node(alice: Any, org_a: Any, plan_a: Any) -> None:
    plan = plan_services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
    client = login(alice)
    html = client.get(f"/plan/{plan.id}").content.decode()
    assert f'href="/memory/{plan.memory_node_id}">View in Memory</a>' in html
    assert f'href="/memory/{plan.memory_node_id}">Open it in Memory</a>' in html
    node_page = client.get(f"/memory/{plan.memory_node_id}").content.decode()
    assert "Design the token schema" in node_page and f'href="/plan/{plan.id}"' in node_page
