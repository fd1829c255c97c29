"""The server-rendered pages: login and org resolution, the plan list, New Plan, the plan page, Add Step
and Archive, each tried by the wrong persona too (alice: org A, bob: org B, carol: both)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from aep.errors import InvalidInput
from aep.models import AuditLog
from aep.tenancy import SESSION_ORG_KEY
from plans import events, fragments, services
from plans.models import LivePlan, PlanStep
from tests.factories import UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def plan_url(plan: Any, suffix: str = "") -> str:
    return f"/plan/{plan.id}{suffix}"


def step_ids(html: str) -> list[str]:
    return re.findall(r'<li class="step" id="step-([0-9a-f-]{36})"', html)


# --- Authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/plans", "/plans?archived=1", "/plans/new"])
def test_pages_redirect_anonymous_to_login_with_next(db: Any, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={quote(path, safe='/')}"


def test_plan_page_redirects_anonymous_to_login(plan_a: Any) -> None:
    response = Client().get(plan_url(plan_a))
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/plan/{plan_a.id}"


@pytest.mark.parametrize("suffix", ["/step", "/archive"])
def test_writes_redirect_anonymous_to_login_and_write_nothing(
    plan_a: Any, db_state: Any, suffix: str
) -> None:
    before = db_state()
    response = Client().post(plan_url(plan_a, suffix), {"text": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert db_state() == before


def test_root_redirects_to_plans(db: Any) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/plans"


def test_login_page_renders_a_labelled_form(db: Any) -> None:
    response = Client().get("/accounts/login/?next=/plans/new")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert 'name="next" value="/plans/new"' in html


def test_login_goes_back_to_next(alice: Any) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "pw-for-tests", "next": "/plans/new"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/plans/new"
    assert client.get("/plans/new").status_code == 200


def test_login_with_a_wrong_password_shows_an_error(alice: Any) -> None:
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_without_next_lands_on_plans(alice: Any) -> None:
    response = Client().post("/accounts/login/", {"username": "alice", "password": "pw-for-tests"})
    assert response["Location"] == "/plans"


def test_logout_is_a_post(alice: Any) -> None:
    client = login(alice)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/plans").status_code == 302


def test_a_user_without_org_is_told_to_ask_an_admin(db: Any) -> None:
    loner = UserFactory(username="loner")
    response = login(loner).get("/plans")
    assert response.status_code == 403
    assert "Ask an administrator" in response.content.decode()
    assert SESSION_ORG_KEY not in login(loner).session


# --- Org resolution and the switcher --------------------------------------------------------------


def test_a_user_of_one_org_never_chooses(alice: Any, plan_a: Any) -> None:
    client = login(alice)
    response = client.get("/plans")
    assert response.status_code == 200
    assert client.session[SESSION_ORG_KEY] == "org-a"
    html = response.content.decode()
    assert "Auth service" in html
    assert 'name="org"' not in html  # no switcher for one org
    assert "Org A" in html


def test_lists_show_only_the_current_org(alice: Any, bob: Any, plan_a: Any, plan_b: Any) -> None:
    html_a = login(alice).get("/plans").content.decode()
    html_b = login(bob).get("/plans").content.decode()
    assert "Auth service" in html_a and "Secret B plan" not in html_a
    assert "Secret B plan" in html_b and "Auth service" not in html_b


def test_another_orgs_plan_is_not_found(bob: Any, plan_a: Any) -> None:
    response = login(bob).get(plan_url(plan_a))
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "Auth service" not in html


@pytest.mark.parametrize("path", [f"/plan/{uuid.uuid4()}", "/plan/not-a-uuid", "/plan/123/step"])
def test_unknown_plans_are_not_found(alice: Any, path: str) -> None:
    assert login(alice).get(path).status_code == 404


def test_carol_switches_to_org_b_and_sees_its_plans(carol: Any, plan_a: Any, plan_b: Any) -> None:
    client = login(carol)
    first = client.get("/plans").content.decode()
    assert "Auth service" in first and "Secret B plan" not in first  # Org A comes first by name
    assert '<select id="org-switch-select" name="org">' in first

    response = client.post("/org/switch", {"org": "org-b", "next": "/plans"})
    assert response.status_code == 302
    assert response["Location"] == "/plans"
    assert client.session[SESSION_ORG_KEY] == "org-b"

    html = client.get("/plans").content.decode()
    assert "Secret B plan" in html and "Auth service" not in html
    assert client.get(plan_url(plan_b)).status_code == 200
    # A link to org A's plan still works for her: it switches her back to org A (DESIGN 11).
    assert client.get(plan_url(plan_a))["Location"] == plan_url(plan_a)
    assert client.session[SESSION_ORG_KEY] == "org-a"


@pytest.mark.parametrize("org_id", ["org-b", "no-such-org", "", "x" * 100])
def test_switching_to_an_org_you_are_not_in_is_refused(alice: Any, org_b: Any, org_id: str) -> None:
    client = login(alice)
    client.get("/plans")
    response = client.post("/org/switch", {"org": org_id})
    assert response.status_code == 403
    assert "You cannot switch to that organisation" in response.content.decode()
    assert client.session[SESSION_ORG_KEY] == "org-a"


def test_switch_ignores_an_offsite_next(carol: Any) -> None:
    response = login(carol).post("/org/switch", {"org": "org-b", "next": "https://evil.example/"})
    assert response["Location"] == "/plans"


def test_switch_needs_login_and_post(carol: Any) -> None:
    assert Client().post("/org/switch", {"org": "org-b"}).status_code == 302
    assert login(carol).get("/org/switch").status_code == 405


def test_a_revoked_membership_falls_back_to_a_real_org(carol: Any, plan_a: Any, plan_b: Any) -> None:
    client = login(carol)
    client.post("/org/switch", {"org": "org-b"})
    carol.memberships.filter(org_id="org-b").delete()
    html = client.get("/plans").content.decode()
    assert "Auth service" in html and "Secret B plan" not in html
    assert client.session[SESSION_ORG_KEY] == "org-a"


# --- /plans ---------------------------------------------------------------------------------------


def test_plan_list_shows_cards(alice: Any, plan_a: Any) -> None:
    services.start_plan(org=plan_a.org, user=alice, title="Second", description="Some words", participants=[])
    response = login(alice).get("/plans")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Live Plans</h1>" in html
    assert 'class="lede"' in html
    assert f'href="/plan/{plan_a.id}"' in html
    assert "Some words" in html
    # plan_a: 2 steps; participants alice, "Alice Archer" and bob (the owners of its steps join)
    card = html[html.index(f'href="/plan/{plan_a.id}"') :]
    assert re.search(r"<dt>Progress</dt><dd>0 of 2 done", card)
    assert re.search(r"<dt>Participants</dt><dd>3</dd>", card)
    assert "just now</time>" in card
    assert "badge-archived" not in html
    assert 'href="/plans/new"' in html


def test_plan_cards_say_when_they_were_updated(alice: Any, plan_a: Any) -> None:
    LivePlan.objects.filter(id=plan_a.id).update(updated_at=timezone.now() - timedelta(hours=3, minutes=5))
    html = login(alice).get("/plans").content.decode()
    assert "3\xa0hours ago</time>" in html


def test_plan_list_shows_active_plans_by_default_and_archived_only_with_the_toggle(
    alice: Any, org_a: Any, plan_a: Any
) -> None:
    old = services.start_plan(org=org_a, user=alice, title="Old plan")
    services.archive_plan(org=org_a, user=alice, plan_id=old.id)
    client = login(alice)

    active = client.get("/plans").content.decode()
    assert "Auth service" in active and "Old plan" not in active
    assert 'name="archived" value="1" role="switch">' in active  # unchecked

    archived = client.get("/plans?archived=1").content.decode()
    # beside the active ones, active first, the archived one marked
    assert "Auth service" in archived and "Old plan" in archived
    assert archived.index("Auth service") < archived.index("Old plan")
    assert archived.count('<span class="badge badge-archived">Archived</span>') == 1
    assert 'role="switch" checked' in archived


def test_empty_state_links_to_new_plan(alice: Any) -> None:
    html = login(alice).get("/plans").content.decode()
    assert "No plans yet" in html
    assert '<a class="btn btn-primary" href="/plans/new">Create your first plan</a>' in html


def test_an_org_whose_plans_are_all_archived_says_so(alice: Any, org_a: Any, plan_a: Any) -> None:
    services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
    html = login(alice).get("/plans").content.decode()
    assert "No plans yet" not in html
    assert "No active plans" in html and "All of this org's plans are archived (1)" in html
    assert 'href="/plans?archived=1">Show archived plans</a>' in html


def test_show_archived_with_no_plans_at_all(alice: Any) -> None:
    html = login(alice).get("/plans?archived=1").content.decode()
    assert "No plans yet" in html


def test_a_plan_link_switches_a_member_of_both_orgs_to_the_plans_org(
    carol: Any, org_b: Any, plan_a: Any
) -> None:
    client = login(carol)
    client.post("/org/switch", {"org": org_b.id})
    response = client.get(f"/plan/{plan_a.id}", follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Switched to Org A to show this plan." in html and plan_a.title in html
    assert client.session[SESSION_ORG_KEY] == "org-a"  # and it stays chosen for the next pages


def test_a_plan_link_of_another_org_is_still_404_for_outsiders(bob: Any, plan_a: Any) -> None:
    response = login(bob).get(f"/plan/{plan_a.id}")
    assert response.status_code == 404


def test_plan_list_paginates_by_24(alice: Any, org_a: Any, django_assert_max_num_queries: Any) -> None:
    for n in range(30):
        services.start_plan(org=org_a, user=alice, title=f"Plan number {n:02d}")
    client = login(alice)
    # session, user, org, membership, the org stream's position, count, page (whatever the page holds)
    with django_assert_max_num_queries(9):
        first = client.get("/plans").content.decode()
    assert first.count('class="card plan-card') == 24
    assert "Plan number 29" in first and "Plan number 05" not in first  # newest first
    assert "Page 1 of 2" in first
    assert 'href="?page=2"' in first
    second = client.get("/plans?page=2").content.decode()
    assert second.count('class="card plan-card') == 6
    assert "Plan number 00" in second
    # out-of-range and junk pages fall back to a real page instead of failing
    assert client.get("/plans?page=99").status_code == 200
    assert client.get("/plans?page=abc").status_code == 200


def test_plan_list_refuses_post(alice: Any) -> None:
    assert login(alice).post("/plans").status_code == 405


# --- New Plan -------------------------------------------------------------------------------------


def test_new_plan_form_renders_labelled_fields(alice: Any) -> None:
    html = login(alice).get("/plans/new").content.decode()
    for field in ("title", "description", "participants"):
        assert f'<label for="id_{field}">' in html
    assert 'maxlength="255"' in html


def test_new_plan_creates_through_the_service_and_redirects(alice: Any, org_a: Any) -> None:
    response = login(alice).post(
        "/plans/new",
        {"title": "  Launch  ", "description": "Go live", "participants": "alice, dan ,, alice"},
    )
    plan = LivePlan.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/plan/{plan.id}"
    assert (plan.org_id, plan.title, plan.description, plan.participants) == (
        "org-a",
        "Launch",
        "Go live",
        ["alice", "dan"],
    )
    assert AuditLog.objects.filter(action="PLAN_START", resource_id=str(plan.id), user=alice).exists()


def test_new_plan_goes_to_the_current_org(carol: Any, org_b: Any) -> None:
    client = login(carol)
    client.post("/org/switch", {"org": "org-b"})
    client.post("/plans/new", {"title": "For B"})
    assert LivePlan.objects.get().org_id == "org-b"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": ""}, "title", "This field is required."),
        ({"title": "   "}, "title", "This field is required."),
        ({"title": "t" * 256}, "title", "Ensure this value has at most 255 characters (it has 256)."),
        ({"title": "ok", "description": "d" * 2001}, "description", "at most 2000 characters"),
        ({"title": "ok", "participants": ",".join(f"p{i}" for i in range(51))}, "participants", "At most 50"),
        ({"title": "ok", "participants": "n" * 101}, "participants", "at most 100 characters"),
    ],
)
def test_new_plan_shows_validation_errors_inline(
    alice: Any, db_state: Any, data: dict[str, str], field: str, message: str
) -> None:
    before = db_state()
    response = login(alice).post("/plans/new", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert f'<ul class="errorlist" id="id_{field}_error">' in html
    assert message in html
    assert 'aria-invalid="true"' in html
    assert "The plan was not created" in html
    assert db_state() == before


def test_new_plan_keeps_what_was_typed(alice: Any) -> None:
    html = login(alice).post("/plans/new", {"title": "", "description": "keep me"}).content.decode()
    assert "keep me</textarea>" in html


def test_new_plan_shows_a_service_refusal_inline(alice: Any, monkeypatch: Any) -> None:
    def refuse(**kwargs: Any) -> None:
        raise InvalidInput("Titles like that are not allowed.", field="title")

    monkeypatch.setattr(services, "start_plan", refuse)
    response = login(alice).post("/plans/new", {"title": "Bad"})
    assert response.status_code == 422
    html = response.content.decode()
    assert '<ul class="errorlist" id="id_title_error"><li>Titles like that are not allowed.</li></ul>' in html


def test_new_plan_shows_a_refusal_without_field_above_the_form(alice: Any, monkeypatch: Any) -> None:
    def refuse(**kwargs: Any) -> None:
        raise InvalidInput("The org is read-only today.")

    monkeypatch.setattr(services, "start_plan", refuse)
    html = login(alice).post("/plans/new", {"title": "Fine"}).content.decode()
    assert "The org is read-only today." in html


# --- /plan/<id> -----------------------------------------------------------------------------------


def test_plan_page_shows_the_plan_and_its_steps_in_order(alice: Any, plan_a: Any) -> None:
    response = login(alice).get(plan_url(plan_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 class="plan-title">Auth service</h1>' in html
    assert '<li class="chip">alice</li>' in html and '<li class="chip">bob</li>' in html
    steps = list(PlanStep.objects.filter(plan=plan_a).order_by("seq"))
    assert step_ids(html) == [str(s.id) for s in steps]
    assert html.index("Design the token schema") < html.index("Write the migration")
    assert '<span class="step-owner">Alice Archer</span>' in html
    assert '<span class="step-owner">bob</span>' in html
    assert "Archive Plan" in html and '<dialog id="archive-dialog"' in html


def test_plan_page_prefills_the_owner_with_the_users_name(alice: Any, plan_a: Any) -> None:
    html = login(alice).get(plan_url(plan_a)).content.decode()
    assert re.search(r'<input type="text" name="owner" value="Alice Archer"[^>]*id="id_owner"', html)
    assert f'hx-post="/plan/{plan_a.id}/step"' in html


def test_plan_page_connects_to_the_stream_after_the_last_event_it_shows(alice: Any, plan_a: Any) -> None:
    html = login(alice).get(plan_url(plan_a)).content.decode()
    last = events.current_event_id(plan_a.id)
    assert last.endswith(":2")  # the two steps of the fixture
    expected = f"/api/plan/{plan_a.id}/stream?org=org-a&amp;html=1&amp;lastEventId={quote(last, safe='')}"
    assert f'sse-connect="{expected}"' in html
    assert 'hx-ext="sse"' in html
    assert 'sse-swap="step_html" hx-swap="beforeend"' in html
    assert 'id="steps" class="steps" aria-live="polite"' in html


def test_plan_page_reads_the_event_id_before_the_steps(
    alice: Any, org_a: Any, plan_a: Any, monkeypatch: Any
) -> None:
    """A step committed right after the id was read must be on the page (and is then also replayed
    by the stream, where the page drops it as a duplicate): the id comes first, the steps after."""
    real = events.current_event_id

    def read_then_someone_adds_a_step(plan_id: Any) -> str:
        last = real(plan_id)
        services.add_step(org=org_a, user=alice, plan_id=plan_id, text="Committed in between")
        return last

    monkeypatch.setattr(events, "current_event_id", read_then_someone_adds_a_step)
    html = login(alice).get(plan_url(plan_a)).content.decode()
    assert "Committed in between" in html
    assert "lastEventId=" in html and quote(":2", safe="") in html


def test_step_partial_is_the_same_for_the_page_and_the_stream(alice: Any, plan_a: Any) -> None:
    step = PlanStep.objects.filter(plan=plan_a).order_by("seq").first()
    page_html = login(alice).get(plan_url(plan_a)).content.decode()
    name, streamed = fragments.render_event_html(events.step_payload(step, plan_a.participants))
    assert name == "step_html"
    streamed_step, _, streamed_participants = streamed.partition('<ul class="chips" id="participants-list"')
    assert streamed_step.strip() in page_html
    assert f'id="step-{step.id}"' in streamed_step
    # The participants the step's event carries replace the page's list (an out-of-band swap).
    assert streamed_participants.startswith(' hx-swap-oob="true">')
    assert '<ul class="chips" id="participants-list"><li class="chip">alice</li>' in page_html


def test_step_partial_escapes_text(db: Any) -> None:
    step = SimpleNamespace(id=str(uuid.uuid4()), text="<script>x</script>", owner="<b>", ts=timezone.now())
    html = render_to_string("plans/_step.html", {"step": step, "plan_id": str(uuid.uuid4())})
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html


def test_archived_banner_from_the_stream_turns_the_page_read_only(db: Any) -> None:
    streamed = render_to_string("plans/_archived_banner.html", {"plan_id": "p", "memory_node_id": "m-1"})
    assert "This plan is archived." in streamed and "m-1" in streamed
    assert '<div id="plan-header-actions" class="plan-header-actions" hx-swap-oob="true">' in streamed
    assert 'id="plan-actions"' not in streamed  # a draft in the form is kept (static/js/plan.js)
    on_page = render_to_string(
        "plans/_archived_banner.html", {"plan_id": "p", "memory_node_id": "m-1", "page_render": True}
    )
    assert "hx-swap-oob" not in on_page


def test_archived_plan_is_read_only(alice: Any, org_a: Any, plan_a: Any) -> None:
    services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
    html = login(alice).get(plan_url(plan_a)).content.decode()
    assert '<span class="badge badge-archived">Archived</span>' in html
    assert "This plan is archived." in html
    assert "add-step-form" not in html
    assert "Archive Plan" not in html
    assert "sse-connect" not in html
    assert len(step_ids(html)) == 2


def test_plan_page_refuses_post(alice: Any, plan_a: Any) -> None:
    assert login(alice).post(plan_url(plan_a)).status_code == 405


# --- Add Step -------------------------------------------------------------------------------------


def test_add_step_with_htmx_returns_the_step_and_a_cleared_form(alice: Any, plan_a: Any) -> None:
    response = login(alice).post(plan_url(plan_a, "/step"), {"owner": "tester", "text": "Ship it"}, **HTMX)
    assert response.status_code == 200
    step = PlanStep.objects.get(plan=plan_a, text="Ship it")
    assert (step.owner, step.seq, step.created_by) == ("tester", 3, alice)
    assert AuditLog.objects.filter(action="PLAN_STEP", details__step_id=str(step.id)).exists()
    html = response.content.decode()
    assert step_ids(html) == [str(step.id)]
    # the fresh form: swapped out-of-band, owner kept, text empty, cursor back in the text
    form = html[html.index('<form id="add-step-form"') :]
    assert 'hx-swap-oob="true"' in form
    assert 'name="owner" value="tester"' in form
    assert re.search(r'<textarea name="text"[^>]*autofocus[^>]*>\s*</textarea>', form)


def test_add_step_with_htmx_shows_the_new_owner_among_the_participants(alice: Any, plan_a: Any) -> None:
    """The author's own page may drop the stream's copy of the step (a duplicate), so the answer
    itself carries the participants the service decided, out-of-band."""
    html = (
        login(alice)
        .post(plan_url(plan_a, "/step"), {"owner": "Newcomer", "text": "Hi"}, **HTMX)
        .content.decode()
    )
    chips = re.search(r'<ul class="chips" id="participants-list" hx-swap-oob="true">(.*?)</ul>', html)
    assert chips is not None
    assert re.findall(r'<li class="chip">(.*?)</li>', chips.group(1)) == [
        "alice",
        "Alice Archer",
        "bob",
        "Newcomer",
    ]


def test_add_step_without_owner_signs_with_the_users_name(alice: Any, plan_a: Any) -> None:
    login(alice).post(plan_url(plan_a, "/step"), {"owner": "", "text": "Mine"}, **HTMX)
    assert PlanStep.objects.get(text="Mine").owner == "Alice Archer"


def test_add_step_without_javascript_goes_back_to_the_page(alice: Any, plan_a: Any) -> None:
    response = login(alice).post(plan_url(plan_a, "/step"), {"owner": "x", "text": "Plain form"})
    assert response.status_code == 302
    assert response["Location"] == plan_url(plan_a)
    assert PlanStep.objects.filter(text="Plain form").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": ""}, "This field is required."),
        ({"text": "t" * 1001}, "at most 1000 characters"),
        ({"text": "ok", "owner": "o" * 101}, "at most 100 characters"),
    ],
)
def test_add_step_errors_come_back_in_the_form(
    alice: Any, plan_a: Any, db_state: Any, data: dict[str, str], message: str
) -> None:
    before = db_state()
    client = login(alice)
    response = client.post(plan_url(plan_a, "/step"), data, **HTMX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#add-step-form"
    assert response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert '<form id="add-step-form"' in html
    assert message in html and 'class="errorlist"' in html
    assert "hx-swap-oob" not in html

    plain = client.post(plan_url(plan_a, "/step"), data)
    assert plain.status_code == 422
    assert message in plain.content.decode() and '<h1 class="plan-title">' in plain.content.decode()
    assert db_state() == before


def test_add_step_to_an_archived_plan_is_refused_inline(alice: Any, org_a: Any, plan_a: Any) -> None:
    services.archive_plan(org=org_a, user=alice, plan_id=plan_a.id)
    response = login(alice).post(plan_url(plan_a, "/step"), {"text": "Too late"}, **HTMX)
    assert response.status_code == 422
    assert "Plan is archived" in response.content.decode()
    assert not PlanStep.objects.filter(text="Too late").exists()


def test_add_step_to_another_orgs_plan_is_not_found(bob: Any, plan_a: Any, db_state: Any) -> None:
    before = db_state()
    response = login(bob).post(plan_url(plan_a, "/step"), {"text": "intrusion"}, **HTMX)
    assert response.status_code == 404
    assert db_state() == before


def test_add_step_needs_post(alice: Any, plan_a: Any) -> None:
    assert login(alice).get(plan_url(plan_a, "/step")).status_code == 405


# --- Archive --------------------------------------------------------------------------------------


def test_archive_redirects_to_plans_with_a_message(alice: Any, plan_a: Any) -> None:
    client = login(alice)
    response = client.post(plan_url(plan_a, "/archive"))
    assert response.status_code == 302
    assert response["Location"] == "/plans"
    plan_a.refresh_from_db()
    assert plan_a.archived and plan_a.memory_node_id is not None
    assert AuditLog.objects.filter(action="PLAN_ARCHIVE", resource_id=str(plan_a.id), user=alice).exists()
    html = client.get("/plans").content.decode()
    assert "was archived and saved to memory" in html


def test_archive_with_htmx_uses_hx_redirect(alice: Any, plan_a: Any) -> None:
    response = login(alice).post(plan_url(plan_a, "/archive"), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/plans"


def test_archive_twice_is_harmless(alice: Any, plan_a: Any) -> None:
    client = login(alice)
    client.post(plan_url(plan_a, "/archive"))
    node = LivePlan.objects.get(id=plan_a.id).memory_node_id
    assert client.post(plan_url(plan_a, "/archive")).status_code == 302
    assert LivePlan.objects.get(id=plan_a.id).memory_node_id == node


def test_archive_of_another_orgs_plan_is_not_found(bob: Any, plan_a: Any, db_state: Any) -> None:
    before = db_state()
    assert login(bob).post(plan_url(plan_a, "/archive")).status_code == 404
    assert db_state() == before


def test_archive_needs_post(alice: Any, plan_a: Any) -> None:
    assert login(alice).get(plan_url(plan_a, "/archive")).status_code == 405
    assert not LivePlan.objects.get(id=plan_a.id).archived


# --- CSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/plans/new", {"title": "No token"}),
        ("/plan/{id}/step", {"text": "No token"}),
        ("/plan/{id}/archive", {}),
        ("/org/switch", {"org": "org-a"}),
        ("/accounts/logout/", {}),
    ],
)
def test_forms_need_the_csrf_token(
    alice: Any, plan_a: Any, db_state: Any, path: str, data: dict[str, str]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = db_state()
    response = client.post(path.format(id=plan_a.id), data)
    assert response.status_code == 403
    assert db_state() == before


def test_forms_work_with_the_csrf_token(alice: Any, plan_a: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    html = client.get(plan_url(plan_a)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post(
        plan_url(plan_a, "/step"), {"csrfmiddlewaretoken": token, "text": "With token"}, **HTMX
    )
    assert response.status_code == 200


# --- Error pages ----------------------------------------------------------------------------------


def test_404_page_uses_the_site_layout(alice: Any) -> None:
    response = login(alice).get("/nowhere")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "Live Plan Mode" in html


def test_no_template_syntax_leaks_into_pages(alice: Any, plan_a: Any) -> None:
    client = login(alice)
    pages = ["/plans", "/plans?archived=1", "/plans/new", plan_url(plan_a), "/nowhere"]
    bodies = [client.get(path).content.decode() for path in pages]
    bodies.append(Client().get("/accounts/login/").content.decode())
    for html in bodies:
        assert "{#" not in html and "{%" not in html and "{{" not in html


def test_500_page_renders_without_a_request(db: Any) -> None:
    html = render_to_string("500.html")
    assert "Something went wrong" in html


def test_a_viewer_sees_the_plan_without_write_controls_and_cannot_change_it(
    vic: Any, plan_a: Any, db_state: Any
) -> None:
    client = login(vic)
    html = client.get(plan_url(plan_a)).content.decode()
    assert 'class="steps-section read-only"' in html  # the step controls are hidden (app.css)
    assert "Edit Plan" not in html and "Archive Plan" not in html and 'id="add-step-form"' not in html
    step = plan_a.steps.order_by("position").first()
    before = db_state()
    for action in ("done", "move", "delete", "restore", "update"):
        response = client.post(f"/plan/{plan_a.id}/steps/{step.id}/{action}", {"done": "true", "text": "x"})
        assert response.status_code == 403, action
    assert client.post(f"/plan/{plan_a.id}/edit", {"title": "x"}).status_code == 403
    assert db_state() == before


def test_a_viewer_opening_new_plan_is_told_they_cannot_write(vic: Any) -> None:
    response = login(vic).get("/plans/new")
    assert response.status_code == 403
    assert 'name="title"' not in response.content.decode()


class TestALongPlansPage:
    """A plan longer than PLAN_PAGE_STEPS shows its first steps and the whole plan's progress;
    all of them on request (issue 19: the page of a plan at the cap stays small)."""

    @pytest.fixture
    def long_plan(self, alice: Any, org_a: Any, settings: Any) -> Any:
        settings.PLAN_PAGE_STEPS = 5
        plan = services.start_plan(org=org_a, user=alice, title="Long")
        steps = [
            services.add_step(org=org_a, user=alice, plan_id=plan.id, text=f"Step {n:02d}") for n in range(8)
        ]
        services.update_step(org=org_a, user=alice, plan_id=plan.id, step_id=steps[7].id, done=True)
        return plan

    def test_the_first_steps_and_the_whole_plans_progress(self, alice: Any, long_plan: Any) -> None:
        page = login(alice).get(plan_url(long_plan)).content.decode()
        assert page.count('class="step') - page.count('class="step-') >= 5
        assert "Step 04" in page and "Step 05" not in page
        assert "1 of 8 done" in page  # the hidden step 07 is done
        assert 'data-partial="true"' in page and "Show all steps" in page
        assert 'sse-swap="step_html" hx-swap="none"' in page  # new steps are not appended here

    def test_show_all(self, alice: Any, long_plan: Any) -> None:
        page = login(alice).get(plan_url(long_plan, "?steps=all")).content.decode()
        assert "Step 07" in page and "data-partial" not in page and "Show all steps" not in page

    def test_a_short_plan_is_whole(self, alice: Any, plan_a: Any, settings: Any) -> None:
        settings.PLAN_PAGE_STEPS = 5
        page = login(alice).get(plan_url(plan_a)).content.decode()
        assert "data-partial" not in page and 'sse-swap="step_html" hx-swap="beforeend"' in page

    def test_the_progress_line(self, alice: Any, bob: Any, long_plan: Any) -> None:
        line = login(alice).get(plan_url(long_plan, "/progress"))
        assert line.status_code == 200
        assert 'data-total="8"' in line.content.decode() and "1 of 8 done" in line.content.decode()
        assert login(bob).get(plan_url(long_plan, "/progress")).status_code == 404  # another org's
