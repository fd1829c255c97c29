"""The pages of DESIGN 13: "Start a plan from this" and similar nodes with "Link" on a node page,
"Similar archived plans" on the new-plan page; a viewer sees no write control and gets 403 on writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from memory_graph.models import MemoryEdge
from plans.models import LivePlan

pytestmark = pytest.mark.django_db


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def nodes(org_a, org_b, archive):  # type: ignore[no-untyped-def]
    return {
        "rotate": archive(
            org_a, "Rotate the database credentials", ["Generate new passwords", "Update the vault"]
        ),
        "keys": archive(org_a, "Rotate the API keys", ["Generate new keys", "Update the vault"]),
        "party": archive(org_a, "Summer party", ["Book the boat"]),
        "b": archive(org_b, "Rotate B's secret credentials", ["B-only step"]),
    }


class TestNodePage:
    def test_a_member_can_start_a_plan_from_it(self, alice, nodes):
        html = login(alice).get(f"/memory/{nodes['rotate'].id}").content.decode()
        assert "Start a plan from this" in html
        assert f'href="/plans/new?template={nodes["rotate"].id}"' in html

    def test_the_new_plan_page_shows_the_template_and_starts_with_its_steps(self, alice, nodes):
        client = login(alice)
        html = client.get(f"/plans/new?template={nodes['rotate'].id}").content.decode()
        assert "Starting from" in html and "Generate new passwords" in html
        assert 'value="Rotate the database credentials"' in html
        response = client.post(
            "/plans/new", {"title": "Rotate again", "template": str(nodes["rotate"].id), "participants": ""}
        )
        assert response.status_code == 302
        plan = LivePlan.objects.get(title="Rotate again")
        assert [s.text for s in plan.steps.order_by("position")] == [
            "Generate new passwords",
            "Update the vault",
        ]

    def test_another_orgs_template_is_ignored_by_the_page_and_refused_by_the_post(self, alice, nodes):
        client = login(alice)
        html = client.get(f"/plans/new?template={nodes['b'].id}").content.decode()
        assert "Starting from" not in html and "B-only" not in html
        response = client.post(
            "/plans/new", {"title": "X", "template": str(nodes["b"].id), "participants": ""}
        )
        assert response.status_code == 422
        assert "No archived plan with this id" in response.content.decode()
        assert not LivePlan.objects.filter(title="X").exists()

    def test_similar_nodes_are_listed_and_can_be_linked(self, alice, nodes):
        client = login(alice)
        html = client.get(f"/memory/{nodes['rotate'].id}").content.decode()
        similar = html[html.index("Similar</h3>") :]
        assert similar.index("Rotate the API keys") < similar.index("Summer party")
        assert "Rotate B" not in html
        response = client.post(f"/memory/{nodes['rotate'].id}/links", {"target": str(nodes["keys"].id)})
        assert response.status_code == 302
        edge = MemoryEdge.objects.get()
        assert (edge.source_id, edge.target_id, edge.kind) == (
            nodes["rotate"].id,
            nodes["keys"].id,
            "relates_to",
        )
        for node, arrow in ((nodes["rotate"], "→"), (nodes["keys"], "←")):
            page = client.get(f"/memory/{node.id}").content.decode()
            kind = '<span class="edge-kind">relates_to</span>'
            assert f'{kind} <span class="edge-arrow" aria-hidden="true">{arrow}' in page

    def test_linking_to_another_orgs_node_creates_nothing(self, alice, nodes):
        client = login(alice)
        client.post(f"/memory/{nodes['rotate'].id}/links", {"target": str(nodes["b"].id)})
        assert (
            client.post(f"/memory/{nodes['b'].id}/links", {"target": str(nodes["rotate"].id)}).status_code
            == 404
        )
        assert MemoryEdge.objects.count() == 0

    def test_a_viewer_sees_no_write_control_and_cannot_link(self, vic, nodes):
        client = login(vic)
        html = client.get(f"/memory/{nodes['rotate'].id}").content.decode()
        assert "Start a plan from this" not in html
        assert "memory-node-link" not in html and f"/memory/{nodes['rotate'].id}/links" not in html
        assert "Rotate the API keys" in html  # reading is allowed
        response = client.post(f"/memory/{nodes['rotate'].id}/links", {"target": str(nodes["keys"].id)})
        assert response.status_code == 403
        assert MemoryEdge.objects.count() == 0
        assert client.get(f"/plans/new?template={nodes['rotate'].id}").status_code == 403


class TestSimilarPlans:
    def test_the_title_field_asks_for_similar_plans_as_it_is_typed(self, alice):
        html = login(alice).get("/plans/new").content.decode()
        assert 'hx-get="/memory/similar"' in html
        assert 'hx-trigger="input changed delay:300ms"' in html
        assert 'id="similar-plans"' in html

    def test_similar_archived_plans_with_a_start_link(self, alice, nodes):
        html = (
            login(alice)
            .get("/memory/similar?title=secret rotation for db", HTTP_HX_REQUEST="true")
            .content.decode()
        )
        assert "Similar archived plans" in html
        assert html.index("Rotate the database credentials") < html.index("Rotate the API keys")
        assert f'href="/plans/new?template={nodes["rotate"].id}"' in html
        assert "Rotate B" not in html and "Summer party" not in html

    def test_a_viewer_sees_the_plans_without_a_start_link(self, vic, nodes):
        html = login(vic).get("/memory/similar?title=secret rotation for db").content.decode()
        assert "Rotate the database credentials" in html
        assert "Start from this" not in html and "/plans/new" not in html

    @pytest.mark.parametrize("title", ["", "ro", "   "])
    def test_nothing_for_a_title_just_begun(self, alice, nodes, title):
        response = login(alice).get(f"/memory/similar?title={title}")
        assert response.status_code == 200
        assert "Similar archived plans" not in response.content.decode()

    def test_needs_login(self, nodes):
        response = Client().get("/memory/similar?title=rotation")
        assert response.status_code == 302 and "/login" in response["Location"]
