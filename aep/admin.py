"""Admin for the platform: organisations and their members, and the audit log (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from aep.models import AuditLog, Membership, Organization


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
