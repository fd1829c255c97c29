from django.apps import AppConfig


class MemoryGraphConfig(AppConfig):
    name = "memory_graph"
    verbose_name = "Memory graph"
    default_auto_field = "django.db.models.BigAutoField"
