"""Fixtures of tests/live: the Pushpin topology of tests/plans/test_pushpin.py (one per session)."""

from tests.plans.test_pushpin import _topology, pushpin  # noqa: F401  (fixtures)
