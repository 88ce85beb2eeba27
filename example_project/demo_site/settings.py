"""Settings of the demo image host, read from the environment with django-environ.

Every variable is documented in ``example_project/.env.example``; a ``.env`` file next
to ``manage.py`` is read when present, and real environment variables win over it.
Without ``REDIS_URL`` nothing but Python is needed: Celery passes messages through
files (kombu's filesystem transport) and the Django cache lives in files too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django
import environ

from django_cfpurge.env import cfpurge_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.is_file():
    environ.Env.read_env(str(_dotenv))

#: Local state of the demo: SQLite database, uploaded media, broker and cache folders.
DATA_DIR = Path(env.str("DEMO_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# The default is for the local demo only; set SECRET_KEY anywhere else.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-cfpurge-demo-only-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_cfpurge",
    "gallery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Tags every page with the images it showed (Cache-Tag / CDN-Tag headers).
    "django_cfpurge.middleware.CacheTagsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'demo.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write to the same file: wait for the lock,
    # and take it when a transaction starts so two writers never deadlock.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("timeout", 20)
    if django.VERSION >= (5, 1):
        _options.setdefault("transaction_mode", "IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# Media are served by gallery.views.media (never by a static handler), so that
# blocked and private images answer 404 at the origin.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))

LOGIN_URL = "/admin/login/"

# -- Redis, or nothing but files --------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
_BROKER_DIR = DATA_DIR / "broker"

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: the web server writes messages that the worker reads.
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    for _folder in ("queue", "processed", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    # The rate limiter and the "drain scheduled" marker are shared by the web server
    # and the worker, so the cache must be shared too: files will do for one worker.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    # Sends purges written while no worker was running and purges due for a retry, and
    # prunes old log rows.
    "cfpurge-sweep": {
        "task": "django_cfpurge.sweep",
        "schedule": env.float("SWEEP_SECONDS", default=60.0),
    },
}

# -- django-cfpurge ------------------------------------------------------------------------------

#: Every key of the settings reference is read from its CFPURGE_<KEY> variable when that
#: is set (CFPURGE_ZONE_ID, CFPURGE_API_TOKEN, CFPURGE_API_URL…; see .env.example); the
#: values below are the demo's defaults, used when it is not.
CFPURGE: dict[str, Any] = cfpurge_from_env(
    # The local fake Cloudflare (python -m fakecdn), never the real API by default.
    API_URL="http://127.0.0.1:8787/client/v4",
    ZONE_NAME="demo",
    HOSTNAMES=["localhost", "127.0.0.1"],
    PLAN="free",
    # The public origins: what visitors type, i.e. the edge, never the origin server.
    BASE_URLS=["http://localhost:8001"],
)
#: The fake Cloudflare, whose /__fake__/purges the edge log page reads. Derived from the
#: API URL when not set.
FAKE_CLOUDFLARE_URL = env.str(
    "FAKE_CLOUDFLARE_URL", default=str(CFPURGE["API_URL"]).removesuffix("/client/v4")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django_cfpurge": {"level": env.str("CFPURGE_LOG_LEVEL", default="INFO")},
        "gallery": {"level": "INFO"},
        # "No hostname was supplied" on every connection: filesystem:// has no host.
        **({} if REDIS_URL else {"kombu.connection": {"level": "ERROR"}}),
    },
}
