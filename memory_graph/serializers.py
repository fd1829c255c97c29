"""The JSON shapes of memory nodes and edges (DESIGN 4), and the search query's validation.

Output is built by plain functions; the `*Out` serializers only describe it for the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from aep.serialization import StrictCharField, iso
from memory_graph.selectors import (
    MODES,
    RELATED_LIMIT_DEFAULT,
    RELATED_LIMIT_MAX,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
)

QUERY_MAX = 500


def node_json(node: Any) -> dict[str, Any]:
    """A node as lists show it. `metadata` of a plan session carries plan_id, title, step_count,
    participants and archived_at."""
    body = {
        "id": str(node.id),
        "org_id": node.org_id,
        "kind": node.kind,
        "title": node.title,
        "content": node.content,
        "metadata": node.metadata,
        "created_at": iso(node.created_at),
    }
    rank = getattr(node, "rank", None)
    if rank is not None:
        body["rank"] = round(float(rank), 6)
    if hasattr(node, "match"):
        body["match"] = node.match
        body["snippet"] = node.snippet
    score = getattr(node, "score", None)
    if score is not None:
        body["score"] = score
    return body


def node_detail_json(node: Any, edges_out: Iterable[Any], edges_in: Iterable[Any]) -> dict[str, Any]:
    return {
        **node_json(node),
        "edges_out": [
            {"id": e.id, "kind": e.kind, "target_id": str(e.target_id), "created_at": iso(e.created_at)}
            for e in edges_out
        ],
        "edges_in": [
            {"id": e.id, "kind": e.kind, "source_id": str(e.source_id), "created_at": iso(e.created_at)}
            for e in edges_in
        ],
    }


class SearchQueryIn(serializers.Serializer):
    q = StrictCharField(
        max_length=QUERY_MAX, allow_blank=True, help_text="Words to find; the last may be unfinished."
    )
    kind = StrictCharField(
        max_length=64, required=False, allow_blank=True, help_text="Only nodes of this kind."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=SEARCH_LIMIT_MAX, required=False, default=SEARCH_LIMIT_DEFAULT
    )
    mode = serializers.ChoiceField(
        choices=MODES,
        required=False,
        default="hybrid",
        help_text="hybrid (default): words and meaning fused by reciprocal rank; lexical: words only; "
        "semantic: meaning only (embeddings).",
    )


class RelatedQueryIn(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=RELATED_LIMIT_MAX, required=False, default=RELATED_LIMIT_DEFAULT
    )


class LinkIn(serializers.Serializer):
    target = StrictCharField(max_length=64, help_text="The id of the org's node to link to.")


class NodeOut(serializers.Serializer):
    id = serializers.UUIDField()
    org_id = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    content = serializers.CharField(
        allow_blank=True, help_text="As stored: for a plan session, the JSON of the plan."
    )
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()


class MatchOut(serializers.Serializer):
    lexical = serializers.IntegerField(
        allow_null=True, help_text="Position in the ranking by words (1 is best), or null: no word matched."
    )
    semantic = serializers.FloatField(
        allow_null=True, help_text="Cosine similarity of meaning (-1 to 1), or null: not among the near ones."
    )


class SearchHitOut(NodeOut):
    rank = serializers.FloatField(help_text="Relevance, higher first; comparable within one response only.")
    match = MatchOut()
    snippet = serializers.CharField(
        allow_blank=True, help_text="HTML: the matching text, escaped, its hits in <mark> elements."
    )


class RelatedHitOut(NodeOut):
    score = serializers.FloatField(help_text="Cosine similarity to the node, higher first.")


class RelatedResultsOut(serializers.Serializer):
    results = RelatedHitOut(many=True)
    count = serializers.IntegerField()


class SearchResultsOut(serializers.Serializer):
    results = SearchHitOut(many=True)
    count = serializers.IntegerField()


class EdgeOutOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    target_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


class EdgeInOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    source_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


class NodeDetailOut(NodeOut):
    edges_out = EdgeOutOut(many=True)
    edges_in = EdgeInOut(many=True)
