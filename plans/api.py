"""The plan JSON API (DESIGN 4). Thin: validate input, call one service or selector, shape output."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from aep.api import API_ERRORS, OrgAPIView, org_schema, uuid_path_parameter, validated
from aep.idempotency import idempotent
from aep.tenancy import can_write
from plans import events, selectors, services
from plans.serializers import (
    ArchivedOut,
    ArchiveIn,
    PlanDetailOut,
    PlanDetailQuery,
    PlanListOut,
    PlanListQuery,
    PlanStartedOut,
    PlanStartIn,
    PlanUpdatedOut,
    PlanUpdateIn,
    PresenceOut,
    StepAddedOut,
    StepAddIn,
    StepDeletedOut,
    StepMovedOut,
    StepMoveIn,
    StepUpdatedOut,
    StepUpdateIn,
    plan_json,
    step_json,
)

ERRORS = API_ERRORS
NOT_FOUND = {404: OpenApiResponse(description="No such plan in this org")}
PLAN_ID = uuid_path_parameter("plan_id", "The plan's id")
STEP_ID = uuid_path_parameter("step_id", "The step's id")
STEP_NOT_FOUND = {404: OpenApiResponse(description="No such plan in this org, or no such step in the plan")}
ARCHIVED = {409: OpenApiResponse(description="Plan archived")}
STALE = {
    409: OpenApiResponse(
        description="Plan archived, or `version` is stale: the body carries the current state and nothing "
        "was written"
    )
}
IDEMPOTENCY_ERRORS = {422: OpenApiResponse(description="Idempotency-Key reused for a different request")}
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Retries with the same key return the first response and create nothing new.",
)


class PlanStartView(OrgAPIView):
    @org_schema(
        request=PlanStartIn,
        responses={200: PlanStartedOut, **ERRORS, **IDEMPOTENCY_ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Start a plan",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = validated(PlanStartIn, request.data)
        plan = services.start_plan(org=self.org, user=request.user, **data)
        return Response({"status": "started", "plan_id": str(plan.id)})


class PlanDetailView(OrgAPIView):
    @org_schema(
        parameters=[PLAN_ID, PlanDetailQuery],
        responses={200: PlanDetailOut, **ERRORS, **NOT_FOUND},
        summary="Get a plan with its steps (all of them, or a page with steps_limit)",
    )
    def get(self, request: Request, plan_id: str) -> Response:
        # The steps and the stream's position come from one snapshot: a client that connects
        # with it as Last-Event-ID and applies what follows holds exactly the plan's later state.
        query = validated(PlanDetailQuery, request.query_params)
        cursor = None
        if "steps_cursor" in query:
            cursor = selectors.parse_steps_cursor(query["steps_cursor"])
            if cursor is None:
                raise ValidationError({"steps_cursor": ["Not a cursor this API gave."]})
        if "steps_limit" in query or cursor is not None:
            plan, steps, steps_next, progress, last_event_id = events.plan_page_snapshot(
                org=self.org, plan_id=plan_id, limit=query.get("steps_limit", 10_000), after=cursor
            )
            body = plan_json(plan, steps, progress)
        else:
            plan, steps, last_event_id = events.plan_snapshot(org=self.org, plan_id=plan_id)
            body, steps_next = plan_json(plan, steps), None
        body.update(last_event_id=last_event_id, can_write=can_write(self.org), steps_next=steps_next)
        return Response(body)

    @org_schema(
        request=PlanUpdateIn,
        parameters=[PLAN_ID],
        responses={200: PlanUpdatedOut, **ERRORS, **NOT_FOUND, **STALE},
        summary="Change a plan's title or description",
        examples=[
            OpenApiExample("Rename", value={"title": "Roll out SSO", "version": 1}, request_only=True),
        ],
    )
    def patch(self, request: Request, plan_id: str) -> Response:
        data = validated(PlanUpdateIn, request.data)
        plan = services.update_plan(org=self.org, user=request.user, plan_id=plan_id, **data)
        steps = selectors.steps_json([plan.id])[str(plan.id)]
        return Response({"status": "plan_updated", "plan": plan_json(plan, steps)})


class PlanPresenceView(OrgAPIView):
    @org_schema(
        parameters=[PLAN_ID],
        responses={200: PresenceOut, **ERRORS, **NOT_FOUND},
        summary="Who has the plan open now (its stream), one entry per user",
    )
    def get(self, request: Request, plan_id: str) -> Response:
        viewers = events.plan_viewers(org=self.org, plan_id=plan_id)
        return Response({"viewers": viewers, "count": len(viewers)})


class StepAddView(OrgAPIView):
    @org_schema(
        request=StepAddIn,
        responses={
            200: StepAddedOut,
            **ERRORS,
            **NOT_FOUND,
            **IDEMPOTENCY_ERRORS,
            409: OpenApiResponse(description="Plan archived"),
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Add a step to a plan",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = validated(StepAddIn, request.data)
        step = services.add_step(org=self.org, user=request.user, **data)
        return Response({"status": "step_added", "step": step_json(step)})


class PlanArchiveView(OrgAPIView):
    @org_schema(
        request=ArchiveIn,
        parameters=[PLAN_ID],
        responses={200: ArchivedOut, **ERRORS, **NOT_FOUND},
        summary="Archive a plan into the memory graph (idempotent)",
    )
    def post(self, request: Request, plan_id: str) -> Response:
        # The body is optional; when there is one it must be a JSON object like any other.
        body = {} if not request._request.body.strip() else request.data
        data = validated(ArchiveIn, body)
        plan = services.archive_plan(org=self.org, user=request.user, plan_id=plan_id, **data)
        return Response(
            {"status": "archived", "plan_id": str(plan.id), "memory_node_id": str(plan.memory_node_id)}
        )


class PlanListView(OrgAPIView):
    @org_schema(
        parameters=[PlanListQuery],
        responses={200: PlanListOut, **ERRORS},
        summary="List the org's plans, most recently updated first",
    )
    def get(self, request: Request) -> Response:
        query = validated(PlanListQuery, request.query_params)
        archived = {"true": True, "false": False}.get(query.get("archived", ""))
        plans, total = selectors.list_plans(
            org=self.org, archived=archived, limit=query["limit"], offset=query["offset"]
        )
        return Response({"plans": [plan_json(plan, steps) for plan, steps in plans], "count": total})


class StepDetailView(OrgAPIView):
    @org_schema(
        request=StepUpdateIn,
        parameters=[PLAN_ID, STEP_ID],
        responses={200: StepUpdatedOut, **ERRORS, **STEP_NOT_FOUND, **STALE},
        summary="Edit a step, or tick it off",
        examples=[
            OpenApiExample("Tick it off", value={"done": True}, request_only=True),
            OpenApiExample(
                "Edit, if nobody else did", value={"text": "Rotate keys", "version": 2}, request_only=True
            ),
        ],
    )
    def patch(self, request: Request, plan_id: str, step_id: str) -> Response:
        data = validated(StepUpdateIn, request.data)
        step = services.update_step(org=self.org, user=request.user, plan_id=plan_id, step_id=step_id, **data)
        return Response({"status": "step_updated", "step": step_json(step)})

    @org_schema(
        parameters=[PLAN_ID, STEP_ID],
        responses={200: StepDeletedOut, **ERRORS, **STEP_NOT_FOUND, **ARCHIVED},
        summary="Delete a step (it can be restored)",
    )
    def delete(self, request: Request, plan_id: str, step_id: str) -> Response:
        step = services.delete_step(org=self.org, user=request.user, plan_id=plan_id, step_id=step_id)
        return Response({"status": "step_deleted", "step_id": str(step.id)})


def _after_json(after: object) -> str | None:
    return str(after) if after else None


class StepMoveView(OrgAPIView):
    @org_schema(
        request=StepMoveIn,
        parameters=[PLAN_ID, STEP_ID],
        responses={200: StepMovedOut, **ERRORS, **STEP_NOT_FOUND, **ARCHIVED},
        summary="Put a step after another (`after`: null puts it first)",
        examples=[
            OpenApiExample("First", value={"after": None}, request_only=True),
            OpenApiExample(
                "After a step", value={"after": "2f6b1c1e-8d2a-4c3e-9f41-0b7d6a5e4c3b"}, request_only=True
            ),
        ],
    )
    def post(self, request: Request, plan_id: str, step_id: str) -> Response:
        data = validated(StepMoveIn, request.data)
        step, after = services.move_step(
            org=self.org, user=request.user, plan_id=plan_id, step_id=step_id, after=data["after"]
        )
        return Response({"status": "step_moved", "step": step_json(step), "after": _after_json(after)})


class StepRestoreView(OrgAPIView):
    @org_schema(
        request=None,
        parameters=[PLAN_ID, STEP_ID],
        responses={200: StepMovedOut, **ERRORS, **STEP_NOT_FOUND, **ARCHIVED},
        summary="Restore a deleted step where it was (undo)",
    )
    def post(self, request: Request, plan_id: str, step_id: str) -> Response:
        step, after = services.restore_step(org=self.org, user=request.user, plan_id=plan_id, step_id=step_id)
        return Response({"status": "step_restored", "step": step_json(step), "after": _after_json(after)})
