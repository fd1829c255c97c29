"""Page forms of accounts; the rules themselves are in the services."""

from __future__ import annotations

from django import forms
from django.conf import settings

from aep.models import Membership


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “VS Code on my laptop”.", label="Name"
    )
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        initial=settings.API_TOKEN_DEFAULT_DAYS,
        label="Expires after (days)",
        help_text=f"1 to {settings.API_TOKEN_MAX_DAYS}.",
    )


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER, label="Role")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, label="Role")
