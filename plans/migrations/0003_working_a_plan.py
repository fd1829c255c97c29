"""Steps gain an order people set (`position`), done state, versions and soft delete; plans a version.

Existing steps keep their order: each plan's steps get evenly spaced keys in `seq` order, and
`updated_at` starts as the step's `ts`.
"""

import django.utils.timezone
from django.db import migrations, models

import plans.models


def fill_positions(apps, schema_editor):
    from fractional_indexing import generate_n_keys_between

    PlanStep = apps.get_model("plans", "PlanStep")
    plan_ids = PlanStep.objects.values_list("plan_id", flat=True).distinct()
    for plan_id in plan_ids.iterator():
        steps = list(PlanStep.objects.filter(plan_id=plan_id).order_by("seq").only("id", "ts"))
        keys = generate_n_keys_between(None, None, len(steps))
        for step, key in zip(steps, keys, strict=True):
            step.position = key
            step.updated_at = step.ts
        PlanStep.objects.bulk_update(steps, ["position", "updated_at"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0002_list_order_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="liveplan",
            name="version",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="planstep",
            name="position",
            field=plans.models.OrderKeyField(default="", max_length=255),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="planstep",
            name="done",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="planstep",
            name="done_by",
            field=models.CharField(blank=True, max_length=100, null=True),
        ),
        migrations.AddField(
            model_name="planstep",
            name="done_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="planstep",
            name="version",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="planstep",
            name="updated_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="planstep",
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_positions, migrations.RunPython.noop, elidable=True),
        migrations.AlterModelOptions(
            name="planstep",
            options={"ordering": ["plan", "position", "seq"]},
        ),
        migrations.AddIndex(
            model_name="planstep",
            index=models.Index(fields=["plan", "position"], name="planstep_plan_position"),
        ),
    ]
