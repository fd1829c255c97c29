from django.urls import path

from aep.accounts import api

urlpatterns = [
    path("tokens", api.TokenListView.as_view(), name="api-tokens"),
    path("tokens/<str:token_id>", api.TokenDetailView.as_view(), name="api-token-detail"),
    path("org/members", api.MemberListView.as_view(), name="api-org-members"),
]
