from django.apps import AppConfig


class AepConfig(AppConfig):
    name = "aep"
    verbose_name = "Platform (orgs, audit)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aep import metrics  # noqa: F401  (registers the collectors)
