"""aep.serialization: shared input fields, through the API that uses them."""

from __future__ import annotations

import json
import time

import pytest

from plans.models import LivePlan


@pytest.mark.django_db
@pytest.mark.parametrize("item", [1, ""])
def test_a_64k_participants_list_is_refused_on_its_length_alone(client_a, item):
    """Before any item is validated: DRF validated all 65,536 items first and answered with an
    error for each (3 MB of JSON for invalid items)."""
    body = json.dumps({"title": "t", "participants": [item] * 65536}, separators=(",", ":"))
    started = time.perf_counter()
    response = client_a.post("/api/plan/start", body, content_type="application/json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 400
    assert response.json() == {"participants": ["Ensure this field has no more than 50 elements."]}
    assert elapsed < 0.5, elapsed
    assert LivePlan.objects.count() == 0


@pytest.mark.django_db
def test_fifty_participants_pass_and_fifty_one_do_not(client_a):
    ok = client_a.post("/api/plan/start", {"title": "t", "participants": ["p"] * 50}, format="json")
    assert ok.status_code == 200
    refused = client_a.post("/api/plan/start", {"title": "t", "participants": ["p"] * 51}, format="json")
    assert refused.status_code == 400 and "participants" in refused.json()
