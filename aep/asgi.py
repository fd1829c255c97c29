"""ASGI entry point, served by daphne (`make run`) or any ASGI server."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aep.settings")

application = get_asgi_application()
