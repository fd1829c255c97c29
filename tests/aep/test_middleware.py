"""aep.middleware: a NUL anywhere in a query string is a 400 before any view or query runs
(DESIGN 14); on PostgreSQL the Django admin's filters passed it to the database (500)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def admin_client(sam: Any) -> Client:
    client = Client()
    client.force_login(sam)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/plans/liveplan/?org__id__exact=%00",
        "/admin/plans/liveplan/?q=%00",
        "/admin/aep/membership/?org__id__exact=a%00b",
        "/admin/aep/auditlog/?org__id__exact=%00",
        "/admin/memory_graph/memorynode/?q=x%00",
    ],
)
def test_admin_filters_with_a_nul_are_400(admin_client, plan_a, url):
    response = admin_client.get(url)
    assert response.status_code == 400


@pytest.mark.django_db
def test_admin_filters_still_work(admin_client, plan_a, plan_b):
    response = admin_client.get("/admin/plans/liveplan/?org__id__exact=org-b")
    assert response.status_code == 200
    assert "Secret B plan" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/memory/search?q=%00",
        "/api/plan/list?archived=%00",
        "/api/plan/list?limit=1%00",
        "/api/plan/list?%00=1",
    ],
)
def test_api_queries_with_a_nul_are_400_json(client_a, url):
    response = client_a.get(url)
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.django_db
def test_a_percent_sign_that_is_not_a_nul_passes(client_a, plan_a):
    assert client_a.get("/api/memory/search?q=100%25").status_code == 200
