from django.contrib.auth import views as auth_views
from django.urls import path

from aep.login_throttle import ThrottledAuthenticationForm
from aep.pages import switch_org
from plans import views

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
    path("plan/<uuid:plan_id>/archive", views.plan_archive, name="plan-archive"),
]
