"""The demo image host's Django project."""

from __future__ import annotations

# Load the Celery app with Django, so that ``shared_task``s (django-cfpurge's drain)
# send their messages through this project's broker.
from .celery import app as celery_app

__all__ = ["celery_app"]
