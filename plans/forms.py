"""Page forms. They check shape (required, lengths) for friendly inline errors; the services still
enforce every rule, and a `DomainError` they raise is shown on the form with `add_domain_error`."""

from __future__ import annotations

from django import forms
from django.urls import reverse_lazy

from aep.errors import DomainError
from plans.models import (
    DESCRIPTION_MAX,
    OWNER_MAX,
    PARTICIPANT_NAME_MAX,
    PARTICIPANTS_MAX,
    STEP_TEXT_MAX,
    TITLE_MAX,
)


class DomainErrorForm(forms.Form):
    def add_domain_error(self, exc: DomainError) -> None:
        """Show a service's refusal next to the field it names (or above the form)."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, exc.detail)


class PlanForm(DomainErrorForm):
    title = forms.CharField(
        max_length=TITLE_MAX,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "placeholder": "e.g. Ship the auth service",
                # "Similar archived plans" under the field, once typing pauses (DESIGN 13).
                "hx-get": reverse_lazy("memory-similar"),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#similar-plans",
                "hx-swap": "innerHTML",
            }
        ),
    )
    description = forms.CharField(
        max_length=DESCRIPTION_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "What is this plan about? (optional)"}),
    )
    participants = forms.CharField(
        required=False,
        help_text="Names separated by commas, e.g. alice, bob.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    # An archived plan's memory node to start from ("Start a plan from this"); start_plan checks it.
    template = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def clean_participants(self) -> list[str]:
        names: list[str] = []
        for raw in self.cleaned_data["participants"].split(","):
            name = raw.strip()
            if not name:
                continue
            if len(name) > PARTICIPANT_NAME_MAX:
                raise forms.ValidationError(
                    f"Each name can have at most {PARTICIPANT_NAME_MAX} characters.", code="max_length"
                )
            if name not in names:
                names.append(name)
        if len(names) > PARTICIPANTS_MAX:
            raise forms.ValidationError(f"At most {PARTICIPANTS_MAX} participants.", code="max_participants")
        return names


class StepForm(DomainErrorForm):
    owner = forms.CharField(
        max_length=OWNER_MAX,
        required=False,
        help_text="Who takes this step; defaults to you.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    text = forms.CharField(
        label="Step",
        max_length=STEP_TEXT_MAX,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Describe the next step…", "data-submit-on-enter": ""}
        ),
    )
