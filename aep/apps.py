from django.apps import AppConfig


class AepConfig(AppConfig):
    name = "aep"
    verbose_name = "Platform (orgs, audit)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from aep import metrics  # noqa: F401  (registers the collectors)
        from aep.accounts.sessions import session_logged_out

        # Django's LogoutView is the "service" here: its signal is how a logout is heard.
        user_logged_out.connect(session_logged_out, dispatch_uid="aep-session-logged-out")
