"""The README's memory examples find what its start example creates (read from README.md itself, so
the two cannot drift apart again)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _start_body() -> dict:
    match = re.search(r"api/plan/start .*?\\\n\s+-d '(\{\"title\".*?\})'", README, re.S)
    assert match, "the README's start example"
    return json.loads(match.group(1))


def _step_text() -> str:
    match = re.search(r'api/plan/step .*?"text":"([^"]+)"', README)
    assert match, "the README's step example"
    return match.group(1)


def _searches() -> list[str]:
    queries = re.findall(r'api/memory/search\?([^"]+)"', README)
    assert len(queries) >= 2, "the README's search examples"
    return queries


@pytest.mark.django_db
def test_the_readme_searches_find_the_readme_plan(client_a, django_capture_on_commit_callbacks):
    plan_id = client_a.post("/api/plan/start", _start_body(), format="json").json()["plan_id"]
    client_a.post("/api/plan/step", {"plan_id": plan_id, "text": _step_text()}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        node_id = client_a.post(f"/api/plan/{plan_id}/archive", {}, format="json").json()["memory_node_id"]
    for query in _searches():
        body = client_a.get(f"/api/memory/search?{query}").json()
        assert [r["id"] for r in body["results"]][:1] == [node_id], unquote(query)
