"""API input validation and the JSON shapes of plans and steps (DESIGN 4).

Output is built by plain functions (`plan_json`, `step_json`): they are the hot path of list and
stream payloads. The `*Out` serializers only describe those shapes for the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from aep.serialization import (
    BoundedListField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
    iso,
)
from plans.models import (
    DESCRIPTION_MAX,
    OWNER_MAX,
    PARTICIPANT_NAME_MAX,
    PARTICIPANTS_MAX,
    STEP_TEXT_MAX,
    TITLE_MAX,
)


def step_json(step: Any) -> dict[str, Any]:
    """STEP (DESIGN 10). `plans.selectors.steps_json` builds the same shape for many steps at once."""
    return {
        "id": str(step.id),
        "text": step.text,
        "owner": step.owner,
        "ts": iso(step.ts),
        "done": step.done,
        "done_by": step.done_by,
        "done_at": iso(step.done_at),
        "version": step.version,
        "updated_at": iso(step.updated_at),
    }


def progress_json(steps: list[dict[str, Any]]) -> dict[str, int]:
    return {"done": sum(1 for step in steps if step["done"]), "total": len(steps)}


def plan_json(
    plan: Any, steps: Iterable[dict[str, Any]], progress: dict[str, int] | None = None
) -> dict[str, Any]:
    """A plan as the API returns it; `steps` are already in their JSON shape (`step_json`, or
    `plans.selectors.steps_json` for many at once), in the plan's order. `progress` is counted from
    them unless they are a page of the plan's steps."""
    steps = list(steps)
    return {
        "id": str(plan.id),
        "org_id": plan.org_id,
        "title": plan.title,
        "description": plan.description,
        "version": plan.version,
        "steps": steps,
        "progress": progress if progress is not None else progress_json(steps),
        "participants": list(plan.participants),
        "archived": plan.archived,
        "created_at": iso(plan.created_at),
        "updated_at": iso(plan.updated_at),
    }


class PlanStartIn(serializers.Serializer):
    title = StrictCharField(max_length=TITLE_MAX)
    description = StrictCharField(max_length=DESCRIPTION_MAX, required=False, allow_blank=True, default="")
    participants = BoundedListField(
        child=StrictCharField(max_length=PARTICIPANT_NAME_MAX, allow_blank=True),
        max_length=PARTICIPANTS_MAX,
        required=False,
        default=list,
    )
    template = StrictUUIDField(
        required=False, help_text="An archived plan's memory node: the new plan starts with its steps."
    )


class StepAddIn(serializers.Serializer):
    plan_id = StrictUUIDField()
    text = StrictCharField(max_length=STEP_TEXT_MAX)
    owner = StrictCharField(max_length=OWNER_MAX, required=False, allow_blank=True)


VERSION_HELP = "The version you last saw: if it is stale, 409 with the current state and nothing is written."


class PlanUpdateIn(serializers.Serializer):
    title = StrictCharField(max_length=TITLE_MAX, required=False)
    description = StrictCharField(max_length=DESCRIPTION_MAX, required=False, allow_blank=True)
    version = StrictIntegerField(min_value=1, max_value=2**31 - 1, required=False, help_text=VERSION_HELP)


class StepUpdateIn(serializers.Serializer):
    text = StrictCharField(max_length=STEP_TEXT_MAX, required=False)
    owner = StrictCharField(max_length=OWNER_MAX, required=False, allow_blank=True)
    done = StrictBooleanField(required=False)
    version = StrictIntegerField(min_value=1, max_value=2**31 - 1, required=False, help_text=VERSION_HELP)


class StepMoveIn(serializers.Serializer):
    after = StrictUUIDField(allow_null=True, help_text="The step to put it after; null puts it first")


class ArchiveIn(serializers.Serializer):
    context_id = StrictUUIDField(required=False, allow_null=True)


class PlanDetailQuery(serializers.Serializer):
    steps_limit = serializers.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        help_text="Return at most this many steps, and `steps_next` for the rest (default: every step)",
    )
    steps_cursor = serializers.CharField(
        max_length=300, required=False, help_text="The `steps_next` of the previous page"
    )


class PlanListQuery(serializers.Serializer):
    archived = serializers.ChoiceField(choices=["true", "false"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=200, required=False, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, default=0)


class StepOut(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    owner = serializers.CharField()
    ts = serializers.DateTimeField()
    done = serializers.BooleanField()
    done_by = serializers.CharField(allow_null=True, help_text="Who ticked it off (null until then)")
    done_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField(help_text="Starts at 1, grows with every change of the step")
    updated_at = serializers.DateTimeField()


class ProgressOut(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class PlanOut(serializers.Serializer):
    id = serializers.UUIDField()
    org_id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField(help_text="Grows with every title or description change")
    steps = StepOut(many=True, help_text="In the order people arranged them; a new step goes last")
    progress = ProgressOut()
    participants = serializers.ListField(child=serializers.CharField())
    archived = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PlanDetailOut(PlanOut):
    last_event_id = serializers.CharField(
        help_text="SSE id of the plan's latest event: connect the stream with it as Last-Event-ID."
    )
    can_write = serializers.BooleanField(
        help_text="Whether you may change the plan (false for a viewer); clients hide write controls."
    )
    steps_next = serializers.CharField(
        allow_null=True,
        help_text="With `steps_limit`: the next page's `steps_cursor`, null on the last page",
    )


class PlanStartedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["started"])
    plan_id = serializers.UUIDField()


class StepAddedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["step_added"])
    step = StepOut()


class PlanUpdatedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["plan_updated"])
    plan = PlanOut()


class StepUpdatedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["step_updated"])
    step = StepOut()


class StepMovedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["step_moved", "step_restored"])
    step = StepOut()
    after = serializers.UUIDField(allow_null=True, help_text="The step it now follows; null: it is first")


class StepDeletedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["step_deleted"])
    step_id = serializers.UUIDField()


class ArchivedOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["archived"])
    plan_id = serializers.UUIDField()
    memory_node_id = serializers.UUIDField()


class PlanListOut(serializers.Serializer):
    plans = PlanOut(many=True)
    count = serializers.IntegerField()


class ViewerOut(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    since = serializers.DateTimeField()


class PresenceOut(serializers.Serializer):
    viewers = ViewerOut(many=True)
    count = serializers.IntegerField()
