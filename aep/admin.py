"""Admin for the platform: organisations and their members, users, API tokens (never their secrets)
and the audit log (read-only). DRF's plaintext token admin is gone with `rest_framework.authtoken`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from aep.accounts import members, tokens
from aep.models import ApiToken, AuditLog, Membership, Organization


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that change only through services: browse and filter here, never add or edit.
    Deleting is allowed only where a subclass says so (`allow_delete`)."""

    allow_delete = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allow_delete and super().has_delete_permission(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "member_count", "created_at"]
    search_fields = ["id", "name"]
    ordering = ["id"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The id is what clients send as X-Org-Id and what every row points to: fixed once created.
        return ["id", "created_at"] if obj is not None else ["created_at"]

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, org: Organization) -> int:
        return org.member_total  # type: ignore[attr-defined]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    list_select_related = ["user", "org"]
    search_fields = ["user__username", "user__email", "org__id", "org__name"]
    autocomplete_fields = ["user", "org"]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """The audit trail is written only by services, in the transaction of the action it records;
    nobody adds, edits or deletes it here."""

    list_display = ["created_at", "action", "org", "user", "resource_type", "resource_id"]
    list_filter = ["action", "org"]
    list_select_related = ["org", "user"]
    search_fields = ["resource_id"]
    date_hierarchy = "created_at"
    fields = ["created_at", "org", "user", "action", "resource_type", "resource_id", "details"]
    readonly_fields = fields


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Browse tokens and delete (revoke) one; the secret was never stored, only its hash, which is
    not shown either. Users make and revoke their own at /settings/tokens."""

    allow_delete = True
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at"]
    readonly_fields = fields

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        tokens.token_revoke(user=obj.user, token_id=obj.pk)  # audited, and its streams end

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.select_related("user"):
            tokens.token_revoke(user=token.user, token_id=token.pk)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """Django's user admin; deactivating a user here also ends their open streams at once."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        was_active = change and User._default_manager.filter(pk=obj.pk, is_active=True).exists()
        super().save_model(request, obj, form, change)
        if was_active and not obj.is_active:
            members.user_deactivated(user=obj)
