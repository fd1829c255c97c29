"""DRF's tokens (stored in plain text in `authtoken_token`) become hashed ApiTokens that keep working:
the same key, now looked up by its SHA-256. The plain-text rows are then deleted. The table itself is
left alone (rest_framework.authtoken is no longer installed; its migrations may still be recorded)."""

import datetime
import hashlib

from django.db import migrations
from django.utils import timezone

LEGACY_TABLE = "authtoken_token"
LEGACY_LIFE = datetime.timedelta(days=90)  # a migrated token gets a new token's default life


def hash_legacy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("aep", "ApiToken")
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {q('key')}, {q('user_id')}, {q('created')} FROM {q(LEGACY_TABLE)}")  # noqa: S608
        rows = cursor.fetchall()
    expires = timezone.now() + LEGACY_LIFE
    for key, user_id, created in rows:
        token = ApiToken.objects.create(
            user_id=user_id,
            name="API token (from before named tokens)",
            prefix=key[:8],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            expires_at=expires,
        )
        ApiToken.objects.filter(pk=token.pk).update(created_at=created)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {q(LEGACY_TABLE)}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("aep", "0004_tokens_invitations")]

    operations = [migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop)]
