from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "plans"
    verbose_name = "Live plans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aep.metrics import register_database_collector
        from live import channels
        from plans.events import ORG_CHANNEL, PLAN_CHANNEL
        from plans.metrics import ActivePlansCollector

        channels.register(PLAN_CHANNEL)
        channels.register(ORG_CHANNEL)
        register_database_collector(ActivePlansCollector())
