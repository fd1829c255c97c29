"""Browser sessions ending: a logout ends the streams that the session opened (aep.revocation)."""

from __future__ import annotations

from typing import Any

from aep import revocation


def session_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """`user_logged_out` receiver: Django sends it before it flushes the session, so the key is
    still the one the streams were opened with."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        revocation.announce(session=revocation.session_id(key))
