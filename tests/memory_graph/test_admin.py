"""The memory graph in the Django admin: browse, search, filter; no adding or editing."""

from __future__ import annotations

import pytest
from django.test import Client

from memory_graph.models import MemoryEdge, MemoryNode
from memory_graph.services import create_node, link


@pytest.fixture
def admin_client(sam) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(sam)
    return client


@pytest.fixture
def graph(org_a, org_b, archive):  # type: ignore[no-untyped-def]
    plan = archive(org_a, "Authentication service", ["Design the token schema"])
    note = create_node(org=org_a, kind="note", content="Review notes about rollout")
    other = create_node(org=org_b, kind="note", content="B's note")
    edge = link(source=note, target=plan, kind="used_in_planning")
    return {"plan": plan, "note": note, "other": other, "edge": edge}


@pytest.mark.django_db
class TestNodeAdmin:
    def test_changelist_lists_nodes_with_titles(self, admin_client, graph):
        response = admin_client.get("/admin/memory_graph/memorynode/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "Authentication service" in page and "Review notes about rollout" in page

    def test_search_on_content(self, admin_client, graph):
        response = admin_client.get("/admin/memory_graph/memorynode/?q=token")
        assert list(response.context["cl"].result_list) == [graph["plan"]]

    def test_filter_by_kind_and_org(self, admin_client, graph):
        by_kind = admin_client.get("/admin/memory_graph/memorynode/?kind=note")
        assert set(by_kind.context["cl"].result_list) == {graph["note"], graph["other"]}
        by_org = admin_client.get("/admin/memory_graph/memorynode/?org__id__exact=org-b")
        assert list(by_org.context["cl"].result_list) == [graph["other"]]

    def test_node_page_is_read_only(self, admin_client, graph):
        url = f"/admin/memory_graph/memorynode/{graph['plan'].id}/change/"
        response = admin_client.get(url)
        assert response.status_code == 200
        assert "Design the token schema" in response.content.decode()
        admin_client.post(url, {"kind": "hacked", "content": "x", "metadata": "{}"})
        assert MemoryNode.objects.get(id=graph["plan"].id).kind == "plan_session"

    def test_no_adding_nodes_outside_the_service(self, admin_client):
        assert admin_client.get("/admin/memory_graph/memorynode/add/").status_code == 403

    def test_non_staff_cannot_see_it(self, alice, graph):
        client = Client()
        client.force_login(alice)
        assert client.get("/admin/memory_graph/memorynode/").status_code == 302


@pytest.mark.django_db
class TestEdgeAdmin:
    def test_changelist_and_filter(self, admin_client, graph):
        response = admin_client.get("/admin/memory_graph/memoryedge/?kind=used_in_planning")
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [graph["edge"]]

    def test_edge_page_and_no_adding(self, admin_client, graph):
        assert (
            admin_client.get(f"/admin/memory_graph/memoryedge/{graph['edge'].id}/change/").status_code == 200
        )
        assert admin_client.get("/admin/memory_graph/memoryedge/add/").status_code == 403

    def test_deleting_a_node_deletes_its_edges(self, admin_client, graph):
        url = f"/admin/memory_graph/memorynode/{graph['note'].id}/delete/"
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
        assert not MemoryNode.objects.filter(id=graph["note"].id).exists()
        assert not MemoryEdge.objects.exists()
