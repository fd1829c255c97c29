"""Writing audit rows. Callers are services, inside their own transaction."""

from __future__ import annotations

from typing import Any

from aep.db import insert_row
from aep.models import AuditLog, Organization


def record(
    *,
    org: Organization | None,
    user: Any,
    action: str,
    resource_type: str,
    resource_id: object,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit row (with the database's plain INSERT: every write of the app adds one)."""
    insert_row(
        AuditLog,
        org=org,
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        details=details or {},
    )
