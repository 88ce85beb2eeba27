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
from django.utils.translation import gettext, ngettext

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
        return [_error(str(err), gettext("Set CFPURGE = {...} (a dict)."), "cfpurge.E001")]
    unknown = unknown_keys()
    if unknown:
        errors.append(
            _error(
                ngettext(
                    # Translators: the English singular keeps "keys"; translate each form.
                    "Unknown %(setting)s keys: %(keys)s.",
                    "Unknown %(setting)s keys: %(keys)s.",
                    len(unknown),
                )
                % {"setting": SETTING_NAME, "keys": ", ".join(unknown)},
                gettext("Check the spelling against the settings reference."),
                "cfpurge.E001",
            )
        )
    if get_setting("MAX_ITEMS_PER_REQUEST") not in (30, 100, 500):
        errors.append(
            _error(
                gettext("%(setting)s['MAX_ITEMS_PER_REQUEST'] must be 30, 100 or 500.")
                % {"setting": SETTING_NAME},
                gettext("30 is safe on every plan; 100 on current plans; 500 on Enterprise."),
                "cfpurge.E003",
            )
        )
    api_url = urlsplit(str(get_setting("API_URL")))
    if api_url.scheme != "https" and api_url.hostname not in _LOOPBACK:
        errors.append(
            _error(
                gettext("%(setting)s['API_URL'] must use https (it carries the API token).")
                % {"setting": SETTING_NAME},
                gettext(
                    "Use https://api.cloudflare.com/client/v4 (the default); plain http is "
                    "allowed only for a test server on localhost."
                ),
                "cfpurge.E004",
            )
        )
    from .resolvers import base_urls

    try:
        origins = base_urls()
    except CfPurgeConfigurationError as err:
        errors.append(
            _error(
                str(err), gettext("Give origins such as https://www.example.com."), "cfpurge.E006"
            )
        )
        origins = ["x"]
    from .registry import registry

    media_url = str(getattr(settings, "MEDIA_URL", "") or "")
    if len(registry) and not origins and not urlsplit(media_url).netloc:
        errors.append(
            _error(
                gettext(
                    "MEDIA_URL (%(media_url)s) is relative and %(setting)s['BASE_URLS'] is "
                    "empty: file URLs cannot be made absolute, so nothing can be purged."
                )
                % {"media_url": repr(media_url), "setting": SETTING_NAME},
                gettext(
                    "Set %(setting)s['BASE_URLS'] = ['https://www.example.com'] (every public "
                    "origin, http and https if both are cached)."
                )
                % {"setting": SETTING_NAME},
                "cfpurge.E002",
            )
        )
    for message in registry.settings_errors:
        errors.append(
            _error(
                message,
                gettext(
                    "Use “app_label.ModelName” and the names of its fields; see the registering "
                    "guide. Until fixed, changes to this model are not purged."
                ),
                "cfpurge.E007",
            )
        )
    from .drain import MAX_RATE_LIMIT_WAIT

    lease = get_setting("CLAIM_LEASE_SECONDS")
    if isinstance(lease, int | float) and lease < MIN_LEASE_SECONDS:
        errors.append(
            _error(
                gettext(
                    "%(setting)s['CLAIM_LEASE_SECONDS'] is %(lease)s: a drain pass can wait up "
                    "to %(wait)s s for the rate limiter alone, so another worker could take "
                    "over rows still being sent and purge them twice."
                )
                % {
                    "setting": SETTING_NAME,
                    "lease": lease,
                    "wait": f"{MAX_RATE_LIMIT_WAIT:.0f}",
                },
                gettext("Use at least %(seconds)d seconds (the default is 300).")
                % {"seconds": MIN_LEASE_SECONDS},
                "cfpurge.W007",
                checks.Warning,
            )
        )
    if not get_setting("ENABLED"):
        errors.append(
            _error(
                gettext("%(setting)s['ENABLED'] is False: changes are recorded but not sent.")
                % {"setting": SETTING_NAME},
                gettext("Set it to True to purge."),
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
        return [_error(str(err), gettext("See the settings reference for ZONES."), "cfpurge.E005")]
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
                    gettext("Zone “%(zone)s” in settings: %(error)s")
                    % {"zone": entry["NAME"], "error": err},
                    gettext("Fix the value in the environment (CFPURGE_* variables) or settings."),
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
                gettext(
                    "Celery is not importable: purges are recorded but only sent by "
                    "`manage.py cfpurge drain`."
                ),
                gettext("pip install celery, and run a worker."),
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
                gettext(
                    "No Celery broker is configured (CELERY_BROKER_URL): purges wait until "
                    "`manage.py cfpurge drain` runs."
                ),
                gettext(
                    "Set CELERY_BROKER_URL (e.g. redis://localhost:6379/0) and run a Celery worker."
                ),
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
                gettext(
                    "No Cloudflare zone is configured: changes are recorded but nothing is purged."
                ),
                gettext(
                    "Add a zone in the admin (Cloudflare zones) or set CFPURGE_ZONE_ID and "
                    "CFPURGE_API_TOKEN in the environment."
                ),
                "cfpurge.W001",
                checks.Warning,
            )
        )
    soon = timezone.now() + timedelta(days=EXPIRY_WARNING_DAYS)
    for zone in zones:
        if zone.auth_kind == CloudflareZone.AuthKind.GLOBAL_KEY and not zone.from_settings:
            messages.append(
                checks.Warning(
                    gettext(
                        "Zone “%(zone)s” uses the legacy Global API Key, which can do anything "
                        "on the account."
                    )
                    % {"zone": zone.name},
                    hint=gettext(
                        "Create an API token with only Zone → Cache Purge → Purge and use it."
                    ),
                    obj=zone,
                    id="cfpurge.W003",
                )
            )
        if zone.token_expires_on and zone.token_expires_on <= soon:
            if zone.token_expires_on <= timezone.now():
                message = gettext("The API token of zone “%(zone)s” has expired (%(date)s).")
            else:
                message = gettext("The API token of zone “%(zone)s” expires soon (%(date)s).")
            messages.append(
                checks.Warning(
                    message % {"zone": zone.name, "date": f"{zone.token_expires_on:%Y-%m-%d}"},
                    hint=gettext(
                        "Roll or replace the token in the Cloudflare dashboard, then run "
                        "Test connection."
                    ),
                    obj=zone,
                    id="cfpurge.W004",
                )
            )
    return messages
