"""Organisations, memberships, API tokens, invitations and the audit log: the platform every app
builds on."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

org_slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,62}$",
    "Org ids are 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit.",
)


class Organization(models.Model):
    """A tenant. Its id is a short slug (`acme`) that clients send as `X-Org-Id`."""

    id = models.CharField(primary_key=True, max_length=63, validators=[org_slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.id


class Membership(models.Model):
    class Role(models.TextChoices):
        """What a member may do in the org (DESIGN 12): a viewer reads everything and writes nothing,
        a member also writes, an admin also manages members and invitations."""

        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    WRITE_ROLES = frozenset({Role.ADMIN, Role.MEMBER})

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "org"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.org_id} ({self.role})"


class ApiToken(models.Model):
    """A personal API token (DESIGN 12). Only the SHA-256 of the secret is stored: the secret itself
    (`aep_` and 43 URL-safe characters, 256 random bits) is shown once, when it is made. A plain hash
    is enough for a secret of that entropy (no guessing to slow down), and keeps the lookup one query
    on a unique index. `prefix` is the secret's first characters, to tell tokens apart in lists."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True, help_text="sha256 of the token, hex")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class Invitation(models.Model):
    """A single-use link that makes whoever opens it a member of `org` with `role` (DESIGN 12).
    Like a token, only the SHA-256 of the link's secret is stored."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation to {self.org_id} as {self.role}"


class AuditLog(models.Model):
    """One row per business action, written in the same transaction as the action itself. A user's
    own actions that belong to no org (their API tokens) have no org."""

    class Action(models.TextChoices):
        PLAN_START = "PLAN_START"
        PLAN_STEP = "PLAN_STEP"
        PLAN_ARCHIVE = "PLAN_ARCHIVE"
        PLAN_UPDATE = "PLAN_UPDATE"
        STEP_UPDATE = "STEP_UPDATE"
        STEP_MOVE = "STEP_MOVE"
        STEP_DELETE = "STEP_DELETE"
        STEP_RESTORE = "STEP_RESTORE"
        TOKEN_CREATE = "TOKEN_CREATE"  # noqa: S105 (an action name)
        TOKEN_REVOKE = "TOKEN_REVOKE"  # noqa: S105 (an action name)
        MEMBER_INVITE = "MEMBER_INVITE"
        MEMBER_JOIN = "MEMBER_JOIN"
        MEMBER_ROLE = "MEMBER_ROLE"
        MEMBER_REMOVE = "MEMBER_REMOVE"

    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_logs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="audit_org_created"),
            models.Index(fields=["resource_type", "resource_id"], name="audit_resource"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.resource_type}:{self.resource_id}"


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an `Idempotency-Key`, replayed to retries.

    Written in the same transaction as the write itself, so a retry sees either nothing (the first
    attempt failed or is still running: it waits on the unique key) or the committed response."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "org", "key"], name="unique_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id} in {self.org_id})"
