"""/metrics (DESIGN 7): the product's metrics next to django-prometheus' own, without authentication."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from plans import services

BUCKETS = ["0.01", "0.05", "0.1", "0.2", "0.5", "0.8", "+Inf"]


def scrape() -> dict[str, Any]:
    """The families of GET /metrics, by name; each family's samples as (name, labels, value)."""
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(response.content.decode())
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in families}


def value(families: dict[str, Any], sample: str, **labels: str) -> float | None:
    """The value of one sample (by its exposed name, e.g. `plan_events_total`), None when absent."""
    for samples in families.values():
        for name, sample_labels, sample_value in samples:
            if name == sample and sample_labels == labels:
                return sample_value
    return None


@pytest.fixture
def active_plans(org_a, org_b, alice, bob, plan_a, plan_b, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Three active plans in org A (one with a counted step), one in org B."""
    with django_capture_on_commit_callbacks(execute=True):
        services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="counted")
        more = [services.start_plan(org=org_a, user=alice, title=f"more {i}") for i in range(2)]
    return [plan_a, *more]


@pytest.mark.django_db
class TestMetricsEndpoint:
    def test_served_without_credentials_or_org(self, db):
        response = Client().get("/metrics")
        assert response.status_code == 200
        assert b"plan_events_total" in response.content

    def test_plan_events_total_counts_each_action_by_event_and_org(
        self, active_plans, make_client, alice, org_a, django_capture_on_commit_callbacks
    ):
        def events(event: str) -> float:
            return value(scrape(), "plan_events_total", event=event, org_id="org-a") or 0

        before = {e: events(e) for e in ("PLAN_START", "PLAN_STEP", "PLAN_ARCHIVE")}
        assert before["PLAN_STEP"] >= 1
        client = make_client(alice, org_a)
        with django_capture_on_commit_callbacks(execute=True):
            plan_id = client.post("/api/plan/start", {"title": "m"}, format="json").json()["plan_id"]
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/api/plan/step", {"plan_id": plan_id, "text": "m"}, format="json")
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/api/plan/{plan_id}/archive", {}, format="json")
        assert {e: events(e) - before[e] for e in before} == {
            "PLAN_START": 1,
            "PLAN_STEP": 1,
            "PLAN_ARCHIVE": 1,
        }

    def test_step_latency_histogram_has_the_contract_buckets(self, active_plans):
        families = scrape()
        buckets = sorted(
            (labels["le"], v)
            for name, labels, v in families["plan_step_latency"]
            if name == "plan_step_latency_bucket" and labels["org_id"] == "org-a"
        )
        assert sorted(le for le, _ in buckets) == sorted(BUCKETS)
        assert value(families, "plan_step_latency_count", org_id="org-a") >= 1

    def test_active_plans_gauge_counts_the_database_and_drops_on_archive(
        self, active_plans, org_a, alice, django_capture_on_commit_callbacks
    ):
        families = scrape()
        assert value(families, "plan_active_total", org_id="org-a") == 3
        assert value(families, "plan_active_total", org_id="org-b") == 1
        services.archive_plan(org=org_a, user=alice, plan_id=active_plans[0].id)
        families = scrape()
        assert value(families, "plan_active_total", org_id="org-a") == 2
        assert value(families, "plan_active_total", org_id="org-b") == 1

    def test_active_plans_gauge_follows_plans_started_through_the_api(self, make_client, alice, org_a):
        client = make_client(alice, org_a)
        assert (value(scrape(), "plan_active_total", org_id="org-a") or 0) == 0
        plan_id = client.post("/api/plan/start", {"title": "new"}, format="json").json()["plan_id"]
        assert value(scrape(), "plan_active_total", org_id="org-a") == 1
        client.post(f"/api/plan/{plan_id}/archive", {}, format="json")
        assert (value(scrape(), "plan_active_total", org_id="org-a") or 0) == 0

    def test_streams_open_gauge_is_exported(self, db):
        families = scrape()
        assert value(families, "plan_streams_open") is not None

    def test_django_prometheus_request_metrics_are_exported(self, db):
        Client().get("/api/plan/list")
        families = scrape()
        request_families = [name for name in families if name.startswith("django_http_requests")]
        assert request_families
        assert any(
            name.startswith("django_http_requests") and v > 0
            for samples in families.values()
            for name, _, v in samples
        )
