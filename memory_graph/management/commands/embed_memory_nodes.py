"""`python manage.py embed_memory_nodes [--org ORG]`: embed every memory node that has no embedding
yet (nodes from before embeddings existed, or whose after-commit embedding failed). Safe to run again
and beside a running server: a node embedded meanwhile is skipped."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from memory_graph import services
from memory_graph.models import MemoryNode


class Command(BaseCommand):
    help = "Embed the memory nodes that have no embedding yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", action="append", default=[], help="Only this org (repeatable).")
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args: Any, **options: Any) -> None:
        nodes = (
            MemoryNode.objects.filter(embedding__isnull=True)
            .defer("search_vector")
            .order_by("created_at", "id")
        )
        if options["org"]:
            nodes = nodes.filter(org_id__in=options["org"])
        started = time.perf_counter()
        written = services.embed_nodes(nodes.iterator(chunk_size=1000), batch_size=options["batch_size"])
        self.stdout.write(f"Embedded {written} memory node(s) in {time.perf_counter() - started:.1f} s.")
