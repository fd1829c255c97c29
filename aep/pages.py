"""Which org a server-rendered page acts for: the one place pages decide tenancy.

The API names its org on every request (`X-Org-Id`); a browser keeps it in the session instead, chosen
with the org switcher. `page_org` re-checks membership on every request (a membership can be revoked
while the session lives), and picks the user's first org when none is chosen, so a user of one org
never has to choose. Page views take the org from the `org_page` decorator and fetch everything
through it, exactly like API views do with `resolve_request_org`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.permissions import SAFE_METHODS

from aep.models import Membership, Organization
from aep.tenancy import SESSION_ORG_KEY, can_write, org_for_user, role_in, user_orgs

PageView = Callable[..., HttpResponse]


def page_org(request: HttpRequest) -> Organization | None:
    """The org this page acts for, or None when the user belongs to no org.

    Also leaves `request.page_orgs` (all the user's orgs, for the switcher in the header) and
    `request.page_org` on the request for the templates.
    """
    orgs = list(user_orgs(request.user))
    chosen = request.session.get(SESSION_ORG_KEY)
    org = next((o for o in orgs if o.id == chosen), None)
    if org is None and orgs:
        org = orgs[0]
    if org is None:
        request.session.pop(SESSION_ORG_KEY, None)
    elif org.id != chosen:
        request.session[SESSION_ORG_KEY] = org.id
    request.page_orgs = orgs  # type: ignore[attr-defined]
    request.page_org = org  # type: ignore[attr-defined]
    return org


def org_page(view: PageView) -> PageView:
    """Require a logged-in user (anonymous: redirect to the login page with `?next=`) and an org,
    and for every unsafe method (a form post) a role that may write: the pages' one role check.

    The view is called as `view(request, org, *args, **kwargs)`. A user without any org gets a page
    telling them to ask an administrator; a viewer's post gets a 403 page and changes nothing.
    """

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        org = page_org(request)
        if org is None:
            return render(request, "registration/no_org.html", status=403)
        if request.method not in SAFE_METHODS and not can_write(org):
            return render(request, "registration/read_only.html", status=403)
        return view(request, org, *args, **kwargs)

    return wrapped


def choose_page_org(request: HttpRequest, org: Organization) -> None:
    """Make `org` (one of the user's, checked by the caller) the org pages act for from now on."""
    request.session[SESSION_ORG_KEY] = org.id
    request.page_org = org  # type: ignore[attr-defined]


def org_admin_page(view: PageView) -> PageView:
    """`org_page` for the pages only an org admin may open (members and invitations): others 403."""

    @org_page
    @wraps(view)
    def wrapped(request: HttpRequest, org: Organization, *args: Any, **kwargs: Any) -> HttpResponse:
        if role_in(org) != Membership.Role.ADMIN:
            return render(request, "registration/admin_only.html", status=403)
        return view(request, org, *args, **kwargs)

    return wrapped


def access(request: HttpRequest) -> dict[str, Any]:
    """Template context (a context processor): what the current user may do in the page's org, so
    that templates show write controls only to those who may write (`can_write`) and the members
    page only to admins (`is_org_admin`). Computed from the org `page_org` resolved, no query."""
    org = getattr(request, "page_org", None)
    if org is None:
        return {"can_write": False, "is_org_admin": False, "org_role": None}
    role = role_in(org)
    return {"can_write": can_write(org), "is_org_admin": role == Membership.Role.ADMIN, "org_role": role}


@require_POST
@login_required
def switch_org(request: HttpRequest) -> HttpResponse:
    """Make another of the user's orgs the current one (POST `org`, optional `next`)."""
    org = org_for_user(request.user, (request.POST.get("org") or "").strip())
    if org is None:
        page_org(request)  # the header still shows the user's real orgs
        return render(request, "registration/org_refused.html", status=403)
    choose_page_org(request, org)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("plan-list")
    return HttpResponseRedirect(target)
