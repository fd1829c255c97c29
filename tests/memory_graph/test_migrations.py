"""Migration 0002 runs on either database, backwards too, and indexes the nodes that existed before."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from memory_graph.models import MemoryNode
from memory_graph.services import search


@pytest.mark.django_db(transaction=True)
def test_search_migration_round_trip_indexes_existing_nodes(org_a, archive):
    archive(org_a, "Authentication service", ["Design the token schema"])
    note = MemoryNode.objects.create(org=org_a, kind="note", content="rotate the signing keys")
    assert search(query="rotate", org=org_a) == []  # created without the service: not indexed yet

    call_command(
        "migrate", "memory_graph", "0001", verbosity=0
    )  # unapplies the plans migrations after it too
    call_command("migrate", verbosity=0)  # every app forward again, as the rest of the suite needs

    assert [n.title for n in search(query="token", org=org_a)] == ["Authentication service"]
    assert [n.id for n in search(query="rotate", org=org_a)] == [note.id]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'memory_graph_fts_delete'")
            assert cursor.fetchone() is not None  # the delete trigger is back after the table rebuild
