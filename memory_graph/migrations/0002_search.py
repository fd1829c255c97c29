"""Full-text search over memory nodes, on whichever database this is (see memory_graph/search.py).

PostgreSQL: the `search_vector` column and its GIN index. SQLite: the column exists but stays empty
(a tsvector column is just an untyped column to SQLite); the FTS5 table and its delete trigger do the
work. Both: nodes created before this migration are indexed here.
"""

import django.contrib.postgres.search
from django.db import migrations


def create_search(apps, schema_editor):
    from memory_graph import search

    MemoryNode = apps.get_model("memory_graph", "MemoryNode")
    table = MemoryNode._meta.db_table
    search.create_structures(schema_editor, node_table=table)
    rows = MemoryNode.objects.using(schema_editor.connection.alias).values_list(
        "id", "org_id", "kind", "content", "metadata"
    )
    for node_id, org_id, kind, content, metadata in rows.iterator(chunk_size=500):
        search.index_document(
            schema_editor.connection,
            table=table,
            node_id=node_id,
            org_id=org_id,
            kind=kind,
            content=content,
            metadata=metadata,
            replace=False,
        )


def drop_search(apps, schema_editor):
    from memory_graph import search

    search.drop_structures(schema_editor, node_table=apps.get_model("memory_graph", "MemoryNode")._meta.db_table)


class Migration(migrations.Migration):

    dependencies = [
        ("memory_graph", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="memorynode",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(create_search, drop_search),
    ]
