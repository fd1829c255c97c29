"""Nearest neighbours among an org's node embeddings: the one place that knows how vectors are stored.

Vectors are float32 bytes in `NodeEmbedding.vector` (SQLite and PostgreSQL alike; pgvector is not
available here). Each process keeps one org's vectors as a numpy matrix, loaded on first use and
reloaded when the org's embeddings changed: a search costs one index lookup (is the matrix
current?) and one matrix-vector product, about 1 ms for 10,000 nodes (docs/PERFORMANCE.md).

Switching to pgvector, where it exists, changes `nearest()` only: a `vector(256)` column (or an
expression index over this one), an HNSW index with `vector_cosine_ops`, and
`ORDER BY embedding <=> %s LIMIT n` filtered by org and kind.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from aep.models import Organization
from aep.tenancy import scope
from memory_graph import embeddings
from memory_graph.models import NodeEmbedding

# Orgs whose matrix a process keeps (about 1 MB per 1,000 nodes); the least recently used goes first.
CACHED_ORGS = 32


@dataclass(frozen=True)
class _Matrix:
    stamp: tuple[int, str]
    node_ids: list[uuid.UUID]
    kinds: np.ndarray
    vectors: np.ndarray


_cache: OrderedDict[tuple[str, str], _Matrix] = OrderedDict()
_lock = threading.Lock()


def _stamp(org: Organization, using: str) -> tuple[int, str]:
    """What identifies the org's current set of embeddings: its newest row, read backwards on the
    (org, id) index. Ids only grow, so any new embedding changes it; the node id tells apart rows that
    a rolled-back transaction let a later one reuse (SQLite's AUTOINCREMENT does). A deleted node's
    row may stay in the cached matrix until the next embedding: searches fetch nodes by id and skip
    it. (Counting the rows as well cost 4 ms at 10,000 nodes on PostgreSQL.)"""
    newest = (
        scope(NodeEmbedding.objects.using(using), org).order_by("-id").values_list("id", "node_id").first()
    )
    return (0, "") if newest is None else (newest[0], str(newest[1]))


def _matrix(org: Organization, using: str) -> _Matrix:
    stamp = _stamp(org, using)
    key = (using, org.id)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.stamp == stamp:
            _cache.move_to_end(key)
            return cached
    rows = list(
        scope(NodeEmbedding.objects.using(using), org).order_by("id").values_list("node_id", "kind", "vector")
    )
    # A native, writeable copy: BLAS multiplies it several times faster than a view of the bytes.
    vectors = (
        np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4")
        .astype(np.float32)
        .reshape(len(rows), embeddings.DIMENSIONS)
    )
    matrix = _Matrix(
        stamp=stamp,
        node_ids=[r[0] for r in rows],
        kinds=np.array([r[1] for r in rows], dtype=object),
        vectors=vectors,
    )
    with _lock:
        _cache[key] = matrix
        _cache.move_to_end(key)
        while len(_cache) > CACHED_ORGS:
            _cache.popitem(last=False)
    return matrix


def nearest(
    *,
    org: Organization,
    vector: np.ndarray,
    limit: int,
    kind: str | None = None,
    exclude: uuid.UUID | None = None,
    min_score: float = -1.0,
    using: str = "default",
) -> list[tuple[uuid.UUID, float]]:
    """The org's nodes (of `kind`, if given) most like `vector`, best first, as (node id, cosine)."""
    matrix = _matrix(org, using)
    if not matrix.node_ids or not np.any(vector):
        return []
    scores = matrix.vectors @ np.asarray(vector, dtype=np.float32)
    if kind:
        scores = np.where(matrix.kinds == kind, scores, -np.inf)
    if exclude is not None and exclude in matrix.node_ids:
        scores[matrix.node_ids.index(exclude)] = -np.inf
    n = min(limit, len(scores))
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(matrix.node_ids[i], float(scores[i])) for i in top if scores[i] >= min_score]


def vector_of(*, org: Organization, node_id: uuid.UUID, using: str = "default") -> np.ndarray | None:
    """A node's stored embedding, or None while it has none."""
    data = (
        scope(NodeEmbedding.objects.using(using), org)
        .filter(node_id=node_id)
        .values_list("vector", flat=True)
    )
    row = data.first()
    return None if row is None else embeddings.from_bytes(row)
