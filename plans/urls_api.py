from django.urls import path

from plans import api

urlpatterns = [
    path("plan/start", api.PlanStartView.as_view(), name="api-plan-start"),
    path("plan/step", api.StepAddView.as_view(), name="api-plan-step"),
    path("plan/list", api.PlanListView.as_view(), name="api-plan-list"),
    path("plan/<str:plan_id>", api.PlanDetailView.as_view(), name="api-plan-detail"),
    path("plan/<str:plan_id>/presence", api.PlanPresenceView.as_view(), name="api-plan-presence"),
    path("plan/<str:plan_id>/archive", api.PlanArchiveView.as_view(), name="api-plan-archive"),
    path("plan/<str:plan_id>/steps/<str:step_id>", api.StepDetailView.as_view(), name="api-step-detail"),
    path("plan/<str:plan_id>/steps/<str:step_id>/move", api.StepMoveView.as_view(), name="api-step-move"),
    path(
        "plan/<str:plan_id>/steps/<str:step_id>/restore",
        api.StepRestoreView.as_view(),
        name="api-step-restore",
    ),
]
