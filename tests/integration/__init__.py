"""Settings and Celery app for the real processes started by the slow tests.

As in any Django project that uses Celery, importing the package loads the Celery app, so
that shared tasks sent from a process using these settings go to its broker.
"""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
