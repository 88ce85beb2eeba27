"""The one reader of the ``CFPURGE`` settings dict.

Every setting is read at the moment it is used (never at import time), so
``override_settings(CFPURGE=...)`` works in tests and the user's dict is never
mutated. Unknown keys are reported by a system check, not here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from .exceptions import CfPurgeConfigurationError

SETTING_NAME = "CFPURGE"

#: Default value of every key of ``settings.CFPURGE``. The settings reference
#: in ``docs/settings.rst`` documents each of them.
DEFAULTS: dict[str, Any] = {
    # Master switch. False: changes are still recorded but never sent.
    "ENABLED": True,
    # Cloudflare API base URL. A setting only: never editable in the admin.
    "API_URL": "https://api.cloudflare.com/client/v4",
    # Seconds to wait for Cloudflare to answer, and to connect.
    "TIMEOUT": 30.0,
    "CONNECT_TIMEOUT": 5.0,
    # One zone given in settings (usually filled from the environment).
    "ZONE_NAME": "default",
    "ZONE_ID": "",
    "API_TOKEN": "",
    "EMAIL": "",
    "API_KEY": "",
    "ACCOUNT_ID": "",
    "HOSTNAMES": None,
    "PLAN": "",
    # More zones given in settings: a list of dicts with the keys above
    # (NAME, ZONE_ID, API_TOKEN, EMAIL, API_KEY, ACCOUNT_ID, HOSTNAMES, PLAN).
    "ZONES": [],
    # Public origins ("https://www.example.com") that serve relative MEDIA_URLs.
    "BASE_URLS": [],
    # Registrations by dotted model label: {"app.Model": {"fields": [...], ...}}.
    "MODELS": {},
    # Items per purge API call: 30 is safe on every plan; 100 current plans; 500 Enterprise.
    "MAX_ITEMS_PER_REQUEST": 30,
    # Seconds a dispatch waits so that a burst of transactions makes one drain.
    "COALESCE_SECONDS": 1.0,
    # Attempts before a transiently failing purge is marked failed (16 with the default
    # backoff ride out about seven hours of Cloudflare trouble). A failed row of a zone
    # is retried by itself as soon as a later purge of that zone succeeds.
    "MAX_ATTEMPTS": 16,
    # Exponential backoff between attempts: base, and the cap (seconds).
    "RETRY_BASE_SECONDS": 5.0,
    "RETRY_MAX_SECONDS": 3600.0,
    # Done rows older than this are pruned by the periodic sweep.
    "RETENTION_DAYS": 14,
    # Rows claimed by one drain pass, and how long a claim is held before
    # another worker may take the rows over (a crashed worker's rows).
    "CLAIM_BATCH_SIZE": 500,
    "CLAIM_LEASE_SECONDS": 300,
    # Test connection purges one harmless URL to prove the Cache Purge permission.
    "PROBE_PURGE": True,
    "PROBE_PATH": "/__cfpurge_probe",
    # Django cache alias that holds the shared rate limiter (use Redis in production).
    "RATE_LIMIT_CACHE": "default",
    # Fraction of the plan's purge rate the workers use together in the long run; the
    # rest is left for purges the limiter cannot see (dashboard, other tools).
    "RATE_LIMIT_SAFETY": 0.95,
    # Celery queue for the purge tasks (None: Celery's default queue).
    "TASK_QUEUE": None,
    # Seconds a process stops publishing drain tasks after the broker could not be
    # reached (the rows wait for the sweep), so an outage does not slow every save.
    "BROKER_BACKOFF_SECONDS": 30.0,
}

_UNSET = object()


def user_settings() -> dict[str, Any]:
    """Return the user's ``CFPURGE`` dict (empty if unset), validated to be a dict."""
    value = getattr(settings, SETTING_NAME, None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CfPurgeConfigurationError(
            gettext("settings.%(setting)s must be a dict, not %(type)s.")
            % {"setting": SETTING_NAME, "type": type(value).__name__}
        )
    return value


def get_setting(name: str, default: Any = _UNSET) -> Any:
    """Return ``settings.CFPURGE[name]``, else ``default``, else the documented default.

    :raises CfPurgeConfigurationError: ``name`` is not a known key and no
        ``default`` was given (a typo in the caller, not in the user's settings).
    """
    user = user_settings()
    if name in user:
        return user[name]
    if default is not _UNSET:
        return default
    try:
        return DEFAULTS[name]
    except KeyError:
        raise CfPurgeConfigurationError(
            f"Unknown setting {SETTING_NAME}[{name!r}]; known keys: {', '.join(sorted(DEFAULTS))}."
        ) from None


def _key(name: str) -> str:
    return f"{SETTING_NAME}[{name!r}]"


def _at_least(name: str, minimum: float) -> str:
    return gettext("%(key)s must be at least %(minimum)s.") % {
        "key": _key(name),
        "minimum": minimum,
    }


def get_float(name: str, *, minimum: float = 0.0) -> float:
    """Return a numeric setting as a float, with an error naming the key if it is not one."""
    value = get_setting(name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CfPurgeConfigurationError(
            gettext("%(key)s must be a number, not %(value)s.")
            % {"key": _key(name), "value": repr(value)}
        ) from None
    if number < minimum:
        raise CfPurgeConfigurationError(_at_least(name, minimum))
    return number


def get_int(name: str, *, minimum: int = 0, choices: tuple[int, ...] = ()) -> int:
    """Return an integer setting, with an error naming the key if it is invalid."""
    value = get_setting(name)
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise CfPurgeConfigurationError(
                gettext("%(key)s must be a whole number, not %(value)s.")
                % {"key": _key(name), "value": repr(value)}
            ) from None
    if value < minimum:
        raise CfPurgeConfigurationError(_at_least(name, minimum))
    if choices and value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise CfPurgeConfigurationError(
            gettext("%(key)s must be one of %(allowed)s.") % {"key": _key(name), "allowed": allowed}
        )
    return value


def unknown_keys() -> list[str]:
    """Keys in the user's ``CFPURGE`` dict that this version does not know (for a check)."""
    return sorted(set(user_settings()) - set(DEFAULTS))
