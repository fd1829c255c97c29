"""Relevance search over memory nodes: how a node is indexed, how user text becomes a query.

PostgreSQL: `MemoryNode.search_vector`, a weighted tsvector written by `create_node`, matched through the
GIN index `memnode_search_gin` and ranked with `ts_rank`, all in the 'english' configuration (stemmed,
so "migrations" finds "migration"; names are stemmed alike on both sides). Weights: title A,
description and steps B, participants C; with ts_rank's default weights (A 1.0, B 0.4) a word in the
title outranks any number of the same word in steps.

SQLite: an FTS5 table `memory_graph_fts` (porter stemmer, accents removed), filled by `create_node` and
emptied of a deleted node's row by a trigger; ranked with bm25 weighting title over body over people.

Queries, on both: every word must match; the last word typed also matches as a prefix (search as you
type: "authen" finds "authentication"). A half-typed word can run past its stem, though: "deploym"
is not a prefix of "deploy", the lexeme "deployment" is stored as. So the last word also matches the
stems its own first letters could be ("deploy", "deplo", ..., at least four letters); nodes found
only that way come after the ones that match the word as typed.

User text never reaches either query language as syntax: it is cut into words of letters and digits,
each quoted as a literal, so quotes, `&`, `|`, `!`, `:`, `*`, parentheses or `NEAR` are just separators.
English stop words are dropped (the same list as PostgreSQL's), so a query of only stop words or
punctuation finds nothing, on either database, without asking it.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import NotSupportedError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet

from aep.models import Organization
from aep.tenancy import scope
from memory_graph import embeddings, vectors
from memory_graph.documents import SENTINELS, document_for
from memory_graph.models import MemoryNode

logger = logging.getLogger(__name__)

PG_CONFIG = "english"
GIN_INDEX = "memnode_search_gin"
FTS_TABLE = "memory_graph_fts"
FTS_DELETE_TRIGGER = "memory_graph_fts_delete"

MAX_QUERY_TERMS = 16
MAX_TERM_LENGTH = 100
# Stems a half-typed last word may have run past: its first letters, at least MIN_STEM of them, at
# most MAX_SUFFIX fewer than typed (the longest suffixes stemmers strip: "authenticatio" -> "authent").
MIN_STEM = 4
MAX_SUFFIX = 6

# bm25 weights of the FTS5 columns (node_id, org_id, kind, title, body, people); the first three
# are not indexed.
FTS_WEIGHTS = (0.0, 0.0, 0.0, 10.0, 2.5, 1.0)

# PostgreSQL's english.stop (tsearch_data), so that both databases drop the same words.
_ENGLISH_STOP = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these
    those am is are was were be been being have has had having do does did doing a an the and but if
    or because as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where
    why how all any both each few more most other some such no nor not only own same so than too very s
    t can will just don should now
    """
STOP_WORDS = frozenset(_ENGLISH_STOP.split())

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Text without accents ("Déjà" -> "Deja"), for the index and the query alike: PostgreSQL's
    'english' configuration keeps accents, SQLite's tokenizer removes them."""
    if text.isascii():  # most text: nothing to remove (and this runs on every snippet's text)
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFKC", "".join(c for c in decomposed if not unicodedata.combining(c)))


@dataclass(frozen=True)
class ParsedQuery:
    """The words to find, all of them; `prefix` when the last one may be unfinished."""

    terms: tuple[str, ...]
    prefix: bool

    @property
    def stems(self) -> tuple[str, ...]:
        """The stems the unfinished last word may already have run past: its first letters, longest
        first ("deploym" -> "deploy", "deplo", "depl")."""
        if not self.prefix:
            return ()
        word = self.terms[-1]
        shortest = max(MIN_STEM, len(word) - MAX_SUFFIX)
        stems = (word[:n] for n in range(len(word) - 1, shortest - 1, -1))
        return tuple(stem for stem in stems if stem not in STOP_WORDS)


def parse_query(text: str) -> ParsedQuery | None:
    """The words of a user's query, or None when nothing in it can be searched for."""
    words = [w[:MAX_TERM_LENGTH] for w in _WORD.findall(fold(text or "").lower())]
    terms: list[str] = []
    for word in words:
        if word not in STOP_WORDS and word not in terms:
            terms.append(word)
    if not terms:
        return None
    # The last word typed is matched as a prefix (search as you type), unless it was a stop word,
    # in which case the user has moved past the word before it.
    prefix = words[-1] not in STOP_WORDS
    if prefix and terms[-1] != words[-1]:
        terms.remove(words[-1])
        terms.append(words[-1])
    if len(terms) > MAX_QUERY_TERMS:
        terms = [*terms[: MAX_QUERY_TERMS - 1], terms[-1]]
    return ParsedQuery(terms=tuple(terms), prefix=prefix)


def _vendor(using: str) -> str:
    return connections[using].vendor


# --- Indexing -----------------------------------------------------------------------------------------

_PG_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, %(title)s), 'A')"
    " || setweight(to_tsvector('english'::regconfig, %(body)s), 'B')"
    " || setweight(to_tsvector('english'::regconfig, %(people)s), 'C')"
)


def index_document(
    connection: BaseDatabaseWrapper,
    *,
    table: str,
    node_id: uuid.UUID,
    org_id: str,
    kind: str,
    content: str,
    metadata: dict[str, Any] | None,
    replace: bool = False,
) -> None:
    """Write one node's search index entry. Plain SQL on a connection, so that migrations (which have
    only historical models) index existing nodes exactly as `create_node` indexes new ones."""
    document = document_for(content=content, metadata=metadata)
    params: dict[str, Any] = {
        "title": fold(document.title),
        "body": fold(document.body),
        "people": fold(document.people),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            params["id"] = node_id
            quoted = connection.ops.quote_name(table)
            # Identifiers and the vector template are ours; the text goes in as parameters.
            sql = f"UPDATE {quoted} SET search_vector = {_PG_VECTOR} WHERE id = %(id)s"  # noqa: S608
            cursor.execute(sql, params)
        elif connection.vendor == "sqlite":
            if replace:
                cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE node_id = %s", [node_id.hex])  # noqa: S608
            cursor.execute(
                f"INSERT INTO {FTS_TABLE} (node_id, org_id, kind, title, body, people)"  # noqa: S608
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [node_id.hex, org_id, kind, params["title"], params["body"], params["people"]],
            )


def index_node(node: MemoryNode, *, replace: bool = False) -> None:
    index_document(
        connections[node._state.db or "default"],
        table=MemoryNode._meta.db_table,
        node_id=node.id,
        org_id=node.org_id,
        kind=node.kind,
        content=node.content,
        metadata=node.metadata,
        replace=replace,
    )


def create_structures(schema_editor: Any, *, node_table: str) -> None:
    """The search index of the database: a GIN index on PostgreSQL, an FTS5 table on SQLite.

    The FTS5 table keeps each node's org and kind beside its text, so that a search filters on them
    without a lookup per matching row (nodes never change org or kind); results are still fetched
    through the org-scoped queryset. A trigger removes a deleted node's row. Django rebuilds a SQLite
    table to alter it (copy, drop, rename), which drops its triggers: a migration that alters
    `memorynode` must call this again (it is idempotent).
    """
    connection = schema_editor.connection
    quoted = schema_editor.quote_name(node_table)
    if connection.vendor == "postgresql":
        # fastupdate off: nodes are written once (an archive) and searched often. With it on, new
        # entries wait in a pending list that every search must scan until a vacuum merges them, and
        # the planner, pricing that list, turns to a sequential scan.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {GIN_INDEX} ON {quoted} "
            "USING gin (search_vector) WITH (fastupdate = off)"
        )
    elif connection.vendor == "sqlite":
        try:
            schema_editor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
                "node_id UNINDEXED, org_id UNINDEXED, kind UNINDEXED, title, body, people,"
                " tokenize = 'porter unicode61 remove_diacritics 2')"
            )
        except OperationalError as error:
            raise NotSupportedError(f"Memory search on SQLite needs FTS5: {error}") from error
        # `ORDER BY rank` then means bm25 with our column weights (FTS5 keeps this setting).
        weights = ", ".join(str(w) for w in FTS_WEIGHTS)
        schema_editor.execute(
            f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rank) VALUES ('rank', 'bm25({weights})')"  # noqa: S608
        )
        schema_editor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {FTS_DELETE_TRIGGER} AFTER DELETE ON {quoted} "  # noqa: S608
            f"BEGIN DELETE FROM {FTS_TABLE} WHERE node_id = old.id; END"
        )


def drop_structures(schema_editor: Any, *, node_table: str) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {GIN_INDEX}")
    elif connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FTS_DELETE_TRIGGER}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


# --- Querying -----------------------------------------------------------------------------------------


def _pg_queries(query: ParsedQuery) -> tuple[SearchQuery, SearchQuery]:
    """(what a node must match, what it matches when the last word is found as typed). The words
    hold only letters and digits, so quoted they are literals whatever the user typed."""
    match, typed = _pg_query_texts(query)
    return (
        SearchQuery(match, config=PG_CONFIG, search_type="raw"),
        SearchQuery(typed, config=PG_CONFIG, search_type="raw"),
    )


def _pg_query_texts(query: ParsedQuery) -> tuple[str, str]:
    """The tsquery texts of `_pg_queries`."""
    *whole, last = query.terms
    typed = f"'{last}'" + (":*" if query.prefix else "")
    last_match = "( " + " | ".join([typed, *(f"'{stem}'" for stem in query.stems)]) + " )"
    return " & ".join([*(f"'{word}'" for word in whole), last_match]), typed


def _fts_queries(query: ParsedQuery) -> tuple[str, str | None]:
    """FTS5 match expressions: (the words as typed, the same with the last word widened to its
    possible stems, or None when there are none)."""
    *whole, last = query.terms
    typed = f'"{last}"' + ("*" if query.prefix else "")
    words = [f'"{word}"' for word in whole]
    widened = None
    if query.stems:
        widened = " AND ".join([*words, "(" + " OR ".join([typed, *(f'"{s}"' for s in query.stems)]) + ")"])
    return " AND ".join([*words, typed]), widened


# (node id, rank, the node's FTS5 rowid on SQLite, else None): the ranking by words, before any node
# is fetched, so that hybrid search can look deep into it and fetch only the page it shows.
LexicalHit = tuple[uuid.UUID, float, int | None]


def lexical_ranking(
    *, org: Organization, kind: str | None, query: ParsedQuery, limit: int, page: int | None = None
) -> list[LexicalHit]:
    """The org's nodes (of `kind`, if given) that match, best first, with their rank: higher is
    better, and only the order is meaningful (the scale differs between databases and queries).
    `page` (default `limit`): on SQLite, the stems of a half-typed last word are looked up only
    while fewer than this many nodes match the word as typed (hybrid search ranks deeper than the
    page it shows, and that second FTS5 query is as dear as the first)."""
    nodes = scope(MemoryNode.objects, org)
    if kind:
        nodes = nodes.filter(kind=kind)
    vendor = _vendor(nodes.db)
    if vendor == "postgresql":
        ranked = postgres_search(nodes, query=query).values_list("id", "rank")[:limit]
        return [(node_id, rank, None) for node_id, rank in ranked]
    if vendor == "sqlite":
        return _sqlite_ranking(nodes, org_id=org.id, kind=kind, query=query, limit=limit, page=page or limit)
    raise NotSupportedError(f"Memory search is not implemented for {vendor}.")


def search_nodes(*, org: Organization, kind: str | None, query: ParsedQuery, limit: int) -> list[MemoryNode]:
    """`lexical_ranking`'s nodes, fetched, each with its `rank`."""
    ranking = lexical_ranking(org=org, kind=kind, query=query, limit=limit)
    found = _fetch(org, [node_id for node_id, _, _ in ranking])
    result = []
    for node_id, rank, _ in ranking:
        if node_id in found:
            found[node_id].rank = rank
            result.append(found[node_id])
    return result


def _fetch(org: Organization, node_ids: list[uuid.UUID]) -> dict[uuid.UUID, MemoryNode]:
    """The ranked nodes, by primary key. The ids come from org-scoped rankings; the org is checked
    again on each row, here rather than in the SQL: with `org_id = %s` in the query, SQLite (which
    has no statistics) scans the org's whole index instead of looking up the keys (12 ms for 20 keys
    at 10,000 nodes; docs/PERFORMANCE.md, "Memory search")."""
    if not node_ids:
        return {}
    rows = MemoryNode.objects.filter(id__in=node_ids).defer("search_vector").order_by()
    return {node.id: node for node in rows if node.org_id == org.id}


def postgres_search(nodes: QuerySet[MemoryNode], *, query: ParsedQuery) -> QuerySet[MemoryNode]:
    """The matching nodes, ranked. `@@` on the indexed column is what lets the GIN index answer."""
    match, typed = _pg_queries(query)
    ranked = nodes.filter(search_vector=match).annotate(rank=SearchRank(F("search_vector"), match))
    order = ["-rank", "-created_at", "-id"]
    if query.stems:
        as_typed = ExpressionWrapper(Q(search_vector=typed), output_field=BooleanField())
        ranked = ranked.annotate(as_typed=as_typed)
        order.insert(0, "-as_typed")
    return ranked.defer("search_vector").order_by(*order)


def _fts_ranked(
    nodes: QuerySet[MemoryNode], *, org_id: str, kind: str | None, match: str, limit: int
) -> list[LexicalHit]:
    sql = f"SELECT node_id, rank, rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND org_id = %s"  # noqa: S608
    params: list[Any] = [match, org_id]
    if kind:
        sql += " AND kind = %s"
        params.append(kind)
    with connections[nodes.db].cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY rank, rowid DESC LIMIT %s", [*params, limit])
        # bm25 is negative, lower is better: turn it round so that higher is better, as on PostgreSQL.
        return [(uuid.UUID(node_id), -rank, rowid) for node_id, rank, rowid in cursor.fetchall()]


def _sqlite_ranking(
    nodes: QuerySet[MemoryNode], *, org_id: str, kind: str | None, query: ParsedQuery, limit: int, page: int
) -> list[LexicalHit]:
    typed, widened = _fts_queries(query)
    hits = _fts_ranked(nodes, org_id=org_id, kind=kind, match=typed, limit=limit)
    if widened is not None and len(hits) < page:
        # Stem matches only fill the page after the matches of the word as typed (two queries rather
        # than one ordered by both: FTS5 would have to run the second match for every row).
        seen = {hit[0] for hit in hits}
        for hit in _fts_ranked(nodes, org_id=org_id, kind=kind, match=widened, limit=limit + len(hits)):
            if len(hits) == limit:
                break
            if hit[0] not in seen:
                seen.add(hit[0])
                hits.append(hit)
    return hits


# --- Modes: lexical, semantic, hybrid (DESIGN 13) -----------------------------------------------------


class Mode(StrEnum):
    HYBRID = "hybrid"
    LEXICAL = "lexical"
    SEMANTIC = "semantic"


# Reciprocal rank fusion: a node scores sum(1 / (RRF_K + position)) over the rankings that found it.
# 60 is the constant of the method's paper (Cormack et al., 2009); a larger one flattens the curve.
RRF_K = 60
# How deep into each ranking the fusion looks, whatever page is asked for: a node 30th by words and
# 2nd by meaning must be able to reach the top 10.
FUSION_DEPTH = 50
# Below this cosine a semantic neighbour is noise for a search (WordLlama scores unrelated plans
# about 0.0-0.2 and related ones 0.25 and up; tests/memory_graph/test_relevance.py measures it).
# Related nodes take no threshold: the nearest are shown, however near.
SEMANTIC_MIN = 0.2
# Sentinels for the hit markers: the databases insert them, then the text is escaped and they become
# <mark> tags (neither database escapes HTML). Indexed text never holds them (documents.SENTINELS).
_OPEN, _CLOSE = SENTINELS
SNIPPET_WORDS = 16
# Lines of a node (title, description, steps) a snippet by meaning is chosen from: each is embedded.
SNIPPET_LINES = 12


def find(*, org: Organization, text: str, mode: Mode, kind: str | None, limit: int) -> list[MemoryNode]:
    """The search behind `GET /api/memory/search` and the pages: the org's nodes (of `kind`, if
    given) best first, each with `rank` (higher is better; its scale depends on the mode),
    `match` = {"lexical": position in the word ranking (1 is best) or None, "semantic": cosine or
    None} and `snippet` (HTML: escaped text with the hits in <mark>)."""
    parsed = parse_query(text)
    depth = max(limit, FUSION_DEPTH) if mode == Mode.HYBRID else limit
    lexical: list[LexicalHit] = []
    if mode != Mode.SEMANTIC and parsed is not None:
        lexical = lexical_ranking(org=org, kind=kind, query=parsed, limit=depth, page=limit)
    semantic: list[tuple[uuid.UUID, float]] = []
    query_vector = None
    if mode != Mode.LEXICAL and (text or "").strip():
        try:
            query_vector = embeddings.embed([text[: embeddings.TEXT_MAX]])[0]
        except Exception:
            # The model could not run (a broken install): words still work. Logged, not hidden.
            logger.exception("Embedding a search query failed; searching by words only")
        else:
            semantic = vectors.nearest(
                org=org, vector=query_vector, kind=kind, limit=depth, min_score=SEMANTIC_MIN
            )
    positions = {node_id: i for i, (node_id, _, _) in enumerate(lexical, start=1)}
    rowids = {node_id: rowid for node_id, _, rowid in lexical}
    similarity = dict(semantic)
    if mode == Mode.LEXICAL:
        ranked = [(node_id, float(rank)) for node_id, rank, _ in lexical]
    elif mode == Mode.SEMANTIC:
        ranked = semantic
    else:
        fused: dict[uuid.UUID, float] = {}
        for node_id, position in positions.items():
            fused[node_id] = 1 / (RRF_K + position)
        for position, (node_id, _) in enumerate(semantic, start=1):
            fused[node_id] = fused.get(node_id, 0.0) + 1 / (RRF_K + position)
        ranked = sorted(fused.items(), key=lambda item: -item[1])
    ranked = ranked[:limit]
    # Only the page shown is fetched.
    found = _fetch(org, [node_id for node_id, _ in ranked])
    results = []
    for node_id, score in ranked:
        node = found.get(node_id)
        if node is None:  # deleted since it was ranked (or since its embedding was cached)
            continue
        node.rank = score
        node.match = {"lexical": positions.get(node_id), "semantic": _round(similarity.get(node_id))}
        results.append(node)
    _add_snippets(results, org=org, query=parsed, query_vector=query_vector, rowids=rowids)
    return results


def related(*, org: Organization, node: MemoryNode, limit: int) -> list[MemoryNode]:
    """The org's nodes most like `node`, best first, itself left out, each with `score` (cosine).
    A node not embedded yet is embedded here for the question (nothing is written)."""
    vector = vectors.vector_of(org=org, node_id=node.id)
    if vector is None:
        vector = embeddings.embed([embeddings.node_text(content=node.content, metadata=node.metadata)])[0]
    nearest = vectors.nearest(org=org, vector=vector, limit=limit, exclude=node.id)
    found = _fetch(org, [node_id for node_id, _ in nearest])
    results = []
    for node_id, score in nearest:
        if node_id in found:
            found[node_id].score = _round(score)
            results.append(found[node_id])
    return results


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _marked(raw: str) -> str:
    """The snippet as HTML: on one line, escaped, its sentinels turned into <mark> tags."""
    return html.escape(" ".join(raw.split())).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _add_snippets(
    nodes: list[MemoryNode],
    *,
    org: Organization,
    query: ParsedQuery | None,
    query_vector: np.ndarray | None,
    rowids: dict[uuid.UUID, int | None],
) -> None:
    """Each node's `snippet`: where the words matched (the database's own highlighter), else, for a
    node found by meaning only, its line most like the query, marked whole."""
    by_words = [n for n in nodes if n.id in rowids]
    snippets: dict[uuid.UUID, str] = {}
    if by_words and query is not None:
        snippets = _lexical_snippets(by_words, org=org, query=query, rowids=rowids)
    others = [n for n in nodes if n.id not in snippets]
    if others and query_vector is not None:
        snippets.update(_semantic_snippets(others, query_vector=query_vector))
    for node in nodes:
        node.snippet = snippets.get(node.id, "")


def _lexical_snippets(
    nodes: list[MemoryNode], *, org: Organization, query: ParsedQuery, rowids: dict[uuid.UUID, int | None]
) -> dict[uuid.UUID, str]:
    using = nodes[0]._state.db or "default"
    connection = connections[using]
    if connection.vendor == "postgresql":
        match, _ = _pg_query_texts(query)
        texts = []
        for node in nodes:
            document = document_for(content=node.content, metadata=node.metadata)
            texts.append(fold(f"{document.title}\n{document.body}"))
        options = (
            f"StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=6,"
            ' MaxFragments=2, FragmentDelimiter=" … "'
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ts_headline(%s::regconfig, t, to_tsquery(%s::regconfig, %s), %s)"
                " FROM unnest(%s::text[]) WITH ORDINALITY AS x(t, n) ORDER BY n",
                [PG_CONFIG, PG_CONFIG, match, options, texts],
            )
            return {node.id: _marked(row[0]) for node, row in zip(nodes, cursor.fetchall(), strict=True)}
    typed, widened = _fts_queries(query)
    ids = [rowids[node.id] for node in nodes]
    marks = ", ".join(["%s"] * len(ids))
    # By rowid: FTS5 then checks the match in those rows only (by node_id it would run the match over
    # the whole table first: 30 ms rather than 1 ms for a common word in 10,000 nodes).
    sql = (
        f"SELECT node_id, snippet({FTS_TABLE}, -1, %s, %s, '…', %s) FROM {FTS_TABLE}"  # noqa: S608
        f" WHERE {FTS_TABLE} MATCH %s AND org_id = %s AND rowid IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_OPEN, _CLOSE, SNIPPET_WORDS, widened or typed, org.id, *ids])
        return {uuid.UUID(node_id): _marked(snippet) for node_id, snippet in cursor.fetchall()}


def _semantic_snippets(nodes: list[MemoryNode], *, query_vector: np.ndarray) -> dict[uuid.UUID, str]:
    lines: list[tuple[uuid.UUID, str]] = []
    for node in nodes:
        document = document_for(content=node.content, metadata=node.metadata)
        candidates = [document.title, *document.body.splitlines()]
        lines += [(node.id, line.strip()[:300]) for line in candidates[:SNIPPET_LINES] if line.strip()]
    if not lines:
        return {}
    scores = embeddings.embed([line for _, line in lines]) @ query_vector
    best: dict[uuid.UUID, tuple[float, str]] = {}
    for (node_id, line), score in zip(lines, scores, strict=True):
        if node_id not in best or score > best[node_id][0]:
            best[node_id] = (float(score), line)
    return {node_id: _marked(f"{_OPEN}{line}{_CLOSE}") for node_id, (_, line) in best.items()}
