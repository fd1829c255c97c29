"""Search by meaning, hybrid search, snippets, related nodes and links (DESIGN 13), through the API."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from memory_graph.models import MemoryEdge, MemoryNode, NodeEmbedding
from memory_graph.services import create_node
from plans import services as plan_services
from plans.models import LivePlan


def search(client, **params):  # type: ignore[no-untyped-def]
    return client.get(f"/api/memory/search?{urlencode(params)}")


def titles(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return [r["title"] for r in response.json()["results"]]


@pytest.fixture
def nodes(org_a, org_b, archive):  # type: ignore[no-untyped-def]
    return {
        "rotate": archive(
            org_a, "Rotate the database credentials", ["Generate new passwords", "Update the vault"]
        ),
        "k8s": archive(org_a, "Move the billing service to Kubernetes", ["Write the Helm chart"]),
        "auth": archive(
            org_a, "Auth service", ["Design the token schema", "If a < b & c, write the migration"]
        ),
        "b": archive(org_b, "Rotate B's database credentials", ["B-only secret step"]),
    }


@pytest.mark.django_db
class TestModes:
    def test_meaning_finds_what_words_miss(self, client_a, nodes):
        assert titles(search(client_a, q="secret rotation for db", mode="lexical")) == []
        assert titles(search(client_a, q="secret rotation for db", mode="semantic"))[0] == (
            "Rotate the database credentials"
        )
        assert titles(search(client_a, q="secret rotation for db"))[0] == "Rotate the database credentials"

    def test_hybrid_keeps_word_matches_first_and_says_how_each_matched(self, client_a, nodes):
        results = search(client_a, q="token schema").json()["results"]
        assert results[0]["title"] == "Auth service"
        assert results[0]["match"]["lexical"] == 1
        assert isinstance(results[0]["match"]["semantic"], float)
        lexical = search(client_a, q="token schema", mode="lexical").json()["results"]
        assert [r["match"]["semantic"] for r in lexical] == [None]

    def test_a_semantic_only_hit_has_no_lexical_position(self, client_a, nodes):
        first = search(client_a, q="secret rotation for db").json()["results"][0]
        assert first["match"]["lexical"] is None
        assert first["match"]["semantic"] > 0.2

    def test_another_orgs_nodes_are_never_near(self, client_a, nodes):
        for mode in ("hybrid", "semantic", "lexical"):
            body = search(client_a, q="rotate database credentials", mode=mode).content.decode()
            assert "B-only" not in body and str(nodes["b"].id) not in body

    @pytest.mark.parametrize("mode", ["fuzzy", "HYBRID", "x" * 300])
    def test_bad_mode_is_400_naming_mode(self, client_a, mode):
        response = search(client_a, q="x", mode=mode)
        assert response.status_code == 400
        assert "mode" in response.json()

    def test_kind_filter_holds_for_meaning_too(
        self, client_a, org_a, nodes, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            create_node(org=org_a, kind="note", content="Credential rotation runbook for the database")
        found = search(client_a, q="secret rotation for db", kind="note", mode="semantic").json()["results"]
        assert [r["kind"] for r in found] == ["note"]


@pytest.mark.django_db
class TestFreshness:
    """Each process caches an org's vectors: what is archived or deleted meanwhile must show."""

    def test_a_node_archived_after_a_search_is_found_by_the_next(self, client_a, org_a, nodes, archive):
        assert "Rotate the API keys" not in titles(search(client_a, q="secret rotation", mode="semantic"))
        archive(org_a, "Rotate the API keys", ["Generate new keys"])
        assert "Rotate the API keys" in titles(search(client_a, q="secret rotation", mode="semantic"))

    def test_a_deleted_node_is_gone_from_the_next_search(self, client_a, nodes):
        assert titles(search(client_a, q="secret rotation for db", mode="semantic"))[0] == (
            "Rotate the database credentials"
        )
        MemoryNode.objects.filter(id=nodes["rotate"].id).delete()
        assert "Rotate the database credentials" not in titles(
            search(client_a, q="secret rotation for db", mode="semantic")
        )


@pytest.mark.django_db
class TestSnippets:
    def test_the_hit_is_marked(self, client_a, nodes):
        snippet = search(client_a, q="token", mode="lexical").json()["results"][0]["snippet"]
        assert "<mark>token</mark>" in snippet

    def test_a_prefix_hit_is_marked(self, client_a, nodes):
        snippet = search(client_a, q="schem", mode="lexical").json()["results"][0]["snippet"]
        assert "<mark>schema</mark>" in snippet

    def test_text_is_escaped_around_the_marks(self, client_a, nodes):
        snippet = search(client_a, q="migration", mode="lexical").json()["results"][0]["snippet"]
        assert "a &lt; b &amp; c" in snippet
        assert "<mark>migration</mark>" in snippet

    def test_text_cannot_open_or_close_a_mark(self, client_a, org_a, archive):
        archive(org_a, "Sentinel plan", ["Check the \ue000token\ue001 and \ue001 stray"])
        snippet = search(client_a, q="token", mode="lexical").json()["results"][0]["snippet"]
        assert snippet.count("<mark>") == snippet.count("</mark>") == 1
        assert "\ue000" not in snippet and "\ue001" not in snippet

    def test_a_hit_by_meaning_shows_its_closest_line(self, client_a, nodes):
        first = search(client_a, q="secret rotation for db").json()["results"][0]
        assert first["snippet"] == "<mark>Rotate the database credentials</mark>"


@pytest.mark.django_db
class TestEmbeddingOnArchive:
    def test_archive_embeds_the_node_after_commit(self, client_a, plan_a, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json")
            node_id = response.json()["memory_node_id"]
            assert not NodeEmbedding.objects.filter(node_id=node_id).exists()
        for callback in callbacks:
            callback()
        embedding = NodeEmbedding.objects.get(node_id=node_id)
        assert (embedding.org_id, embedding.kind, len(bytes(embedding.vector))) == (
            "org-a",
            "plan_session",
            1024,
        )

    def test_a_failed_embedding_leaves_the_archive_done_and_the_node_for_the_backfill(
        self, client_a, plan_a, monkeypatch, caplog, django_capture_on_commit_callbacks
    ):
        def broken(texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("model unavailable")

        monkeypatch.setattr("memory_graph.embeddings.embed", broken)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json")
        assert response.status_code == 200
        node_id = response.json()["memory_node_id"]
        assert not NodeEmbedding.objects.filter(node_id=node_id).exists()
        assert "embed_memory_nodes" in caplog.text
        assert titles(search(client_a, q="token schema")) == ["Auth service"]  # found by its words
        monkeypatch.undo()
        call_command("embed_memory_nodes", stdout=StringIO())
        assert NodeEmbedding.objects.filter(node_id=node_id).exists()

    def test_backfill_embeds_the_nodes_without_one(self, org_a, org_b):
        old = [create_node(org=o, kind="note", content=f"old note {i}") for i, o in enumerate([org_a, org_b])]
        out = StringIO()
        call_command("embed_memory_nodes", stdout=out)
        assert "Embedded 2 memory node(s)" in out.getvalue()
        assert set(NodeEmbedding.objects.values_list("node_id", flat=True)) == {n.id for n in old}
        call_command("embed_memory_nodes", stdout=out)
        assert "Embedded 0 memory node(s)" in out.getvalue()

    def test_backfill_for_one_org(self, org_a, org_b):
        create_node(org=org_a, kind="note", content="a")
        create_node(org=org_b, kind="note", content="b")
        call_command("embed_memory_nodes", "--org", "org-b", stdout=StringIO())
        assert list(NodeEmbedding.objects.values_list("org_id", flat=True)) == ["org-b"]

    def test_a_node_not_embedded_yet_is_still_found_by_words(self, client_a, org_a):
        create_node(org=org_a, kind="note", content="Pending embedding of the quarterly report")
        assert titles(search(client_a, q="quarterly report")) == ["Pending embedding of the quarterly report"]


@pytest.mark.django_db
class TestRelated:
    def test_most_alike_first_itself_left_out(self, client_a, org_a, nodes, archive):
        archive(org_a, "Rotate the API keys", ["Generate new keys", "Update the vault"])
        body = client_a.get(f"/api/memory/nodes/{nodes['rotate'].id}/related?limit=3").json()
        ids = [r["id"] for r in body["results"]]
        assert str(nodes["rotate"].id) not in ids
        assert body["results"][0]["title"] == "Rotate the API keys"
        assert body["count"] == len(ids) == 3
        scores = [r["score"] for r in body["results"]]
        assert scores == sorted(scores, reverse=True)
        assert str(nodes["b"].id) not in ids

    def test_another_orgs_node_is_404(self, client_a, nodes):
        assert client_a.get(f"/api/memory/nodes/{nodes['b'].id}/related").status_code == 404
        assert client_a.get("/api/memory/nodes/not-a-uuid/related").status_code == 404

    @pytest.mark.parametrize("limit", ["0", "51", "x"])
    def test_bad_limit_is_400_naming_limit(self, client_a, nodes, limit):
        response = client_a.get(f"/api/memory/nodes/{nodes['rotate'].id}/related?limit={limit}")
        assert response.status_code == 400
        assert "limit" in response.json()


@pytest.mark.django_db
class TestLinks:
    def test_a_link_is_listed_on_both_nodes(self, client_a, nodes):
        source, target = nodes["rotate"], nodes["auth"]
        response = client_a.post(
            f"/api/memory/nodes/{source.id}/links", {"target": str(target.id)}, format="json"
        )
        assert response.status_code == 200
        assert [(e["kind"], e["target_id"]) for e in response.json()["edges_out"]] == [
            ("relates_to", str(target.id))
        ]
        other = client_a.get(f"/api/memory/nodes/{target.id}").json()
        assert [(e["kind"], e["source_id"]) for e in other["edges_in"]] == [("relates_to", str(source.id))]
        client_a.post(f"/api/memory/nodes/{source.id}/links", {"target": str(target.id)}, format="json")
        assert MemoryEdge.objects.count() == 1

    @pytest.mark.parametrize("target", ["b", "self", "nonsense"])
    def test_a_bad_target_is_400_naming_target(self, client_a, nodes, target):
        value = {"b": str(nodes["b"].id), "self": str(nodes["rotate"].id), "nonsense": "x"}[target]
        response = client_a.post(
            f"/api/memory/nodes/{nodes['rotate'].id}/links", {"target": value}, format="json"
        )
        assert response.status_code == 400
        assert "target" in response.json()
        assert MemoryEdge.objects.count() == 0

    def test_a_viewer_cannot_link(self, make_client, vic, nodes):
        response = make_client(vic, "org-a").post(
            f"/api/memory/nodes/{nodes['rotate'].id}/links", {"target": str(nodes["auth"].id)}, format="json"
        )
        assert response.status_code == 403
        assert MemoryEdge.objects.count() == 0


@pytest.mark.django_db
class TestStartFromTemplate:
    @pytest.fixture
    def template(self, org_a, alice, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
        plan = plan_services.start_plan(org=org_a, user=alice, title="Release 1.0")
        steps = [
            plan_services.add_step(org=org_a, user=alice, plan_id=plan.id, text=t, owner=o)
            for t, o in [("Freeze the branch", "alice"), ("Tag the build", "bob"), ("Announce", "carol")]
        ]
        # The archive keeps the order people arranged and the ticks: the new plan keeps the order only.
        plan_services.move_step(org=org_a, user=alice, plan_id=plan.id, step_id=steps[2].id, after=None)
        plan_services.update_step(org=org_a, user=alice, plan_id=plan.id, step_id=steps[0].id, done=True)
        with django_capture_on_commit_callbacks(execute=True):
            plan = plan_services.archive_plan(org=org_a, user=alice, plan_id=plan.id)
        return MemoryNode.objects.get(id=plan.memory_node_id)

    def test_the_plan_starts_with_the_templates_steps_in_order_not_done(self, client_a, template):
        response = client_a.post(
            "/api/plan/start", {"title": "Release 2.0", "template": str(template.id)}, format="json"
        )
        assert response.status_code == 200
        plan = client_a.get(f"/api/plan/{response.json()['plan_id']}").json()
        assert [(s["text"], s["owner"], s["done"]) for s in plan["steps"]] == [
            ("Announce", "carol", False),
            ("Freeze the branch", "alice", False),
            ("Tag the build", "bob", False),
        ]
        assert plan["title"] == "Release 2.0"

    def test_its_node_is_derived_from_the_template_on_archive(self, client_a, template):
        plan_id = client_a.post(
            "/api/plan/start", {"title": "Release 2.0", "template": str(template.id)}, format="json"
        ).json()["plan_id"]
        node_id = client_a.post(f"/api/plan/{plan_id}/archive", {}, format="json").json()["memory_node_id"]
        edges = client_a.get(f"/api/memory/nodes/{node_id}").json()["edges_out"]
        assert [(e["kind"], e["target_id"]) for e in edges] == [("derived_from", str(template.id))]
        assert [
            e["source_id"] for e in client_a.get(f"/api/memory/nodes/{template.id}").json()["edges_in"]
        ] == [node_id]

    def test_a_plan_without_template_gets_no_such_edge(self, client_a, plan_a):
        node_id = client_a.post(f"/api/plan/{plan_a.id}/archive", {}, format="json").json()["memory_node_id"]
        assert client_a.get(f"/api/memory/nodes/{node_id}").json()["edges_out"] == []

    @pytest.mark.parametrize("which", ["other_org", "not_a_plan", "unknown", "malformed"])
    def test_a_bad_template_is_400_naming_template(self, client_a, org_b, archive, org_a, which):
        value = {
            "other_org": lambda: str(archive(org_b, "B's release", ["B step"]).id),
            "not_a_plan": lambda: str(
                create_node(org=org_a, kind="note", content=json.dumps({"steps": []})).id
            ),
            "unknown": lambda: "00000000-0000-4000-8000-000000000000",
            "malformed": lambda: "nope",
        }[which]()
        before = LivePlan.objects.count()
        response = client_a.post("/api/plan/start", {"title": "X", "template": value}, format="json")
        assert response.status_code == 400
        assert "template" in response.json()
        assert LivePlan.objects.count() == before
