"""Relevance search over the memory graph (memory_graph.selectors.search), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from aep.errors import InvalidInput
from memory_graph import search as engine
from memory_graph.models import MemoryNode
from memory_graph.services import create_node, search

requires_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
requires_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 table")

HOSTILE = [
    "'",
    '"',
    "''",
    '"a" & | ! :* ( )',
    "auth' | 'x",
    "auth:*",
    "!auth",
    "(auth",
    "auth)",
    "a & b | c",
    "<->",
    "auth <-> token",
    "NEAR(auth token)",
    "auth OR token",
    "title:auth",
    "auth*",
    "^auth",
    "-auth",
    "\\",
    "\\'",
    "\x00",
    "auth\x00token",
    "\ud800",
    "😀 émoji naïve café",
    "数据库 迁移",
    "%",
    "%s %(x)s",
    ";DROP TABLE memory_graph_memorynode;--",
    "x" * 5000,
    "auth " * 300,
    " ".join(f"w{i}" for i in range(200)),
]


def lexical(**kwargs):  # type: ignore[no-untyped-def]
    """The ranking by words alone: the matching rules below are those of the words; hybrid, the
    default, adds the nodes near in meaning (tests/memory_graph/test_semantic.py)."""
    return search(mode="lexical", **kwargs)


def titles(nodes: list[MemoryNode]) -> list[str]:
    return [n.title for n in nodes]


@pytest.fixture
def plans(org_a, archive):  # type: ignore[no-untyped-def]
    return {
        "auth": archive(
            org_a,
            "Authentication service",
            ["Design the token schema", "Write the migration"],
            participants=["alice"],
        ),
        "billing": archive(
            org_a,
            "Billing revamp",
            ["Move invoices to the new authentication provider", "Check the tax rules"],
            participants=["dora"],
        ),
        "deploy": archive(
            org_a, "Deployment pipeline", ["Cache the docker layers"], description="Faster releases"
        ),
    }


@pytest.mark.django_db
class TestMatching:
    """Matching by words (mode lexical)."""

    def test_finds_a_plan_by_a_word_of_its_title(self, org_a, plans):
        assert titles(lexical(query="billing", org=org_a)) == ["Billing revamp"]

    def test_finds_a_plan_by_a_word_of_one_of_its_steps(self, org_a, plans):
        assert titles(lexical(query="invoices", org=org_a)) == ["Billing revamp"]

    def test_finds_by_description_and_by_participant(self, org_a, plans):
        assert titles(lexical(query="releases", org=org_a)) == ["Deployment pipeline"]
        assert titles(lexical(query="dora", org=org_a)) == ["Billing revamp"]

    def test_stemming_finds_other_forms_of_a_word(self, org_a, plans):
        assert titles(lexical(query="migrations", org=org_a)) == ["Authentication service"]
        assert titles(lexical(query="designing schemas", org=org_a)) == ["Authentication service"]

    def test_every_word_must_match(self, org_a, plans):
        assert titles(lexical(query="token migration", org=org_a)) == ["Authentication service"]
        assert lexical(query="token invoices", org=org_a) == []

    def test_title_matches_rank_above_step_matches(self, org_a, plans):
        results = lexical(query="authentication", org=org_a)
        assert titles(results) == ["Authentication service", "Billing revamp"]
        assert results[0].rank > results[1].rank

    def test_title_match_outranks_a_word_repeated_in_many_steps(self, org_a, archive):
        archive(org_a, "Quarterly review", [f"cache warmup pass {i}" for i in range(12)])
        archive(org_a, "Cache layer", ["Pick a library"])
        assert titles(lexical(query="cache", org=org_a))[0] == "Cache layer"

    def test_last_word_matches_as_a_prefix(self, org_a, plans):
        assert titles(lexical(query="authen", org=org_a)) == ["Authentication service", "Billing revamp"]
        assert titles(lexical(query="token sch", org=org_a)) == ["Authentication service"]

    @pytest.mark.parametrize("query", ["authenticat", "authenticatio", "configurat", "configuratio", "plann"])
    def test_a_word_typed_past_its_stem_still_matches(self, org_a, archive, query):
        # "authentication" is stored as the stem "authent": "authenticat" is not a prefix of it.
        archive(org_a, "Authentication configuration", ["Planning the rollout"])
        assert titles(lexical(query=query, org=org_a)) == ["Authentication configuration"]

    def test_nodes_matching_the_word_as_typed_come_before_stem_matches(self, org_a, archive):
        archive(org_a, "Plan review", ["Check the plan"])
        archive(org_a, "Planet survey", ["Count the moons"])
        # "plan" is a possible stem of "planet" half-typed; the planet itself comes first.
        assert titles(lexical(query="planet", org=org_a)) == ["Planet survey", "Plan review"]
        assert titles(lexical(query="plane", org=org_a)) == ["Planet survey", "Plan review"]

    def test_only_the_last_word_is_a_prefix(self, org_a, plans):
        assert lexical(query="sch token", org=org_a) == []

    def test_accents_and_case_do_not_matter(self, org_a, archive):
        archive(org_a, "Café Déjà Vu", ["Naïve RÉSUMÉ parser"])
        assert titles(lexical(query="cafe", org=org_a)) == ["Café Déjà Vu"]
        assert titles(lexical(query="RESUME", org=org_a)) == ["Café Déjà Vu"]

    def test_no_match_is_an_empty_list(self, org_a, plans):
        assert lexical(query="kubernetes", org=org_a) == []

    def test_results_carry_a_rank(self, org_a, plans):
        assert all(
            isinstance(n.rank, float) and n.rank > 0 for n in lexical(query="the authentication", org=org_a)
        )


@pytest.mark.django_db
class TestScope:
    def test_another_orgs_nodes_never_appear(self, org_a, org_b, archive, plans):
        archive(org_b, "Authentication for B", ["secret authentication step"])
        assert "Authentication for B" not in titles(search(query="authentication", org=org_a))
        assert titles(search(query="authentication", org=org_b)) == ["Authentication for B"]
        assert search(query="secret", org=org_a) == []

    def test_other_org_does_not_use_up_the_limit(self, org_a, org_b, archive):
        for i in range(5):
            archive(org_b, f"Roadmap {i}")
        archive(org_a, "Roadmap A")
        assert titles(search(query="roadmap", org=org_a, limit=1)) == ["Roadmap A"]

    def test_kind_filters(self, org_a, plans):
        note = create_node(org=org_a, kind="note", content="Authentication notes from the security review")
        assert [n.id for n in search(query="authentication", org=org_a, kind="note")] == [note.id]
        assert note.id not in [n.id for n in search(query="authentication", org=org_a, kind="plan_session")]
        assert note.id in [n.id for n in search(query="authentication", org=org_a)]
        assert search(query="authentication", org=org_a, kind="unknown-kind") == []

    def test_limit(self, org_a):
        for i in range(7):
            create_node(org=org_a, kind="note", content=f"shared word number {i}")
        assert len(search(query="shared", org=org_a)) == 7
        assert len(search(query="shared", org=org_a, limit=3)) == 3

    @pytest.mark.parametrize("limit", [0, -1, 101])
    def test_limit_out_of_range_is_refused(self, org_a, limit):
        with pytest.raises(InvalidInput) as excinfo:
            search(query="x", org=org_a, limit=limit)
        assert excinfo.value.field == "limit"


@pytest.mark.django_db
class TestOtherKinds:
    def test_plain_text_content_is_indexed_as_body(self, org_a):
        node = create_node(org=org_a, kind="note", content="Remember: rotate the signing keys yearly.")
        assert [n.id for n in search(query="rotate keys", org=org_a)] == [node.id]
        assert node.title == "Remember: rotate the signing keys yearly."

    def test_metadata_title_is_the_title(self, org_a):
        node = create_node(org=org_a, kind="doc", content="body text", metadata={"title": "Runbook"})
        assert [n.id for n in search(query="runbook", org=org_a)] == [node.id]
        assert node.title == "Runbook"

    def test_json_that_is_not_an_object_is_text(self, org_a):
        node = create_node(org=org_a, kind="note", content='["kiwi", "mango"]')
        assert [n.id for n in search(query="mango", org=org_a)] == [node.id]

    def test_huge_content_is_stored_and_its_start_searchable(self, org_a):
        words = " ".join(f"word{i}" for i in range(60_000))
        node = create_node(org=org_a, kind="note", content="needle " + words)
        assert [n.id for n in search(query="needle", org=org_a)] == [node.id]

    def test_a_node_created_without_the_service_is_found_once_indexed(self, org_a):
        node = MemoryNode.objects.create(org=org_a, kind="note", content="orphan text")
        assert search(query="orphan", org=org_a) == []
        engine.index_node(node)
        assert [n.id for n in search(query="orphan", org=org_a)] == [node.id]

    def test_a_deleted_node_is_no_longer_found(self, org_a):
        node = create_node(org=org_a, kind="note", content="ephemeral")
        node.delete()
        assert search(query="ephemeral", org=org_a) == []

    @requires_sqlite
    def test_deleting_a_node_removes_its_fts_row(self, org_a):
        node = create_node(org=org_a, kind="note", content="ephemeral")
        node_id = node.id
        node.delete()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM memory_graph_fts WHERE node_id = %s", [node_id.hex])
            assert cursor.fetchone()[0] == 0

    def test_saving_a_created_node_keeps_its_index(self, org_a):
        node = create_node(org=org_a, kind="note", content="durable")
        node.metadata = {"touched": True}
        node.save()
        assert [n.id for n in search(query="durable", org=org_a)] == [node.id]


@pytest.mark.django_db
class TestQueryText:
    @pytest.mark.parametrize("query", ["", "   ", "the", "the and of", "a an the !", "...", "&|!():*", "'\""])
    def test_nothing_searchable_finds_nothing(self, org_a, plans, query):
        assert search(query=query, org=org_a) == []

    @pytest.mark.parametrize("query", HOSTILE)
    def test_hostile_text_never_errors(self, org_a, plans, query):
        assert isinstance(search(query=query, org=org_a), list)

    def test_operators_are_plain_separators(self, org_a, plans):
        assert titles(search(query="'billing' & !revamp |", org=org_a)) == ["Billing revamp"]
        assert titles(search(query="(token) && schema:*", org=org_a)) == ["Authentication service"]

    def test_a_trailing_stop_word_leaves_the_word_before_it_whole(self):
        assert engine.parse_query("auth the") == engine.ParsedQuery(terms=("auth",), prefix=False)
        assert engine.parse_query("the auth") == engine.ParsedQuery(terms=("auth",), prefix=True)

    def test_words_are_deduplicated_and_capped(self):
        parsed = engine.parse_query("x x " + " ".join(f"w{i}" for i in range(40)) + " x")
        assert parsed is not None
        assert len(parsed.terms) == engine.MAX_QUERY_TERMS
        assert parsed.terms[-1] == "x" and parsed.terms.count("x") == 1

    def test_stems_of_the_last_word(self):
        assert engine.parse_query("token deploym").stems == ("deploy", "deplo", "depl")
        assert engine.parse_query("authenticatio").stems[-1] == "authent"
        assert engine.parse_query("plan").stems == ()
        assert engine.parse_query("deployment the").stems == ()

    def test_words_are_letters_and_digits_only(self):
        parsed = engine.parse_query("o'brien's e-mail v2.0 snake_case")
        assert parsed is not None
        assert parsed.terms == ("o", "brien", "e", "mail", "v2", "0", "snake", "case")


@pytest.mark.django_db
@pytest.mark.postgres
@requires_postgres
class TestPostgres:
    def test_a_word_typed_past_its_stem_still_matches(self, org_a, archive):
        # "deployment" is stored as "deploy": "deploym" is not a prefix of it (SQLite's porter
        # stemmer makes "deploy" "deploi", so this one works on PostgreSQL only).
        archive(org_a, "Deployment rollout", ["Planning the release"])
        for query in ["deploym", "deployme", "deploymen", "deployment"]:
            assert titles(search(query=query, org=org_a)) == ["Deployment rollout"], query

    def test_the_node_stores_a_weighted_vector(self, org_a, plans):
        vector = MemoryNode.objects.values_list("search_vector", flat=True).get(id=plans["auth"].id)
        assert "'authent':1A" in vector  # title, stemmed
        assert re.search(r"'token':\d+B", vector)  # a step
        assert re.search(r"'alic':\d+C", vector)  # a participant

    def test_search_uses_the_gin_index(self, org_a, plans):
        # Enough nodes in the org that reading them all costs more than the index (the planner's own
        # choice, no enable_seqscan tricks: this is the plan production gets).
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO memory_graph_memorynode"
                " (id, org_id, kind, content, metadata, created_at, search_vector)"
                " SELECT gen_random_uuid(), %s, 'note', 'filler ' || i, '{}', now(),"
                " to_tsvector('english', 'filler text number ' || i) FROM generate_series(1, 3000) i",
                [org_a.id],
            )
            cursor.execute("ANALYZE memory_graph_memorynode")
            query = engine.parse_query("token authen")
            assert query is not None
            nodes = engine.postgres_search(MemoryNode.objects.filter(org=org_a), query=query)[:20]
            sql, params = nodes.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert f"Bitmap Index Scan on {engine.GIN_INDEX}" in plan, plan
        assert titles(search(query="token authen", org=org_a)) == ["Authentication service"]
