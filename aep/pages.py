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

from aep.models import Organization
from aep.tenancy import SESSION_ORG_KEY, org_for_user, user_orgs

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
    """Require a logged-in user (anonymous: redirect to the login page with `?next=`) and an org.

    The view is called as `view(request, org, *args, **kwargs)`. A user without any org gets a page
    telling them to ask an administrator.
    """

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        org = page_org(request)
        if org is None:
            return render(request, "registration/no_org.html", status=403)
        return view(request, org, *args, **kwargs)

    return wrapped


def choose_page_org(request: HttpRequest, org: Organization) -> None:
    """Make `org` (one of the user's, checked by the caller) the org pages act for from now on."""
    request.session[SESSION_ORG_KEY] = org.id
    request.page_org = org  # type: ignore[attr-defined]


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
