from django.contrib.auth import views as auth_views
from django.urls import path

from aep.login_throttle import ThrottledAuthenticationForm
from aep.pages import switch_org
from plans import views, views_steps

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=ThrottledAuthenticationForm
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("org/switch", switch_org, name="org-switch"),
    path("plans", views.plan_list, name="plan-list"),
    path("plans/new", views.plan_new, name="plan-new"),
    path("plan/<uuid:plan_id>", views.plan_detail, name="plan-detail"),
    path("plan/<uuid:plan_id>/step", views.step_add, name="plan-step"),
    path("plan/<uuid:plan_id>/progress", views.plan_progress, name="plan-progress"),
    path("plan/<uuid:plan_id>/archive", views.plan_archive, name="plan-archive"),
    path("plan/<uuid:plan_id>/edit", views_steps.plan_edit, name="plan-edit"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>", views_steps.step_view, name="step-view"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>/edit", views_steps.step_edit, name="step-edit"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>/update", views_steps.step_update, name="step-update"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>/done", views_steps.step_done, name="step-done"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>/move", views_steps.step_move, name="step-move"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>/delete", views_steps.step_delete, name="step-delete"),
    path("plan/<uuid:plan_id>/steps/<uuid:step_id>/restore", views_steps.step_restore, name="step-restore"),
]
