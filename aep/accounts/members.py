"""An org's members: invitation links, joining through one (signing up or as a logged-in user),
changing a member's role, removing a member. Services: each checks that the acting user is an admin
of the org, writes in one transaction with its audit row, and announces lost access to open streams
(aep.revocation) where access is lost."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from aep import audit, revocation
from aep.accounts.keys import digest, new_secret
from aep.errors import Conflict, DomainError, InvalidInput, NotFound
from aep.models import AuditLog, Invitation, Membership, Organization
from aep.tenancy import scope

INVITATION_PREFIX = "inv_"


class NotOrgAdmin(DomainError):
    status_code = 403
    default_detail = "Only an admin of the organisation can manage its members."


class InvalidInvitation(NotFound):
    default_detail = "This invitation link is not valid: it was used already, has expired or never existed."


def _require_admin(org: Organization, user: Any) -> None:
    if not Membership.objects.filter(org=org, user=user, role=Membership.Role.ADMIN).exists():
        raise NotOrgAdmin()


def _role(value: str) -> str:
    if value not in Membership.Role.values:
        raise InvalidInput(f"Choose one of {', '.join(Membership.Role.values)}.", field="role")
    return value


def invitation_create(*, org: Organization, by: Any, role: str) -> tuple[Invitation, str]:
    """A single-use invitation to `org` with `role`, valid for INVITATION_DAYS, and its link's secret
    (only its hash is kept: the link is shown once)."""
    role = _role(role)
    secret = new_secret(INVITATION_PREFIX)
    with transaction.atomic():
        _require_admin(org, by)
        invitation = Invitation.objects.create(
            org=org,
            role=role,
            digest=digest(secret),
            created_by=by,
            expires_at=timezone.now() + datetime.timedelta(days=settings.INVITATION_DAYS),
        )
        audit.record(
            org=org,
            user=by,
            action=AuditLog.Action.MEMBER_INVITE,
            resource_type="invitation",
            resource_id=invitation.pk,
            details={"role": role, "expires_at": invitation.expires_at.isoformat()},
        )
    return invitation, secret


def invitation_for(*, secret: str) -> Invitation:
    """The open invitation of a link (InvalidInvitation when used, expired or unknown)."""
    invitation = (
        Invitation.objects.select_related("org")
        .filter(digest=digest(secret), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if invitation is None:
        raise InvalidInvitation()
    return invitation


def invitation_accept(*, secret: str, user: Any) -> Membership:
    """Make `user` a member through an invitation link, which is then used up."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("org")
            .filter(digest=digest(secret), used_at__isnull=True, expires_at__gt=timezone.now())
            .first()
        )
        if invitation is None:
            raise InvalidInvitation()
        if Membership.objects.filter(org=invitation.org, user=user).exists():
            raise Conflict(f"You are already a member of {invitation.org}.")
        membership = Membership.objects.create(org=invitation.org, user=user, role=invitation.role)
        invitation.used_at = timezone.now()
        invitation.used_by = user
        invitation.save(update_fields=["used_at", "used_by"])
        audit.record(
            org=invitation.org,
            user=user,
            action=AuditLog.Action.MEMBER_JOIN,
            resource_type="membership",
            resource_id=membership.pk,
            details={"role": invitation.role, "invitation": invitation.pk, "username": user.get_username()},
        )
    return membership


def invitation_sign_up(*, secret: str, username: str, password: str) -> Membership:
    """A new user (who chose `username` and `password`, validated by the caller's form) joins
    through an invitation, in one transaction: a used-up link creates no user."""
    try:
        with transaction.atomic():
            invitation_for(secret=secret)
            user = get_user_model().objects.create_user(username=username, password=password)
            return invitation_accept(secret=secret, user=user)
    except IntegrityError:
        raise InvalidInput("That username is taken.", field="username") from None


def _membership(org: Organization, membership_id: int | str) -> Membership:
    try:
        pk = int(membership_id)
    except (TypeError, ValueError):
        raise NotFound("No such member.") from None
    membership = (
        scope(Membership.objects.select_for_update().select_related("user"), org).filter(pk=pk).first()
    )
    if membership is None:
        raise NotFound("No such member.")
    return membership


def _keeps_an_admin(org: Organization, membership: Membership) -> None:
    others = scope(Membership.objects.filter(role=Membership.Role.ADMIN), org).exclude(pk=membership.pk)
    if membership.role == Membership.Role.ADMIN and not others.exists():
        raise Conflict("An organisation needs at least one admin: make someone else admin first.")


def member_set_role(*, org: Organization, by: Any, membership_id: int | str, role: str) -> Membership:
    """Change a member's role. Open streams are unaffected: every role may read (DESIGN 12); the
    next write is checked against the new role."""
    role = _role(role)
    with transaction.atomic():
        _require_admin(org, by)
        membership = _membership(org, membership_id)
        if membership.role == role:
            return membership
        if role != Membership.Role.ADMIN:
            _keeps_an_admin(org, membership)
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            org=org,
            user=by,
            action=AuditLog.Action.MEMBER_ROLE,
            resource_type="membership",
            resource_id=membership.pk,
            details={"username": membership.user.get_username(), "from": before, "to": role},
        )
    return membership


def member_remove(*, org: Organization, by: Any, membership_id: int | str) -> None:
    """Remove a member from the org: requests for it are 403 from now on, and the member's open
    streams of it end (aep.revocation). The user's account and other orgs stay."""
    with transaction.atomic():
        _require_admin(org, by)
        membership = _membership(org, membership_id)
        _keeps_an_admin(org, membership)
        user_id, pk = membership.user_id, membership.pk
        membership.delete()
        audit.record(
            org=org,
            user=by,
            action=AuditLog.Action.MEMBER_REMOVE,
            resource_type="membership",
            resource_id=pk,
            details={"username": membership.user.get_username(), "role": membership.role},
        )
        revocation.announce(user=user_id, org=org.id)


def user_deactivated(*, user: Any) -> None:
    """Announce that a user was deactivated (by the admin or a script): their streams end."""
    revocation.announce(user=user.pk)
