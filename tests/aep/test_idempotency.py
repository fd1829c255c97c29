"""`Idempotency-Key` on POST /api/plan/start and /api/plan/step: retries create nothing new."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from plans.models import LivePlan, PlanStep
from tests.factories import token_for


def start(client, key=None, **body):  # type: ignore[no-untyped-def]
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/plan/start", body or {"title": "Once"}, format="json", **headers)


@pytest.mark.django_db
class TestIdempotency:
    def test_retry_of_start_returns_the_first_response_and_creates_one_plan(self, client_a):
        first = start(client_a, "k-1")
        second = start(client_a, "k-1")
        assert second.status_code == 200
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert LivePlan.objects.count() == 1

    def test_retry_of_step_adds_one_step(self, client_a, plan_a):
        body = {"plan_id": str(plan_a.id), "text": "only once"}
        responses = [
            client_a.post("/api/plan/step", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1") for _ in range(3)
        ]
        assert {r.json()["step"]["id"] for r in responses} == {responses[0].json()["step"]["id"]}
        assert PlanStep.objects.filter(text="only once").count() == 1

    def test_different_keys_are_different_requests(self, client_a):
        start(client_a, "a")
        start(client_a, "b")
        assert LivePlan.objects.count() == 2

    def test_same_key_with_another_body_is_422(self, client_a):
        start(client_a, "k", title="One")
        response = start(client_a, "k", title="Two")
        assert response.status_code == 422
        assert LivePlan.objects.count() == 1

    def test_keys_belong_to_the_user(self, make_client, alice, carol, org_a):
        start(make_client(alice, org_a), "shared")
        start(make_client(carol, org_a), "shared")
        assert LivePlan.objects.count() == 2

    def test_a_refused_request_is_not_remembered(self, client_a):
        assert start(client_a, "fix-me", title="").status_code == 400
        assert start(client_a, "fix-me", title="Fixed").status_code == 200

    @pytest.mark.parametrize("key", ["", "x" * 256, "bad\x01key"])
    def test_malformed_keys_are_400(self, client_a, key):
        response = client_a.post("/api/plan/start", {"title": "t"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["detail"]
        assert LivePlan.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_create_one_step(alice, org_a, plan_a):
    from rest_framework.test import APIClient

    barrier = threading.Barrier(6)
    results: list[dict] = []

    def retry() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(alice)}", HTTP_X_ORG_ID=org_a.id)
        try:
            barrier.wait()
            response = client.post(
                "/api/plan/step",
                {"plan_id": str(plan_a.id), "text": "raced"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="race-1",
            )
            results.append({"status": response.status_code, "body": response.json()})
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [r["status"] for r in results] == [200] * 6
    assert len({r["body"]["step"]["id"] for r in results}) == 1
    assert PlanStep.objects.filter(text="raced").count() == 1


@pytest.mark.django_db
def test_expired_keys_are_forgotten_and_purged(client_a, alice, org_a, monkeypatch):
    import datetime

    from django.utils import timezone

    from aep import idempotency
    from aep.models import IdempotencyRecord

    start(client_a, "old-1")
    start(client_a, "old-2")
    IdempotencyRecord.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    # An expired key is a new request again.
    assert start(client_a, "old-1").status_code == 200
    assert LivePlan.objects.count() == 3
    # The periodic purge removes other users' expired keys too.
    monkeypatch.setattr(idempotency, "PURGE_EVERY", 1)
    start(client_a, "fresh")
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {"old-1", "fresh"}


@pytest.mark.django_db
def test_same_key_with_another_query_string_is_422(client_a):
    """The query string is part of the request: a retry must be the same request, all of it."""
    first = client_a.post(
        "/api/plan/start?source=a", {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="q"
    )
    assert first.status_code == 200
    other = client_a.post(
        "/api/plan/start?source=b", {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="q"
    )
    assert other.status_code == 422
    same = client_a.post(
        "/api/plan/start?source=a", {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="q"
    )
    assert same.status_code == 200 and same.json() == first.json()
    assert LivePlan.objects.count() == 1
