"""Django settings for the real processes of the slow tests (Celery workers, scenarios).

Everything that differs between runs comes from the environment, set by the fixtures in
``tests/procs.py``:

``CFPURGE_IT_DATABASE_URL``
    A django-environ database URL. Default: an SQLite file in ``CFPURGE_IT_TMPDIR``.
``CFPURGE_IT_BROKER_URL``
    The Celery broker, e.g. ``redis://127.0.0.1:PORT/0``. Default: ``memory://``.
``CFPURGE_IT_CACHE_URL``
    A django-environ cache URL; ``redis://…`` selects Django's ``RedisCache``, which the
    rate limiter shares between workers. Default: ``locmemcache://``.
``CFPURGE_IT_API_URL``
    The fake Cloudflare API's base URL. Default: a closed local port, so that a forgotten
    variable can never reach the real API.
``CFPURGE_IT_MEDIA_ROOT``
    Default: ``media`` in ``CFPURGE_IT_TMPDIR``.
``CFPURGE_IT_COALESCE``
    ``CFPURGE["COALESCE_SECONDS"]``. Default: 0.2.
``CFPURGE_IT_TMPDIR``
    Where the defaults above live. Default: the system's temporary directory.
``CFPURGE_IT_SETTINGS``
    A JSON object of further settings, applied last; its ``"CFPURGE"`` entry is merged into
    ``CFPURGE`` instead of replacing it (credentials, limits, ``MODELS``…).
``CFPURGE_IT_LOG_LEVEL``
    Level of the ``django_cfpurge`` loggers. Default: ``INFO``.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import environ

env = environ.Env()

_TMPDIR = env.str("CFPURGE_IT_TMPDIR", default=tempfile.gettempdir())

SECRET_KEY = "integration-tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_cfpurge",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": env.db_url(
        "CFPURGE_IT_DATABASE_URL",
        default=f"sqlite:///{os.path.join(_TMPDIR, 'cfpurge-it.sqlite3')}",
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and scenario processes write to the same file: wait for locks, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 30)

CACHES = {"default": env.cache_url("CFPURGE_IT_CACHE_URL", default="locmemcache://")}

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = env.str("CFPURGE_IT_MEDIA_ROOT", default=os.path.join(_TMPDIR, "media"))

CELERY_BROKER_URL = env.str("CFPURGE_IT_BROKER_URL", default="memory://")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_RESULT_BACKEND = None
# Celery 6's default, chosen now: on a lost broker connection, late-acknowledged tasks that
# are still running are cancelled and redelivered rather than left unacknowledgeable.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

CFPURGE: dict[str, Any] = {
    "API_URL": env.str("CFPURGE_IT_API_URL", default="http://127.0.0.1:9/client/v4"),
    "BASE_URLS": ["https://www.example.com"],
    "COALESCE_SECONDS": env.float("CFPURGE_IT_COALESCE", default=0.2),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # A Celery worker replaces the root handlers with its own; the levels stay.
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django_cfpurge": {"level": env.str("CFPURGE_IT_LOG_LEVEL", default="INFO")},
    },
}

for _name, _value in json.loads(env.str("CFPURGE_IT_SETTINGS", default="{}")).items():
    if _name == "CFPURGE":
        CFPURGE.update(_value)
    else:
        globals()[_name] = _value
