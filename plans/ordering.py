"""Order keys for steps: strings that sort in the order people arranged the steps.

A key between two neighbours always exists (`key_between`), so a move or an insertion writes one
row whatever the plan's size. Keys grow by about a character per five moves into the same gap;
`needs_rebalance` says when a plan's keys should be rewritten evenly (`spread`), which the service
does under the plan's lock, in the same transaction, without changing the order.
"""

from __future__ import annotations

from fractional_indexing import generate_key_between, generate_n_keys_between

from plans.models import POSITION_MAX

# Well below the column's length: a rebalance happens long before a key could not be stored.
REBALANCE_LENGTH = 48
assert REBALANCE_LENGTH * 2 < POSITION_MAX


def key_between(before: str | None, after: str | None) -> str:
    """A key that sorts after `before` and before `after` (None: no bound on that side)."""
    return generate_key_between(before, after)


def spread(count: int) -> list[str]:
    """`count` short, evenly spaced keys in ascending order."""
    return generate_n_keys_between(None, None, count)


def needs_rebalance(key: str) -> bool:
    return len(key) > REBALANCE_LENGTH
