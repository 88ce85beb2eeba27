"""System checks (``manage.py check``). Ids are stable; a retired id is never reused.

Errors are for programming mistakes only. Anything about credentials, URLs or zones is
a Warning: the site runs (``migrate`` and ``runserver`` succeed), purges wait, and the
admin says why.

===============  ==============================================================
id               problem
===============  ==============================================================
cfpurge.E001     ``CFPURGE`` is not a dict, or has an unknown key
cfpurge.E003     ``MAX_ITEMS_PER_REQUEST`` is not None, 30, 100 or 500
cfpurge.E007     a ``MODELS`` entry names a missing model or field, or is malformed
cfpurge.E010     a setting read by saves or workers has the wrong type
cfpurge.E011     ``RATE_LIMIT_CACHE`` names no cache in ``CACHES``
cfpurge.E012     ``TASK_QUEUE`` is not a string
cfpurge.E013     ``BACKENDS`` names a class that is not a backend
cfpurge.W001     no CDN zone is configured: nothing will be purged
cfpurge.W002     Celery has no broker configured: purges wait for ``cfpurge drain``
cfpurge.W003     a zone uses a legacy key that can do anything on the account
cfpurge.W004     a zone's API token has expired, or expires within 14 days
cfpurge.W005     ``CFPURGE["ENABLED"]`` is False: changes are recorded, not sent
cfpurge.W007     ``CLAIM_LEASE_SECONDS`` is shorter than a drain pass may take
cfpurge.W008     relative ``MEDIA_URL`` and no ``BASE_URLS`` (was E002)
cfpurge.W010     ``API_URL`` or ``BUNNY_API_URL`` would send credentials in clear text (was E004)
cfpurge.W011     a model is registered in code and in ``MODELS``
cfpurge.W012     a zone in settings is incomplete or malformed (was E005)
cfpurge.W013     a zone names an unknown backend
cfpurge.W014     a ``BASE_URLS`` entry is not an origin (was E006)
cfpurge.W015     SQLite without ``"transaction_mode": "IMMEDIATE"``
cfpurge.W016     two zones share a zone id, or claim the same hostname
===============  ==============================================================

Retired: E002, E004, E005, E006 (now W008, W010, W012, W014), W006 (Celery is a
dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from celery import current_app as current_celery_app
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connections
from django.utils import timezone

from .backends import get_backend_class
from .backends.http import check_api_url
from .conf import DEFAULTS, SETTING_NAME, get_setting, key, problems, unknown_keys
from .exceptions import BackendError, CfPurgeConfigurationError, InvalidCredentials
from .models import Zone
from .registry import registry
from .sender import MAX_RATE_LIMIT_WAIT
from .status import zone_overlaps
from .targets import bad_base_urls, base_urls
from .zones import settings_values, settings_zones, zone_values

EXPIRY_WARNING_DAYS = 14
#: Shortest claim lease that outlasts a pass's longest wait for the rate limiter.
MIN_LEASE_SECONDS = 120

Message = checks.CheckMessage


def _msg(
    text: str, hint: str, id: str, level: Callable[..., Message] = checks.Warning, obj: Any = None
) -> Message:
    return level(text, hint=hint, obj=obj if obj is not None else SETTING_NAME, id=id)


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Message]:
    """The shape of the ``CFPURGE`` dict and the types of its values."""
    value = getattr(settings, SETTING_NAME, None)
    if value is not None and not isinstance(value, dict):
        return [
            _msg(
                f"settings.{SETTING_NAME} must be a dict, not {type(value).__name__}.",
                "Set CFPURGE = {...} (a dict).",
                "cfpurge.E001",
                checks.Error,
            )
        ]
    found: list[Message] = []
    unknown = unknown_keys()
    if unknown:
        found.append(
            _msg(
                f"Unknown {SETTING_NAME} keys: {', '.join(unknown)}.",
                "Check the spelling against the settings reference.",
                "cfpurge.E001",
                checks.Error,
            )
        )
    for name, problem in problems():
        found.append(
            _msg(
                problem,
                "Until fixed, the default is used: see the settings reference.",
                "cfpurge.E003" if name == "MAX_ITEMS_PER_REQUEST" else "cfpurge.E010",
                checks.Error,
            )
        )
    found += _cache_and_queue()
    found += _backends()
    found += _lease_and_switch()
    return found


def _cache_and_queue() -> list[Message]:
    found = []
    alias = get_setting("RATE_LIMIT_CACHE")
    if not isinstance(alias, str) or alias not in settings.CACHES:
        found.append(
            _msg(
                f"{key('RATE_LIMIT_CACHE')} is {alias!r}, which is not a cache in CACHES.",
                "Name one of the CACHES aliases (a Redis cache shared by every worker).",
                "cfpurge.E011",
                checks.Error,
            )
        )
    queue = get_setting("TASK_QUEUE")
    if queue is not None and not isinstance(queue, str):
        found.append(
            _msg(
                f"{key('TASK_QUEUE')} must be a queue name (a string) or None, not {queue!r}.",
                "Use the name of a queue your Celery workers consume.",
                "cfpurge.E012",
                checks.Error,
            )
        )
    return found


def _backends() -> list[Message]:
    configured = get_setting("BACKENDS") or {}
    if not isinstance(configured, dict):
        return [
            _msg(
                f"{key('BACKENDS')} must be a dict of names to dotted paths.",
                "See the backends documentation.",
                "cfpurge.E013",
                checks.Error,
            )
        ]
    found = []
    for name in configured:
        try:
            get_backend_class(str(name))
        except CfPurgeConfigurationError as err:
            found.append(
                _msg(
                    f"{key('BACKENDS')}: {err}",
                    "Fix the dotted path.",
                    "cfpurge.E013",
                    checks.Error,
                )
            )
    return found


def _lease_and_switch() -> list[Message]:
    found = []
    lease = get_setting("CLAIM_LEASE_SECONDS")
    if isinstance(lease, int | float) and not isinstance(lease, bool) and lease < MIN_LEASE_SECONDS:
        found.append(
            _msg(
                f"{key('CLAIM_LEASE_SECONDS')} is {lease}: a drain pass can wait up to "
                f"{MAX_RATE_LIMIT_WAIT:.0f} s for the rate limiter alone, so another worker "
                "could take over rows still being sent and purge them twice.",
                f"Use at least {MIN_LEASE_SECONDS} seconds (the default is 300).",
                "cfpurge.W007",
            )
        )
    enabled = get_setting("ENABLED")
    if enabled is False or (
        isinstance(enabled, str) and enabled.strip().lower() in ("0", "false", "no", "off")
    ):
        found.append(
            _msg(
                f"{key('ENABLED')} is False: changes are recorded but not sent.",
                "Set it to True to purge.",
                "cfpurge.W005",
            )
        )
    return found


@checks.register()
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[Message]:
    """Public origins and the API URL: Warnings (purges wait, the site runs)."""
    found = []
    for origin in bad_base_urls():
        found.append(
            _msg(
                f"{key('BASE_URLS')} entries must look like “https://www.example.com”, "
                f"not {origin}.",
                "Give origins such as https://www.example.com; until then that entry is left out.",
                "cfpurge.W014",
            )
        )
    media_url = str(getattr(settings, "MEDIA_URL", "") or "")
    if len(registry) and not base_urls() and not urlsplit(media_url).netloc:
        found.append(
            _msg(
                f"MEDIA_URL ({media_url!r}) is relative and {key('BASE_URLS')} is empty: file "
                "URLs cannot be made absolute, so changes are recorded but nothing can be "
                "purged.",
                f"Set {key('BASE_URLS')} = ['https://www.example.com'] (every public origin, "
                "http and https if both are cached).",
                "cfpurge.W008",
            )
        )
    for name in API_URL_SETTINGS:
        try:
            check_api_url(str(get_setting(name)), setting=key(name))
        except BackendError as err:
            found.append(
                _msg(
                    str(err),
                    f"Use {DEFAULTS[name]} (the default); until fixed, nothing is sent to "
                    "this CDN and purges wait.",
                    "cfpurge.W010",
                )
            )
    return found


#: Settings that name a CDN's API, where credentials are sent.
API_URL_SETTINGS = ("API_URL", "BUNNY_API_URL")


@checks.register()
def check_models(app_configs: Any = None, **kwargs: Any) -> list[Message]:
    """``CFPURGE["MODELS"]`` entries."""
    found = [
        _msg(
            message,
            "Use “app_label.ModelName” and the names of its fields; see the registering "
            "guide. Until fixed, changes to this model are not purged.",
            "cfpurge.E007",
            checks.Error,
        )
        for message in registry.settings_errors
    ]
    found += [
        _msg(
            f"{label} is registered in code and in {key('MODELS')}; the registration in code "
            "is used and the MODELS entry is ignored.",
            "Keep one of the two.",
            "cfpurge.W011",
        )
        for label in registry.settings_duplicates
    ]
    return found


@checks.register()
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[Message]:
    """A broker is configured."""
    broker = getattr(settings, "CELERY_BROKER_URL", None) or getattr(settings, "BROKER_URL", None)
    if not broker:
        try:
            broker = current_celery_app.conf.broker_url
        except Exception:  # noqa: BLE001  (a misconfigured Celery app must not break checks)
            broker = None
    if broker:
        return []
    return [
        _msg(
            "No Celery broker is configured (CELERY_BROKER_URL): purges wait until "
            "`manage.py cfpurge drain` runs.",
            "Set CELERY_BROKER_URL (e.g. redis://localhost:6379/0) and run a Celery worker.",
            "cfpurge.W002",
        )
    ]


@checks.register(checks.Tags.database)
def check_sqlite(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Message]:
    """SQLite shared by a web process and a worker needs its write lock taken up front."""
    found = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "sqlite":
            continue
        options = connection.settings_dict.get("OPTIONS") or {}
        if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
            found.append(
                _msg(
                    f"The database {alias!r} is SQLite without “transaction_mode”: "
                    "“IMMEDIATE”: a web process and a worker writing at once can fail with "
                    "“database is locked”.",
                    f"Add 'OPTIONS': {{'transaction_mode': 'IMMEDIATE'}} to DATABASES[{alias!r}] "
                    "(or use PostgreSQL).",
                    "cfpurge.W015",
                )
            )
    return found


@checks.register()
def check_zones(app_configs: Any = None, **kwargs: Any) -> list[Message]:
    """Zones in settings and in the database: Warnings only."""
    found: list[Message] = []
    try:
        entries = settings_zones()
    except CfPurgeConfigurationError as err:
        found.append(_msg(str(err), "See the settings reference for ZONES.", "cfpurge.W012"))
        entries = []
    for entry in entries:
        found += _settings_zone(entry)
    try:
        zones = list(Zone.objects.filter(enabled=True))
    except DatabaseError:  # not migrated yet, or no database: nothing more to report
        return found
    if not zones and not entries:
        found.append(
            _msg(
                "No CDN zone is configured: changes are recorded but nothing is purged.",
                "Add a zone in the admin (CDN zones) or set CFPURGE_ZONE_ID and its "
                "credentials in the environment.",
                "cfpurge.W001",
            )
        )
    for zone in zones:
        found += _zone(zone)
    found += _overlaps(zones)
    return found


def _settings_zone(entry: dict[str, Any]) -> list[Message]:
    name = entry["NAME"]
    try:
        cls = get_backend_class(str(entry.get("BACKEND") or ""))
    except CfPurgeConfigurationError as err:
        return [_msg(f"Zone “{name}” in settings: {err}", "Fix BACKEND.", "cfpurge.W013")]
    try:
        cls.clean_credentials(settings_values(entry))
    except InvalidCredentials as err:
        return [
            _msg(
                f"Zone “{name}” in settings: {err}",
                "Fix the value in the environment (CFPURGE_* variables) or settings; until "
                "then this zone's purges wait.",
                "cfpurge.W012",
            )
        ]
    return []


def _zone(zone: Zone) -> list[Message]:
    found = []
    try:
        cls = get_backend_class(zone.backend)
    except CfPurgeConfigurationError as err:
        return [
            _msg(f"Zone “{zone.name}”: {err}", "Choose a known backend.", "cfpurge.W013", obj=zone)
        ]
    warning = cls.credential_warning(zone_values(zone))
    if warning:
        found.append(
            _msg(
                f"Zone “{zone.name}”: {warning}",
                "Create a scoped API token with only the purge permission and use it.",
                "cfpurge.W003",
                obj=zone,
            )
        )
    soon = timezone.now() + timedelta(days=EXPIRY_WARNING_DAYS)
    # The expiry is what the last Test connection read: of a token replaced since, it
    # says nothing.
    replaced = bool(
        zone.credentials_changed_at
        and (zone.last_test_at is None or zone.credentials_changed_at > zone.last_test_at)
    )
    if zone.token_expires_on and zone.token_expires_on <= soon and not replaced:
        state = "has expired" if zone.token_expires_on <= timezone.now() else "expires soon"
        found.append(
            _msg(
                f"The API token of zone “{zone.name}” {state} ({zone.token_expires_on:%Y-%m-%d}).",
                "Roll or replace the token in the CDN's dashboard, then run Test connection.",
                "cfpurge.W004",
                obj=zone,
            )
        )
    return found


def _overlaps(zones: list[Zone]) -> list[Message]:
    """W016, from :func:`~django_cfpurge.status.zone_overlaps` (the zone pages warn of
    the same overlaps)."""
    found = []
    for overlap in zone_overlaps(zones):
        names = ", ".join(overlap.names)
        if overlap.what == "zone_id":
            found.append(
                _msg(
                    f"The zones {names} have the same zone id {overlap.value}.",
                    "Keep one zone per CDN zone; disable or delete the others.",
                    "cfpurge.W016",
                )
            )
        else:
            found.append(
                _msg(
                    f"The zones {names} all claim the hostname {overlap.value}; URLs on it "
                    "go to one of them only.",
                    "Give each hostname to one zone.",
                    "cfpurge.W016",
                )
            )
    return found


__all__ = [
    "check_celery",
    "check_models",
    "check_settings",
    "check_sqlite",
    "check_urls",
    "check_zones",
]
