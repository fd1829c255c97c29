"""Relevance of memory search on a set written for this product (tests/memory_graph/relevance_set.py):
hit rate at 1 and at 3 for each mode, printed (`pytest tests/memory_graph/test_relevance.py -s`) and
reported in docs/PERFORMANCE.md. Hybrid must do at least as well as the better of the other two."""

from __future__ import annotations

from typing import Any

import pytest

from memory_graph import selectors
from tests.memory_graph.relevance_set import PLANS, QUERIES

MODES = ("lexical", "semantic", "hybrid")


def hit_rates(org: Any) -> dict[str, tuple[float, float]]:
    """{mode: (hit rate at 1, hit rate at 3)} over QUERIES."""
    rates = {}
    for mode in MODES:
        at1 = at3 = 0
        for query, expected in QUERIES:
            found = [
                n.title
                for n in selectors.search(query=query, org=org, kind="plan_session", limit=3, mode=mode)
            ]
            at1 += found[:1] == [expected]
            at3 += expected in found
        rates[mode] = (at1 / len(QUERIES), at3 / len(QUERIES))
    return rates


@pytest.fixture
def relevance_org(org_a, org_b, archive):  # type: ignore[no-untyped-def]
    for title, description, steps in PLANS:
        archive(org_a, title, steps, participants=["alice"], description=description)
    # The same plans in another org must change nothing of org A's figures.
    for title, description, steps in PLANS[:5]:
        archive(org_b, title, steps, description=description)
    return org_a


@pytest.mark.django_db
def test_hybrid_is_at_least_as_good_as_either_mode(relevance_org, record_property, capsys):
    rates = hit_rates(relevance_org)
    with capsys.disabled():
        print(f"\nrelevance set: {len(PLANS)} plans, {len(QUERIES)} queries")
        for mode, (at1, at3) in rates.items():
            print(f"  {mode:<9} hit@1 {at1:.2f}  hit@3 {at3:.2f}")
    record_property("relevance", rates)
    for k in (0, 1):
        assert rates["hybrid"][k] >= max(rates["lexical"][k], rates["semantic"][k]), rates


@pytest.mark.django_db
def test_meaning_finds_most_of_what_words_miss(relevance_org):
    rates = hit_rates(relevance_org)
    # Words alone miss most paraphrases (the set's second part); the fused ranking must not.
    assert rates["lexical"][1] <= 0.7
    assert rates["hybrid"][0] >= 0.85 and rates["hybrid"][1] >= 0.9
