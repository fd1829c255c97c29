"""Members and invitations (DESIGN 12): `/org/members` for org admins, joining through a link,
`GET /api/org/members`, and password change and reset."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from aep.accounts import members
from aep.errors import Conflict
from aep.models import AuditLog, Invitation, Membership
from tests.factories import MembershipFactory, UserFactory

User = get_user_model()


def invite_link(client: Client, role: str = "member") -> str:
    response = client.post("/org/members/invite", {"role": role})
    assert response.status_code == 200, response.content
    match = re.search(r'<code id="invite-link">([^<]+)</code>', response.content.decode())
    assert match, "the link is shown"
    return match.group(1).replace("http://testserver", "")


@pytest.mark.django_db
class TestMembersPage:
    def test_only_admins_open_it(self, client, alice, vic, ada, bob):
        for user in (alice, vic):
            client.force_login(user)
            assert client.get("/org/members").status_code == 403
            assert client.post("/org/members/invite", {"role": "admin"}).status_code == 403
        client.force_login(bob)  # an admin elsewhere would still see only his own org
        assert client.get("/org/members").status_code == 403
        assert not Invitation.objects.exists()
        client.force_login(ada)
        page = client.get("/org/members")
        assert page.status_code == 200
        assert "vic" in page.content.decode() and "bob" not in page.content.decode()

    def test_anonymous_goes_to_login(self, client, db):
        assert client.get("/org/members").status_code == 302

    def test_members_menu_only_for_admins(self, client, alice, ada):
        client.force_login(alice)
        assert 'href="/org/members"' not in client.get("/plans").content.decode()
        client.force_login(ada)
        assert 'href="/org/members"' in client.get("/plans").content.decode()

    def test_change_role_and_remove(self, client, ada, alice, org_a):
        client.force_login(ada)
        membership = Membership.objects.get(user=alice, org=org_a)
        assert client.post(f"/org/members/{membership.pk}/role", {"role": "viewer"}).status_code == 302
        membership.refresh_from_db()
        assert membership.role == "viewer"
        assert client.post(f"/org/members/{membership.pk}/remove").status_code == 302
        assert not Membership.objects.filter(pk=membership.pk).exists()
        actions = list(AuditLog.objects.order_by("id").values_list("action", "org_id", "details__username"))
        assert actions == [("MEMBER_ROLE", "org-a", "alice"), ("MEMBER_REMOVE", "org-a", "alice")]

    def test_a_member_of_another_org_is_not_found(self, client, ada, bob, org_b):
        client.force_login(ada)
        other = Membership.objects.get(user=bob, org=org_b)
        response = client.post(f"/org/members/{other.pk}/remove", HTTP_HX_REQUEST="true")
        assert response.status_code == 404
        assert Membership.objects.filter(pk=other.pk).exists()

    def test_the_last_admin_stays(self, client, ada, org_a):
        client.force_login(ada)
        own = Membership.objects.get(user=ada, org=org_a)
        response = client.post(f"/org/members/{own.pk}/role", {"role": "member"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 409
        assert "at least one admin" in response.content.decode()
        assert client.post(f"/org/members/{own.pk}/remove", HTTP_HX_REQUEST="true").status_code == 409
        own.refresh_from_db()
        assert own.role == "admin"

    def test_a_bad_role_is_refused(self, client, ada, alice, org_a):
        client.force_login(ada)
        membership = Membership.objects.get(user=alice, org=org_a)
        client.post(f"/org/members/{membership.pk}/role", {"role": "owner"})
        membership.refresh_from_db()
        assert membership.role == "member"
        assert client.post("/org/members/invite", {"role": "owner"}).status_code == 422


@pytest.mark.django_db
class TestInvitations:
    def test_sign_up_through_the_link(self, client, ada, org_a):
        client.force_login(ada)
        link = invite_link(client, "viewer")
        assert Invitation.objects.get().digest not in link  # only a hash is stored
        newcomer = Client()
        page = newcomer.get(link)
        assert (
            page.status_code == 200 and "Org A" in page.content.decode() and "viewer" in page.content.decode()
        )
        pw = "a-long-password-9"
        response = newcomer.post(link, {"username": "nina", "password1": pw, "password2": pw})
        assert response.status_code == 302 and response["Location"] == "/plans"
        nina = User.objects.get(username="nina")
        assert Membership.objects.get(user=nina).role == "viewer"
        assert newcomer.get("/plans").status_code == 200  # logged in
        assert AuditLog.objects.filter(action="MEMBER_JOIN", org=org_a, user=nina).exists()
        assert AuditLog.objects.filter(action="MEMBER_INVITE", org=org_a, user=ada).exists()

    def test_single_use(self, client, ada, org_a):
        client.force_login(ada)
        link = invite_link(client)
        pw = "a-long-password-9"
        Client().post(link, {"username": "one", "password1": pw, "password2": pw})
        second = Client().post(link, {"username": "two", "password1": pw, "password2": pw})
        assert second.status_code == 404
        assert not User.objects.filter(username="two").exists()

    def test_expires_after_seven_days(self, client, ada, org_a):
        client.force_login(ada)
        link = invite_link(client)
        invitation = Invitation.objects.get()
        assert abs(invitation.expires_at - timezone.now() - datetime.timedelta(days=7)) < datetime.timedelta(
            seconds=5
        )
        Invitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        assert Client().get(link).status_code == 404

    def test_a_logged_in_user_joins(self, client, ada, org_a, bob):
        client.force_login(ada)
        link = invite_link(client, "member")
        other = Client()
        other.force_login(bob)
        assert "Join as bob" in other.get(link).content.decode()
        assert other.post(link).status_code == 302
        assert Membership.objects.get(user=bob, org=org_a).role == "member"
        assert other.session["current_org_id"] == "org-a"

    def test_an_existing_member_cannot_use_one(self, ada, alice, org_a):
        _invitation, secret = members.invitation_create(org=org_a, by=ada, role="admin")
        with pytest.raises(Conflict):
            members.invitation_accept(secret=secret, user=alice)
        assert Membership.objects.get(user=alice, org=org_a).role == "member"

    def test_a_taken_username_or_weak_password_is_shown(self, client, ada, alice, org_a):
        client.force_login(ada)
        link = invite_link(client)
        pw = "a-long-password-9"
        taken = Client().post(link, {"username": "alice", "password1": pw, "password2": pw})
        assert taken.status_code == 422
        weak = Client().post(link, {"username": "neo", "password1": "123", "password2": "123"})
        assert weak.status_code == 422
        assert Invitation.objects.get().used_at is None

    def test_unknown_link(self, client, db):
        assert client.get("/invite/inv_nothing").status_code == 404

    def test_only_admins_invite_in_the_service(self, alice, org_a):
        with pytest.raises(members.NotOrgAdmin):
            members.invitation_create(org=org_a, by=alice, role="member")


@pytest.mark.django_db
class TestMembersApi:
    def test_lists_the_orgs_members_for_any_member(self, make_client, alice, vic, ada, org_a, bob):
        expected = {
            "members": [
                {"username": "ada", "name": "Ada", "role": "admin"},
                {"username": "alice", "name": "Alice Archer", "role": "member"},
                {"username": "vic", "name": "Vic", "role": "viewer"},
            ]
        }
        for user in (alice, vic, ada):
            assert make_client(user, org_a).get("/api/org/members").json() == expected

    def test_outsider_and_anonymous(self, make_client, bob, org_a):
        assert make_client(bob, org_a).get("/api/org/members").status_code == 403
        assert make_client(None, org_a).get("/api/org/members").status_code == 401
        assert make_client(bob).get("/api/org/members").status_code == 400


@pytest.mark.django_db
class TestPasswords:
    def test_change(self, client, alice):
        client.force_login(alice)
        assert client.get("/accounts/password_change/").status_code == 200
        response = client.post(
            "/accounts/password_change/",
            {
                "old_password": "pw-for-tests",
                "new_password1": "new-pass-4567",
                "new_password2": "new-pass-4567",
            },
        )
        assert response.status_code == 302
        alice.refresh_from_db()
        assert alice.check_password("new-pass-4567")

    def test_reset_by_email(self, client, alice):
        alice.email = "alice@example.com"
        alice.save()
        assert client.get("/accounts/password_reset/").status_code == 200
        client.post("/accounts/password_reset/", {"email": "alice@example.com"})
        assert len(mail.outbox) == 1
        link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
        form = client.get(link, follow=True)
        assert form.status_code == 200 and "Set a new password" in form.content.decode()
        done = client.post(
            form.redirect_chain[-1][0],
            {"new_password1": "reset-pass-4567", "new_password2": "reset-pass-4567"},
        )
        assert done.status_code == 302
        alice.refresh_from_db()
        assert alice.check_password("reset-pass-4567")

    def test_login_links_to_reset(self, client, db):
        assert 'href="/accounts/password_reset/"' in client.get("/accounts/login/").content.decode()


def test_factories_do_not_make_admins(db):
    """The personas stay members unless a test says otherwise."""
    assert MembershipFactory(user=UserFactory(username="plain")).role == "member"
