"""Settings for django-cfpurge's own test suite."""

import os
import tempfile

SECRET_KEY = "tests-only-not-secret"
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

# Unit tests run on in-memory SQLite; CFPURGE_TEST_DATABASE_URL=postgres://… runs them on
# another database. The integration tests (tests/integration/) always start their own
# throwaway PostgreSQL cluster.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
if os.environ.get("CFPURGE_TEST_DATABASE_URL"):
    import environ

    DATABASES = {"default": environ.Env.db_url_config(os.environ["CFPURGE_TEST_DATABASE_URL"])}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("CFPURGE_TEST_MEDIA_ROOT") or tempfile.mkdtemp(prefix="cfpurge-media-")

CELERY_BROKER_URL = os.environ.get("CFPURGE_TEST_BROKER_URL", "memory://")
CELERY_TASK_ALWAYS_EAGER = False

CFPURGE = {
    "BASE_URLS": ["https://www.example.com"],
}

LOGGING_CONFIG = None
