"""Abuse limits: write throttling, request body size, /metrics access."""

from __future__ import annotations

import json

import pytest

from plans.models import LivePlan


@pytest.mark.django_db
class TestWriteThrottle:
    def test_writes_over_the_rate_get_429_with_retry_after(self, settings, client_a):
        settings.API_WRITE_RATE = "3/min"
        statuses = [client_a.post("/api/plan/start", {"title": f"p{i}"}, format="json") for i in range(5)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        assert int(statuses[-1]["Retry-After"]) > 0
        assert "throttled" in statuses[-1].json()["detail"].lower()
        assert LivePlan.objects.count() == 3

    def test_reads_are_not_throttled(self, settings, client_a):
        settings.API_WRITE_RATE = "1/min"
        assert all(client_a.get("/api/plan/list").status_code == 200 for _ in range(5))

    def test_limits_are_per_user(self, settings, make_client, alice, carol, org_a):
        settings.API_WRITE_RATE = "1/min"
        assert (
            make_client(alice, org_a).post("/api/plan/start", {"title": "a"}, format="json").status_code
            == 200
        )
        assert (
            make_client(carol, org_a).post("/api/plan/start", {"title": "c"}, format="json").status_code
            == 200
        )


@pytest.mark.django_db
class TestBodySize:
    def test_announced_oversize_body_is_413_json_and_writes_nothing(self, settings, client_a):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        body = json.dumps({"title": "t", "description": "x" * 2000})
        response = client_a.post("/api/plan/start", body, content_type="application/json")
        assert response.status_code == 413
        assert "too large" in response.json()["detail"]
        assert LivePlan.objects.count() == 0

    def test_body_under_the_limit_passes(self, settings, client_a):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        assert client_a.post("/api/plan/start", {"title": "small"}, format="json").status_code == 200


@pytest.mark.django_db
class TestMetricsAccess:
    def test_loopback_may_scrape(self, client):
        assert client.get("/metrics").status_code == 200

    def test_other_addresses_are_refused(self, client):
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403

    def test_token_lets_a_remote_scraper_in(self, settings, client):
        settings.METRICS_TOKEN = "scrape-secret"
        response = client.get(
            "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret"
        )
        assert response.status_code == 200
        wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 403
