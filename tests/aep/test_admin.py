"""Django admin: plans (filters, search, steps in order, the archive action through the service), orgs and
memberships, and the audit log, which nobody can add, change or delete."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client

from aep import revocation
from aep.accounts import tokens
from aep.models import ApiToken, AuditLog, Membership
from memory_graph.models import MemoryNode
from plans import services
from plans.models import LivePlan
from tests.factories import UserFactory

PLANS = "/admin/plans/liveplan/"
AUDIT = "/admin/aep/auditlog/"


@pytest.fixture
def admin_client(sam: Any) -> Client:
    client = Client()
    client.force_login(sam)
    return client


def archive_action(client: Client, *plans: Any) -> Any:
    return client.post(
        PLANS,
        {"action": "archive_selected", "_selected_action": [str(p.id) for p in plans]},
        follow=True,
    )


@pytest.mark.parametrize(
    "query",
    ["", "?org__id__exact=org-a", "?archived__exact=0", "?archived__exact=1", "?q=Auth", "?o=5"],
)
def test_plan_changelist_and_filters_load(admin_client: Client, plan_a: Any, plan_b: Any, query: str) -> None:
    response = admin_client.get(PLANS + query)
    assert response.status_code == 200


def test_plan_changelist_filters_and_searches(admin_client: Client, plan_a: Any, plan_b: Any) -> None:
    by_org = admin_client.get(PLANS + "?org__id__exact=org-b").content.decode()
    assert "Secret B plan" in by_org and "Auth service" not in by_org
    found = admin_client.get(PLANS + "?q=token").content.decode()  # no plan has it in title/description
    assert "Auth service" not in found
    found = admin_client.get(PLANS + "?q=Auth").content.decode()
    assert "Auth service" in found and "Secret B plan" not in found
    html = admin_client.get(PLANS).content.decode()
    for column in ("Title", "Org", "Archived", "Step count", "Updated at"):
        assert column in html
    assert "Archive selected plans" in html


def test_plan_page_shows_steps_in_order_read_only(admin_client: Client, plan_a: Any) -> None:
    response = admin_client.get(f"{PLANS}{plan_a.id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Design the token schema") < html.index("Write the migration")
    assert 'name="_save"' not in html  # view only: plans change through the services


def test_plan_page_shows_the_order_people_set_done_state_and_leaves_deleted_steps_out(
    admin_client: Client, alice: Any, org_a: Any, plan_a: Any
) -> None:
    from plans import services

    _, second = plan_a.steps.order_by("position")
    services.move_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=second.id, after=None)
    services.update_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=second.id, done=True)
    gone = services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Deleted later")
    services.delete_step(org=org_a, user=alice, plan_id=plan_a.id, step_id=gone.id)
    html = admin_client.get(f"{PLANS}{plan_a.id}/change/").content.decode()
    assert html.index("Write the migration") < html.index("Design the token schema")
    assert "✓ Alice Archer" in html and "Deleted later" not in html


def test_plans_cannot_be_added_or_deleted_in_the_admin(admin_client: Client, plan_a: Any) -> None:
    assert admin_client.get(f"{PLANS}add/").status_code == 403
    assert admin_client.post(f"{PLANS}{plan_a.id}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"{PLANS}{plan_a.id}/change/", {"title": "Renamed"}).status_code == 403
    assert LivePlan.objects.get(id=plan_a.id).title == "Auth service"


def test_archive_action_archives_through_the_service(
    admin_client: Client, sam: Any, plan_a: Any, plan_b: Any
) -> None:
    response = archive_action(admin_client, plan_a, plan_b)
    assert response.status_code == 200
    assert "Archived 2 plans." in response.content.decode()
    for plan in (plan_a, plan_b):
        plan.refresh_from_db()
        assert plan.archived
        node = MemoryNode.objects.get(id=plan.memory_node_id)
        assert node.org_id == plan.org_id and node.kind == "plan_session"
        assert node.metadata["plan_id"] == str(plan.id)
        audit = AuditLog.objects.get(action="PLAN_ARCHIVE", resource_id=str(plan.id))
        assert audit.user == sam and audit.org_id == plan.org_id


def test_archive_action_skips_archived_plans(admin_client: Client, bob: Any, org_b: Any, plan_b: Any) -> None:
    services.archive_plan(org=org_b, user=bob, plan_id=plan_b.id)
    nodes = MemoryNode.objects.count()
    response = archive_action(admin_client, plan_b)
    assert "1 plan was already archived." in response.content.decode()
    assert MemoryNode.objects.count() == nodes
    assert AuditLog.objects.filter(action="PLAN_ARCHIVE").count() == 1


def test_archive_action_needs_the_change_permission(plan_a: Any, org_a: Any) -> None:
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_liveplan"))
    client = Client()
    client.force_login(viewer)
    html = client.get(PLANS).content.decode()
    assert "Auth service" in html and "Archive selected plans" not in html
    archive_action(client, plan_a)
    assert not LivePlan.objects.get(id=plan_a.id).archived


def test_non_staff_cannot_open_the_admin(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    response = client.get(PLANS)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- Platform -------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?action__exact=PLAN_STEP", "?org__id__exact=org-a", "?q=nothing"])
def test_audit_log_changelist_and_filters_load(admin_client: Client, plan_a: Any, query: str) -> None:
    assert admin_client.get(AUDIT + query).status_code == 200


def test_audit_log_search_by_resource_id(admin_client: Client, plan_a: Any, plan_b: Any) -> None:
    html = admin_client.get(f"{AUDIT}?q={plan_b.id}").content.decode()
    assert "2 audit logs" in html  # plan_b's start and its step; plan_a has three
    assert str(plan_a.id) not in html


def test_audit_log_is_read_only(admin_client: Client, plan_a: Any) -> None:
    entry = AuditLog.objects.filter(action="PLAN_START").get()
    assert admin_client.get(f"{AUDIT}add/").status_code == 403
    view = admin_client.get(f"{AUDIT}{entry.id}/change/")
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert admin_client.post(f"{AUDIT}{entry.id}/change/", {"action": "PLAN_STEP"}).status_code == 403
    assert admin_client.post(f"{AUDIT}{entry.id}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(AUDIT, {"action": "delete_selected", "_selected_action": [entry.id]})
    assert AuditLog.objects.filter(id=entry.id).exists()
    assert response.status_code in (200, 302)
    assert AuditLog.objects.get(id=entry.id).action == "PLAN_START"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/aep/organization/",
        "/admin/aep/organization/org-a/change/",
        "/admin/aep/membership/",
        "/admin/",
    ],
)
def test_platform_admin_pages_load(admin_client: Client, alice: Any, path: str) -> None:
    assert admin_client.get(path).status_code == 200


def test_membership_admin_filters(admin_client: Client, alice: Any, bob: Any) -> None:
    html = admin_client.get("/admin/aep/membership/?org__id__exact=org-a").content.decode()
    assert "alice" in html and "bob in" not in html
    assert Membership.objects.count() >= 3


# --- accounts (DESIGN 12) ------------------------------------------------------------------------------
TOKENS = "/admin/aep/apitoken/"


def test_no_plaintext_token_admin_and_tokens_show_no_secret(admin_client: Client, alice: Any) -> None:
    assert not [m for m in admin.site._registry if m._meta.app_label == "authtoken"]
    token, secret = tokens.token_create(user=alice, name="laptop")
    listing = admin_client.get(TOKENS).content.decode()
    page = admin_client.get(f"{TOKENS}{token.pk}/change/").content.decode()
    for html in (listing, page):
        assert "laptop" in html and token.prefix in html
        assert secret not in html and token.digest not in html


def test_deleting_a_token_in_the_admin_revokes_it_through_the_service(
    admin_client: Client, alice: Any
) -> None:
    token, _secret = tokens.token_create(user=alice, name="laptop")
    response = admin_client.post(f"{TOKENS}{token.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert AuditLog.objects.filter(action="TOKEN_REVOKE", resource_id=str(token.pk)).exists()


def test_deactivating_a_user_in_the_admin_announces_it(
    admin_client: Client, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[dict[str, Any]] = []
    revocation.listen(heard.append)
    try:
        page = admin_client.get(f"/admin/auth/user/{alice.pk}/change/")
        form = page.context["adminform"].form
        data = {k: v for k, v in form.initial.items() if v is not None and k not in ("password", "is_active")}
        data.update(
            {"groups": [], "user_permissions": [], "date_joined_0": "2026-01-01", "date_joined_1": "00:00"}
        )
        data.pop("date_joined", None)
        data.pop("last_login", None)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(f"/admin/auth/user/{alice.pk}/change/", data)
        assert response.status_code == 302, (
            response.context["adminform"].form.errors if response.context else ""
        )
    finally:
        revocation._listeners.remove(heard.append)
    alice.refresh_from_db()
    assert not alice.is_active
    assert {"user": alice.pk} in heard
