from django.contrib.auth import views as auth_views
from django.urls import path

from aep.accounts import views

urlpatterns = [
    path("settings/tokens", views.tokens_page, name="settings-tokens"),
    path("settings/tokens/<int:token_id>/revoke", views.token_revoke, name="settings-token-revoke"),
    path("org/members", views.members_page, name="org-members"),
    path("org/members/invite", views.invite, name="org-invite"),
    path("org/members/<int:membership_id>/role", views.member_role, name="org-member-role"),
    path("org/members/<int:membership_id>/remove", views.member_remove, name="org-member-remove"),
    path("invite/<str:secret>", views.join, name="invite-join"),
    # Django's own views and forms; the templates are ours (templates/registration/).
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
]
