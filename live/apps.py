from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live events (streams, storage, delivery)"
    default_auto_field = "django.db.models.BigAutoField"
