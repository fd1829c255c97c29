"""Account pages (DESIGN 12): `/settings/tokens` for everyone, `/org/members` for org admins, and
joining through an invitation link. Thin: a form, one service, a template."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from aep.accounts import members, selectors, tokens
from aep.accounts.forms import InviteForm, RoleForm, TokenForm
from aep.errors import DomainError
from aep.models import Organization
from aep.pages import org_admin_page, page_org
from aep.tenancy import SESSION_ORG_KEY


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _tokens_context(request: HttpRequest, form: TokenForm, created: tuple | None = None) -> dict:
    token, secret = created or (None, None)
    return {
        "form": form,
        "tokens": list(selectors.tokens_of(user=request.user)),
        "created": token,
        "secret": secret,
        "server_url": request.build_absolute_uri("/").rstrip("/"),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    """List the user's tokens and make one; the new secret is shown in the response, this once."""
    page_org(request)  # the header's org switcher
    form = TokenForm(request.POST if request.method == "POST" else None)
    created = None
    if form.is_bound and form.is_valid():
        try:
            created = tokens.token_create(user=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field, exc.detail)
        else:
            form = TokenForm()
    template = "accounts/_tokens.html" if _is_htmx(request) else "accounts/tokens.html"
    status = 422 if form.errors else (201 if created else 200)
    return render(request, template, _tokens_context(request, form, created), status=status)


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    page_org(request)
    try:
        tokens.token_revoke(user=request.user, token_id=token_id)
    except DomainError as exc:
        if _is_htmx(request):
            return HttpResponse(exc.detail, status=exc.status_code)
        messages.error(request, exc.detail)
        return redirect("settings-tokens")
    if _is_htmx(request):
        return render(request, "accounts/_tokens.html", _tokens_context(request, TokenForm()))
    messages.success(request, "Token revoked: requests with it are refused from now on.")
    return redirect("settings-tokens")


# --- members and invitations (org admins) ------------------------------------------------------------
def _members_context(request: HttpRequest, org: Organization, **extra: Any) -> dict[str, Any]:
    return {
        "members": list(selectors.members_of(org=org)),
        "invitations": list(selectors.open_invitations(org=org)),
        "invite_form": extra.pop("invite_form", None) or InviteForm(),
        "role_choices": RoleForm().fields["role"].choices,
        **extra,
    }


@require_http_methods(["GET", "HEAD"])
@org_admin_page
def members_page(request: HttpRequest, org: Organization) -> HttpResponse:
    return render(request, "accounts/members.html", _members_context(request, org))


@require_POST
@org_admin_page
def invite(request: HttpRequest, org: Organization) -> HttpResponse:
    """Make an invitation link for a role; the link is shown in the response, this once."""
    form = InviteForm(request.POST)
    link = None
    if form.is_valid():
        try:
            _invitation, secret = members.invitation_create(
                org=org, by=request.user, role=form.cleaned_data["role"]
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            link = request.build_absolute_uri(reverse("invite-join", args=[secret]))
            form = InviteForm()
    context = _members_context(request, org, invite_form=form, invite_link=link)
    template = "accounts/_members.html" if _is_htmx(request) else "accounts/members.html"
    return render(request, template, context, status=422 if form.errors else 200)


def _member_action(request: HttpRequest, org: Organization, action: Any, done: str) -> HttpResponse:
    try:
        action()
    except DomainError as exc:
        if _is_htmx(request):
            context = _members_context(request, org, member_error=exc.detail)
            return render(request, "accounts/_members.html", context, status=exc.status_code)
        messages.error(request, exc.detail)
        return redirect("org-members")
    if _is_htmx(request):
        return render(request, "accounts/_members.html", _members_context(request, org, member_notice=done))
    messages.success(request, done)
    return redirect("org-members")


@require_POST
@org_admin_page
def member_role(request: HttpRequest, org: Organization, membership_id: int) -> HttpResponse:
    role = request.POST.get("role", "")
    return _member_action(
        request,
        org,
        lambda: members.member_set_role(org=org, by=request.user, membership_id=membership_id, role=role),
        "Role changed.",
    )


@require_POST
@org_admin_page
def member_remove(request: HttpRequest, org: Organization, membership_id: int) -> HttpResponse:
    return _member_action(
        request,
        org,
        lambda: members.member_remove(org=org, by=request.user, membership_id=membership_id),
        "Member removed.",
    )


# --- joining through an invitation link ----------------------------------------------------------------
@require_http_methods(["GET", "HEAD", "POST"])
def join(request: HttpRequest, secret: str) -> HttpResponse:
    """An invitation link: a logged-in user joins with one click; anyone else signs up (username
    and password) and is logged in. A used, expired or unknown link is a 404 page."""
    try:
        invitation = members.invitation_for(secret=secret)
    except DomainError as exc:
        return render(request, "accounts/invite_invalid.html", {"detail": exc.detail}, status=404)
    signed_in = request.user.is_authenticated
    form = None if signed_in else UserCreationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            if signed_in:
                membership = members.invitation_accept(secret=secret, user=request.user)
            elif form is not None and form.is_valid():
                membership = members.invitation_sign_up(
                    secret=secret,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                membership = None
        except DomainError as exc:
            if form is not None and exc.field in form.fields:
                form.add_error(exc.field, exc.detail)
            else:
                return render(
                    request, "accounts/invite_invalid.html", {"detail": exc.detail}, status=exc.status_code
                )
        else:
            if membership is not None:
                request.session[SESSION_ORG_KEY] = membership.org_id
                messages.success(request, f"Welcome to {invitation.org}: your role is {membership.role}.")
                return redirect("plan-list")
    if signed_in:
        page_org(request)
    context = {"invitation": invitation, "form": form, "next": request.get_full_path()}
    return render(
        request, "accounts/join.html", context, status=422 if form is not None and form.errors else 200
    )
