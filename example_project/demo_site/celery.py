"""The Celery app: ``celery -A demo_site worker`` and ``celery -A demo_site beat``.

Settings prefixed ``CELERY_`` configure it (broker, beat schedule); see ``settings.py``.
"""

from __future__ import annotations

import os

from celery import Celery

# Set before the app exists, so that Celery's Django fix-up sets Django up in workers.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

app = Celery("demo_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
