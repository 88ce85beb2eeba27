"""System checks (``manage.py check``). Ids are stable; a retired id is never reused.

===============  ==============================================================
id               problem
===============  ==============================================================
cfpurge.E001     ``CFPURGE`` is not a dict, or has an unknown key
cfpurge.E002     relative ``MEDIA_URL`` (or file URL) and no ``BASE_URLS``
cfpurge.E003     ``MAX_ITEMS_PER_REQUEST`` is not 30, 100 or 500
cfpurge.E004     ``API_URL`` is not https (loopback test servers excepted)
cfpurge.E005     a zone in settings is malformed (bad key, bad ID, bad secret)
cfpurge.E006     ``BASE_URLS`` entry is not an origin
cfpurge.E007     a ``MODELS`` entry names a missing model or field, or is malformed
cfpurge.W001     no Cloudflare zone is configured: nothing will be purged
cfpurge.W002     Celery has no broker configured: purges wait for ``cfpurge drain``
cfpurge.W003     a zone uses the legacy Global API Key (least privilege)
cfpurge.W004     a zone's API token has expired, or expires within 14 days
cfpurge.W005     ``CFPURGE["ENABLED"]`` is False: changes are recorded, not sent
cfpurge.W006     Celery is not importable
cfpurge.W007     ``CLAIM_LEASE_SECONDS`` is shorter than a drain pass may take
===============  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.db import DatabaseError
from django.utils import timezone

from .conf import SETTING_NAME, get_setting, unknown_keys, user_settings
from .exceptions import CfPurgeConfigurationError, InvalidCredentials

EXPIRY_WARNING_DAYS = 14
#: Shortest claim lease that outlasts a pass's longest wait for the rate limiter.
MIN_LEASE_SECONDS = 120
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _error(
    msg: str, hint: str, id: str, level: Callable[..., checks.CheckMessage] = checks.Error
) -> checks.CheckMessage:
    return level(msg, hint=hint, obj=SETTING_NAME, id=id)


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Shape of the ``CFPURGE`` dict and its values."""
    errors: list[checks.CheckMessage] = []
    try:
        user_settings()
    except CfPurgeConfigurationError as err:
        return [_error(str(err), "Set CFPURGE = {...} (a dict).", "cfpurge.E001")]
    unknown = unknown_keys()
    if unknown:
        errors.append(
            _error(
                f"Unknown {SETTING_NAME} keys: {', '.join(unknown)}.",
                "Check the spelling against the settings reference.",
                "cfpurge.E001",
            )
        )
    if get_setting("MAX_ITEMS_PER_REQUEST") not in (30, 100, 500):
        errors.append(
            _error(
                f"{SETTING_NAME}['MAX_ITEMS_PER_REQUEST'] must be 30, 100 or 500.",
                "30 is safe on every plan; 100 on current plans; 500 on Enterprise.",
                "cfpurge.E003",
            )
        )
    api_url = urlsplit(str(get_setting("API_URL")))
    if api_url.scheme != "https" and api_url.hostname not in _LOOPBACK:
        errors.append(
            _error(
                f"{SETTING_NAME}['API_URL'] must use https (it carries the API token).",
                "Use https://api.cloudflare.com/client/v4 (the default); plain http is allowed "
                "only for a test server on localhost.",
                "cfpurge.E004",
            )
        )
    from .resolvers import base_urls

    try:
        origins = base_urls()
    except CfPurgeConfigurationError as err:
        errors.append(
            _error(str(err), "Give origins such as https://www.example.com.", "cfpurge.E006")
        )
        origins = ["x"]
    from .registry import registry

    media_url = str(getattr(settings, "MEDIA_URL", "") or "")
    if len(registry) and not origins and not urlsplit(media_url).netloc:
        errors.append(
            _error(
                f"MEDIA_URL ({media_url!r}) is relative and {SETTING_NAME}['BASE_URLS'] is empty: "
                "file URLs cannot be made absolute, so nothing can be purged.",
                f"Set {SETTING_NAME}['BASE_URLS'] = ['https://www.example.com'] (every public "
                "origin, http and https if both are cached).",
                "cfpurge.E002",
            )
        )
    for message in registry.settings_errors:
        errors.append(
            _error(
                message,
                "Use “app_label.ModelName” and the names of its fields; see the registering "
                "guide. Until fixed, changes to this model are not purged.",
                "cfpurge.E007",
            )
        )
    from .drain import MAX_RATE_LIMIT_WAIT

    lease = get_setting("CLAIM_LEASE_SECONDS")
    if isinstance(lease, int | float) and lease < MIN_LEASE_SECONDS:
        errors.append(
            _error(
                f"{SETTING_NAME}['CLAIM_LEASE_SECONDS'] is {lease}: a drain pass can wait up to "
                f"{MAX_RATE_LIMIT_WAIT:.0f} s for the rate limiter alone, so another worker "
                "could take over rows still being sent and purge them twice.",
                f"Use at least {MIN_LEASE_SECONDS} seconds (the default is 300).",
                "cfpurge.W007",
                checks.Warning,
            )
        )
    if not get_setting("ENABLED"):
        errors.append(
            _error(
                f"{SETTING_NAME}['ENABLED'] is False: changes are recorded but not sent.",
                "Set it to True to purge.",
                "cfpurge.W005",
                checks.Warning,
            )
        )
    return errors


@checks.register()
def check_settings_zones(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Zones defined in settings: shape and credentials."""
    from .credentials import Credentials
    from .zones import settings_zones

    try:
        zones = settings_zones()
    except CfPurgeConfigurationError as err:
        return [_error(str(err), "See the settings reference for ZONES.", "cfpurge.E005")]
    errors: list[checks.CheckMessage] = []
    for entry in zones:
        try:
            Credentials.from_values(
                zone_id=entry["ZONE_ID"],
                api_token=entry.get("API_TOKEN"),
                email=entry.get("EMAIL"),
                api_key=entry.get("API_KEY"),
                account_id=entry.get("ACCOUNT_ID"),
            )
        except InvalidCredentials as err:
            errors.append(
                _error(
                    f"Zone “{entry['NAME']}” in settings: {err}",
                    "Fix the value in the environment (CFPURGE_* variables) or settings.",
                    "cfpurge.E005",
                )
            )
    return errors


@checks.register()
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Celery importable and a broker configured."""
    try:
        import celery  # noqa: F401
    except ImportError:
        return [
            _error(
                "Celery is not importable: purges are recorded but only sent by "
                "`manage.py cfpurge drain`.",
                "pip install celery, and run a worker.",
                "cfpurge.W006",
                checks.Warning,
            )
        ]
    broker = getattr(settings, "CELERY_BROKER_URL", None) or getattr(settings, "BROKER_URL", None)
    if not broker:
        try:
            from celery import current_app

            broker = current_app.conf.broker_url
        except Exception:  # noqa: BLE001  (a misconfigured Celery app must not break checks)
            broker = None
    if not broker:
        return [
            _error(
                "No Celery broker is configured (CELERY_BROKER_URL): purges wait until "
                "`manage.py cfpurge drain` runs.",
                "Set CELERY_BROKER_URL (e.g. redis://localhost:6379/0) and run a Celery worker.",
                "cfpurge.W002",
                checks.Warning,
            )
        ]
    return []


@checks.register()
def check_zones(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Zones in the database: none configured, legacy keys, token expiry.

    Reads the zone table when it exists (one small query), so that a plain
    ``manage.py check`` tells a site with no credentials that nothing is purged.
    """
    from .models import CloudflareZone
    from .zones import settings_zones

    try:
        zones = list(CloudflareZone.objects.filter(enabled=True))
    except DatabaseError:  # not migrated yet, or no database: nothing to report
        return []
    messages: list[checks.CheckMessage] = []
    if not zones and not settings_zones():
        messages.append(
            _error(
                "No Cloudflare zone is configured: changes are recorded but nothing is purged.",
                "Add a zone in the admin (Cloudflare zones) or set CFPURGE_ZONE_ID and "
                "CFPURGE_API_TOKEN in the environment.",
                "cfpurge.W001",
                checks.Warning,
            )
        )
    soon = timezone.now() + timedelta(days=EXPIRY_WARNING_DAYS)
    for zone in zones:
        if zone.auth_kind == CloudflareZone.AuthKind.GLOBAL_KEY and not zone.from_settings:
            messages.append(
                checks.Warning(
                    f"Zone “{zone.name}” uses the legacy Global API Key, which can do anything "
                    "on the account.",
                    hint="Create an API token with only Zone → Cache Purge → Purge and use it.",
                    obj=zone,
                    id="cfpurge.W003",
                )
            )
        if zone.token_expires_on and zone.token_expires_on <= soon:
            when = "has expired" if zone.token_expires_on <= timezone.now() else "expires soon"
            messages.append(
                checks.Warning(
                    f"The API token of zone “{zone.name}” {when} "
                    f"({zone.token_expires_on:%Y-%m-%d}).",
                    hint="Roll or replace the token in the Cloudflare dashboard, then run "
                    "Test connection.",
                    obj=zone,
                    id="cfpurge.W004",
                )
            )
    return messages
