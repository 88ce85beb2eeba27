"""The one reader of the ``CFPURGE`` settings dict.

Every setting is read at the moment it is used (never at import time), so
``override_settings(CFPURGE=...)`` works in tests and the user's dict is never
mutated. The typed readers (:func:`get_bool`, :func:`get_float`…) **never raise** for
a wrong value: they log it once and use the documented default, so that a save or an
upload never fails because of a purge setting. The system check reports every wrong
value (:func:`problems`), naming the key and what it must be.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

SETTING_NAME = "CFPURGE"

#: Default value of every key of ``settings.CFPURGE``. The settings reference in
#: ``docs/settings.rst`` documents each of them.
DEFAULTS: dict[str, Any] = {
    # Master switch. False: changes are still recorded but never sent.
    "ENABLED": True,
    # Backend names → dotted paths of their classes (merged over the built-in ones).
    "BACKENDS": {},
    # Cloudflare API base URL. A setting only: never editable in the admin.
    "API_URL": "https://api.cloudflare.com/client/v4",
    # bunny.net API base URL.
    "BUNNY_API_URL": "https://api.bunny.net",
    # Seconds to wait for each read and for the connection; and for one whole request.
    "TIMEOUT": 30.0,
    "CONNECT_TIMEOUT": 5.0,
    "DEADLINE": 60.0,
    # One zone given in settings (usually filled from the environment).
    "BACKEND": "cloudflare",
    "ZONE_NAME": "default",
    "ZONE_ID": "",
    "API_TOKEN": "",
    "EMAIL": "",
    "API_KEY": "",
    "ACCOUNT_ID": "",
    "HOSTNAMES": None,
    "PLAN": "",
    # More zones given in settings: a list of dicts with the keys above
    # (NAME, BACKEND, ZONE_ID, API_TOKEN, EMAIL, API_KEY, ACCOUNT_ID, HOSTNAMES, PLAN).
    "ZONES": [],
    # Public origins ("https://www.example.com") that serve relative MEDIA_URLs.
    "BASE_URLS": [],
    # Registrations by dotted model label: {"app.Model": {"fields": [...], ...}}.
    "MODELS": {},
    # Items per purge API call. None: what the CDN documents for the zone's plan
    # (Cloudflare: 100, Enterprise URLs 500); a zone that refuses a call as too large
    # remembers the size that worked.
    "MAX_ITEMS_PER_REQUEST": None,
    # Seconds a dispatch waits so that a burst of transactions makes one drain.
    "COALESCE_SECONDS": 1.0,
    # Attempts before a transiently failing purge is marked failed (rate limits do not
    # count). A failed row of a zone is retried by itself once the zone purges again.
    "MAX_ATTEMPTS": 16,
    # Exponential backoff between attempts: base, and the cap (seconds).
    "RETRY_BASE_SECONDS": 5.0,
    "RETRY_MAX_SECONDS": 3600.0,
    # Finished rows older than this are pruned by the periodic sweep; so are rows that
    # waited this long for a zone to be configured.
    "RETENTION_DAYS": 14,
    # Rows claimed by one drain pass, and how long a claim is held before another
    # worker may take the rows over (a crashed worker's rows).
    "CLAIM_BATCH_SIZE": 500,
    "CLAIM_LEASE_SECONDS": 300,
    # Seconds one drain task works before it hands over to a fresh task.
    "DRAIN_MAX_SECONDS": 240.0,
    # Test connection purges one harmless URL to prove the purge permission.
    "PROBE_PURGE": True,
    # Test connection also checks at the edge that a purge of a recently purged URL
    # drops the CDN's copy (requests the URL through the CDN, purges it, requests again).
    "VERIFY_AT_EDGE": False,
    "PROBE_PATH": "/__cfpurge_probe",
    # Django cache alias shared by the workers: rate limiter, dispatch marker, heartbeat.
    "RATE_LIMIT_CACHE": "default",
    # Fraction of the plan's purge rate the workers use together in the long run.
    "RATE_LIMIT_SAFETY": 0.95,
    # Celery queue for the purge tasks (None: Celery's default queue).
    "TASK_QUEUE": None,
    # Seconds a process stops publishing drain tasks after the broker could not be
    # reached (the rows wait for the sweep), so an outage does not slow every save.
    "BROKER_BACKOFF_SECONDS": 30.0,
    # Fernet keys (newest first) that encrypt stored secrets; empty: derived from
    # SECRET_KEY and SECRET_KEY_FALLBACKS.
    "ENCRYPTION_KEYS": [],
    # Automatic cache tags on pages, purged with each change. None: on when
    # django_cfpurge.middleware.CacheTagsMiddleware is in MIDDLEWARE.
    "PAGE_TAGS": None,
    # Start of every tag django-cfpurge writes on pages (to tell them from the site's own).
    "TAG_PREFIX": "cfpurge-",
    # More URLs than this under one directory (or host) in one drain are purged as one
    # prefix (or host) purge instead. None: never.
    "ESCALATE_URLS_OVER": None,
}

_UNSET = object()
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_warned: set[tuple[str, str]] = set()


def user_settings() -> dict[str, Any]:
    """The user's ``CFPURGE`` dict (empty if unset or not a dict: the check says so)."""
    value = getattr(settings, SETTING_NAME, None)
    return value if isinstance(value, dict) else {}


def get_setting(name: str, default: Any = _UNSET) -> Any:
    """``settings.CFPURGE[name]`` as given, else ``default``, else the documented default.

    :raises KeyError: ``name`` is not a known key and no ``default`` was given (a typo
        in the caller, not in the user's settings).
    """
    user = user_settings()
    if name in user:
        return user[name]
    if default is not _UNSET:
        return default
    return DEFAULTS[name]


def key(name: str) -> str:
    """``CFPURGE['NAME']``, for messages."""
    return f"{SETTING_NAME}[{name!r}]"


# -- typed values: parse, or say what is wrong -------------------------------------
def parse_bool(value: Any) -> bool:
    """``True``/``False``, or a string such as ``"yes"``/``"0"`` (environment values).

    :raises ValueError: anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be True or False")


def parse_number(value: Any, *, minimum: float = 0.0, whole: bool = False) -> float:
    """A finite number at least ``minimum`` (strings of digits accepted).

    :raises ValueError: with what the value must be.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a whole number" if whole else "must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    if whole and number != int(number):
        raise ValueError("must be a whole number")
    if number < minimum:
        raise ValueError(f"must be at least {minimum:g}")
    return number


def _reader(name: str, parse: Callable[[Any], Any]) -> Any:
    value = get_setting(name)
    try:
        return parse(value)
    except ValueError as err:
        if (name, repr(value)) not in _warned:
            _warned.add((name, repr(value)))
            logger.warning(
                "django-cfpurge: %s %s (it is %r); using the default, %r.",
                key(name),
                err,
                value,
                DEFAULTS[name],
            )
        return parse(DEFAULTS[name])


def get_bool(name: str) -> bool:
    """A boolean setting (the default if the value is not one)."""
    return bool(_reader(name, parse_bool))


def get_float(name: str, *, minimum: float = 0.0) -> float:
    """A numeric setting (the default if the value is not a number ≥ ``minimum``)."""
    return float(_reader(name, lambda v: parse_number(v, minimum=minimum)))


def get_int(name: str, *, minimum: int = 0) -> int:
    """A whole-number setting (the default if the value is not one ≥ ``minimum``)."""
    return int(_reader(name, lambda v: parse_number(v, minimum=minimum, whole=True)))


def get_str(name: str) -> str:
    """A string setting, trimmed (``None`` → ``""``).

    A key that names something else in the settings (``RATE_LIMIT_CACHE``: a cache of
    ``CACHES``) gives its default when it names nothing, as the typed readers do: the
    dispatch after every save reads it.
    """
    check = _NAMES.get(name)
    if check is not None:
        return str(_reader(name, check))
    value = get_setting(name)
    return _text(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _cache_alias(value: Any) -> str:
    alias = _text(value)
    if alias and alias not in settings.CACHES:
        raise ValueError("must name a cache of CACHES")
    return alias


#: String settings that name an entry of another setting, with their check (reported
#: by their own system checks, so not in :data:`TYPED`).
_NAMES: dict[str, Callable[[Any], str]] = {"RATE_LIMIT_CACHE": _cache_alias}


def get_max_items() -> int | None:
    """``MAX_ITEMS_PER_REQUEST``: None (the CDN's documented limit), or 30, 100 or 500."""
    return _reader("MAX_ITEMS_PER_REQUEST", _parse_max_items)


def _parse_max_items(value: Any) -> int | None:
    if value in (None, ""):
        return None
    number = int(parse_number(value, minimum=1, whole=True))
    if number not in (30, 100, 500):
        raise ValueError("must be None, 30, 100 or 500")
    return number


def get_optional_bool(name: str) -> bool | None:
    """A setting that is ``True``, ``False`` or ``None`` ("decide for me")."""
    return _reader(name, _parse_optional_bool)


def _parse_optional_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    return parse_bool(value)


def get_escalation_threshold() -> int | None:
    """``ESCALATE_URLS_OVER``: None (never escalate), or a whole number of URLs ≥ 2."""
    return _reader("ESCALATE_URLS_OVER", _parse_threshold)


def _parse_threshold(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(parse_number(value, minimum=2, whole=True))


#: Characters a tag prefix may hold: those of a tag on every CDN, less the separators.
_TAG_PREFIX_RE = re.compile(r"[A-Za-z0-9._:-]{0,32}")


def _parse_tag_prefix(value: Any) -> str:
    text = _text(value)
    if not _TAG_PREFIX_RE.fullmatch(text):
        raise ValueError("must be at most 32 letters, digits, '.', '_', ':' or '-'")
    return text


def get_tag_prefix() -> str:
    """``TAG_PREFIX``: the start of every page tag (``"cfpurge-"``)."""
    return str(_reader("TAG_PREFIX", _parse_tag_prefix))


#: Settings that a save or a worker reads, with how each must parse (checked by
#: ``cfpurge.E010``).
TYPED: dict[str, Callable[[Any], Any]] = {
    "ENABLED": parse_bool,
    "PROBE_PURGE": parse_bool,
    "VERIFY_AT_EDGE": parse_bool,
    "TIMEOUT": lambda v: parse_number(v, minimum=0.001),
    "CONNECT_TIMEOUT": lambda v: parse_number(v, minimum=0.001),
    "DEADLINE": lambda v: parse_number(v, minimum=0.001),
    "COALESCE_SECONDS": lambda v: parse_number(v),
    "MAX_ATTEMPTS": lambda v: parse_number(v, minimum=1, whole=True),
    "RETRY_BASE_SECONDS": lambda v: parse_number(v),
    "RETRY_MAX_SECONDS": lambda v: parse_number(v),
    "RETENTION_DAYS": lambda v: parse_number(v, whole=True),
    "CLAIM_BATCH_SIZE": lambda v: parse_number(v, minimum=1, whole=True),
    "CLAIM_LEASE_SECONDS": lambda v: parse_number(v, minimum=1),
    "DRAIN_MAX_SECONDS": lambda v: parse_number(v, minimum=1),
    "BROKER_BACKOFF_SECONDS": lambda v: parse_number(v),
    "RATE_LIMIT_SAFETY": lambda v: _fraction(parse_number(v, minimum=0.01)),
    "MAX_ITEMS_PER_REQUEST": _parse_max_items,
    "PAGE_TAGS": _parse_optional_bool,
    "TAG_PREFIX": _parse_tag_prefix,
    "ESCALATE_URLS_OVER": _parse_threshold,
}


def _fraction(number: float) -> float:
    if number > 1:
        raise ValueError("must be between 0.01 and 1")
    return number


def problems() -> list[tuple[str, str]]:
    """``(key, what is wrong)`` for every typed setting with a wrong value."""
    found = []
    user = user_settings()
    for name, parse in TYPED.items():
        if name not in user:
            continue
        try:
            parse(user[name])
        except ValueError as err:
            found.append((name, f"{key(name)} {err}, not {user[name]!r}."))
    return found


def unknown_keys() -> list[str]:
    """Keys in the user's ``CFPURGE`` dict that this version does not know (for a check)."""
    return sorted(set(user_settings()) - set(DEFAULTS))
