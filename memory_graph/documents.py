"""What of a node is searchable, and how important each part is (no database here).

A `plan_session` node's content is the JSON of `{title, description, steps: [{id, text, owner, ts}],
participants}`. Its searchable text falls into three fields, in falling order of weight:

- title: the plan's title (A on PostgreSQL, the heaviest bm25 column on SQLite),
- body: the description and the step texts (B),
- people: the participants and the step owners (C).

Nodes of other kinds may hold any text: a JSON object with any of those keys is read the same way,
anything else is indexed whole as body text, with `metadata["title"]` (if any) as the title.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Bounds on what is indexed, so that no node can overflow PostgreSQL's 1 MB tsvector limit (the
# vector holds the body twice, stemmed and as typed). Text past them is stored but not searchable.
TITLE_INDEX_MAX = 1_000
BODY_INDEX_MAX = 100_000
PEOPLE_INDEX_MAX = 10_000
TITLE_DISPLAY_MAX = 120


@dataclass(frozen=True)
class SearchDocument:
    title: str
    body: str
    people: str


def _json_object(content: str) -> dict[str, Any] | None:
    if not content.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, str) and v]


# Two private-use characters that search snippets use as hit markers (memory_graph.search): removed
# from what is indexed, so that no text of a node can open or close a mark.
SENTINELS = ("\ue000", "\ue001")


def _clean(text: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; the index has no use for it anyway.
    return text[:limit].replace("\x00", " ").replace(SENTINELS[0], " ").replace(SENTINELS[1], " ")


def document_for(*, content: str, metadata: dict[str, Any] | None) -> SearchDocument:
    metadata = metadata if isinstance(metadata, dict) else {}
    meta_title = metadata.get("title") if isinstance(metadata.get("title"), str) else ""
    data = _json_object(content or "")
    if data is None or not {"title", "description", "steps", "participants"} & data.keys():
        return SearchDocument(
            title=_clean(meta_title, TITLE_INDEX_MAX),
            body=_clean(content or "", BODY_INDEX_MAX),
            people="",
        )
    title = data.get("title") if isinstance(data.get("title"), str) else meta_title
    steps = (
        [s for s in data.get("steps") or [] if isinstance(s, dict)]
        if isinstance(data.get("steps"), list)
        else []
    )
    body_parts = [data["description"]] if isinstance(data.get("description"), str) else []
    body_parts += [s["text"] for s in steps if isinstance(s.get("text"), str)]
    people: list[str] = []
    for name in _strings(data.get("participants")) + [
        s["owner"] for s in steps if isinstance(s.get("owner"), str)
    ]:
        if name not in people:
            people.append(name)
    return SearchDocument(
        title=_clean(title, TITLE_INDEX_MAX),
        body=_clean("\n".join(p for p in body_parts if p), BODY_INDEX_MAX),
        people=_clean("\n".join(people), PEOPLE_INDEX_MAX),
    )


def node_title(*, content: str, metadata: dict[str, Any] | None) -> str:
    """What lists call a node: its title, else the first line of its text."""
    document = document_for(content=content, metadata=metadata)
    title = document.title.strip() or next(
        (ln.strip() for ln in document.body.splitlines() if ln.strip()), ""
    )
    if len(title) > TITLE_DISPLAY_MAX:
        title = title[: TITLE_DISPLAY_MAX - 1].rstrip() + "…"
    return title
