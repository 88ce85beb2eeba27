"""The Celery app of the integration tests' worker processes.

Start a worker with ``python -m celery -A tests.integration.celery_app worker``; the
``celery_worker_factory`` fixture in ``tests/procs.py`` does it for tests.
"""

from __future__ import annotations

import os

from celery import Celery

# Before the app exists: Celery installs its Django fix-up (django.setup() when the worker
# starts, database connections closed around tasks and after forking) only when it sees this.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integration.settings")

app = Celery("cfpurge_it")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
