"""Zones: settings-defined zones, where credentials come from, and hostname routing.

Precedence, in order:

1. A zone defined in settings (``CFPURGE["ZONE_ID"]`` + credentials, or an entry of
   ``CFPURGE["ZONES"]``) is mirrored to a :class:`~django_cfpurge.models.CloudflareZone`
   row flagged ``from_settings``. Its Zone ID, Account ID, hostnames, plan and
   credentials come from settings, are read-only in the admin, and its secrets are
   never written to the database.
2. Any other zone uses the values saved in the admin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext, ngettext

from .conf import SETTING_NAME, get_setting
from .credentials import AUTH_GLOBAL_KEY, AUTH_TOKEN, Credentials
from .exceptions import CfPurgeConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from .models import CloudflareZone

logger = logging.getLogger(__name__)

_ZONE_KEYS = ("NAME", "ZONE_ID", "API_TOKEN", "EMAIL", "API_KEY", "ACCOUNT_ID", "HOSTNAMES", "PLAN")
_sync_lock = threading.Lock()
_last_sync_fingerprint: str | None = None


def settings_zones() -> list[dict[str, Any]]:
    """Zones given in settings, as dicts with the keys of ``_ZONE_KEYS``.

    The top-level ``ZONE_ID``/``API_TOKEN``/… keys make one zone named
    ``ZONE_NAME``; each dict of ``ZONES`` makes another.

    :raises CfPurgeConfigurationError: a ``ZONES`` entry is not a dict, lacks
        ``NAME`` or ``ZONE_ID``, or has an unknown key.
    """
    zones: list[dict[str, Any]] = []
    if str(get_setting("ZONE_ID") or "").strip():
        zones.append(
            {
                "NAME": get_setting("ZONE_NAME") or "default",
                **{key: get_setting(key) for key in _ZONE_KEYS if key != "NAME"},
            }
        )
    extra = get_setting("ZONES") or []
    if not isinstance(extra, list | tuple):
        raise CfPurgeConfigurationError(
            gettext("%(setting)s['ZONES'] must be a list of dicts.") % {"setting": SETTING_NAME}
        )
    for index, entry in enumerate(extra):
        where = f"{SETTING_NAME}['ZONES'][{index}]"
        if not isinstance(entry, dict):
            raise CfPurgeConfigurationError(
                # Translators: %(where)s is a setting's path such as CFPURGE['ZONES'][0].
                gettext("%(where)s must be a dict.") % {"where": where}
            )
        unknown = set(entry) - set(_ZONE_KEYS)
        if unknown:
            raise CfPurgeConfigurationError(
                ngettext(
                    # Translators: the English singular keeps "keys"; translate each form.
                    "%(where)s has unknown keys %(unknown)s; known keys: %(known)s.",
                    "%(where)s has unknown keys %(unknown)s; known keys: %(known)s.",
                    len(unknown),
                )
                % {"where": where, "unknown": sorted(unknown), "known": ", ".join(_ZONE_KEYS)}
            )
        if not entry.get("NAME") or not entry.get("ZONE_ID"):
            raise CfPurgeConfigurationError(
                gettext("%(where)s needs both NAME and ZONE_ID.") % {"where": where}
            )
        zones.append({key: entry.get(key, "") for key in _ZONE_KEYS})
    return zones


def _hostnames_text(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = value.replace(",", "\n").split()
    return "\n".join(str(v).strip() for v in value if str(v).strip())


def _fingerprint(zones: list[dict[str, Any]]) -> str:
    # Held in memory only; hashing keeps secrets out of any comparison output.
    return hashlib.sha256(json.dumps(zones, sort_keys=True, default=str).encode()).hexdigest()


def settings_auth_kind(entry: dict[str, Any]) -> str:
    """The auth kind of a settings zone: a Global API Key only when a key or email is
    given without a token, so a zone with no secret yet asks for an API token, the
    recommended kind."""
    token = str(entry.get("API_TOKEN") or "").strip()
    legacy = str(entry.get("API_KEY") or "").strip() or str(entry.get("EMAIL") or "").strip()
    return AUTH_GLOBAL_KEY if legacy and not token else AUTH_TOKEN


def sync_settings_zones(*, force: bool = False) -> None:
    """Mirror settings-defined zones into the database (once per process per change).

    Secrets are not copied: they are read from settings each time they are needed.
    Rows that settings no longer define lose their ``from_settings`` flag and are
    disabled (their secrets were never stored); enable them in the admin after entering
    credentials there.
    """
    global _last_sync_fingerprint
    zones = settings_zones()
    fingerprint = _fingerprint(zones)
    if not force and fingerprint == _last_sync_fingerprint:
        return
    from .models import CloudflareZone

    with _sync_lock:
        names = []
        for entry in zones:
            name = str(entry["NAME"]).strip()
            names.append(name)
            defaults = {
                "zone_id": str(entry["ZONE_ID"]).strip().lower(),
                "account_id": str(entry.get("ACCOUNT_ID") or "").strip().lower(),
                "hostnames": _hostnames_text(entry.get("HOSTNAMES")),
                "auth_kind": settings_auth_kind(entry),
                "api_token": "",
                "api_key": "",
                "email": str(entry.get("EMAIL") or "").strip(),
                "from_settings": True,
            }
            if entry.get("PLAN"):
                defaults["plan"] = str(entry["PLAN"]).strip().lower()
            CloudflareZone.objects.update_or_create(name=name, defaults=defaults)
        # A zone that settings no longer define (ZONE_NAME renamed, entry removed) kept
        # its secrets in settings only: it has none left, so it stops taking purges.
        CloudflareZone.objects.filter(from_settings=True).exclude(name__in=names).update(
            from_settings=False, enabled=False
        )
        _last_sync_fingerprint = fingerprint


def reset_sync_cache() -> None:
    """Forget the last sync (tests that change settings zones call this)."""
    global _last_sync_fingerprint
    _last_sync_fingerprint = None


def settings_entry_for(zone: CloudflareZone) -> dict[str, Any] | None:
    """The settings dict behind ``zone``, or None for a zone edited in the admin."""
    if not zone.from_settings:
        return None
    for entry in settings_zones():
        if str(entry["NAME"]).strip() == zone.name:
            return entry
    return None


def resolved_credentials_values(zone: CloudflareZone) -> dict[str, str]:
    """Raw credential values for ``zone`` after precedence (settings first). Unvalidated."""
    entry = settings_entry_for(zone)
    if entry is not None:
        token = str(entry.get("API_TOKEN") or "")
        return {
            "zone_id": str(entry.get("ZONE_ID") or ""),
            "auth_kind": settings_auth_kind(entry),
            "api_token": token,
            "email": str(entry.get("EMAIL") or ""),
            "api_key": str(entry.get("API_KEY") or ""),
            "account_id": str(entry.get("ACCOUNT_ID") or ""),
        }
    return {
        "zone_id": zone.zone_id,
        "auth_kind": zone.auth_kind,
        "api_token": zone.api_token if zone.auth_kind == AUTH_TOKEN else "",
        "email": zone.email if zone.auth_kind == AUTH_GLOBAL_KEY else "",
        "api_key": zone.api_key if zone.auth_kind == AUTH_GLOBAL_KEY else "",
        "account_id": zone.account_id,
    }


def credentials_for(zone: CloudflareZone) -> Credentials:
    """Validated :class:`Credentials` for ``zone``.

    :raises InvalidCredentials: a value is missing or malformed (message says which).
    """
    values = resolved_credentials_values(zone)
    return Credentials.from_values(
        zone_id=values["zone_id"],
        api_token=values["api_token"],
        email=values["email"],
        api_key=values["api_key"],
        account_id=values["account_id"],
        auth_kind=values["auth_kind"],  # type: ignore[arg-type]
    )


def _looks_like_domain(name: str) -> bool:
    return "." in name and " " not in name and "/" not in name


def hostname_patterns(zone: CloudflareZone) -> list[str]:
    """The hostname patterns ``zone`` serves, lower-cased (ALLOWED_HOSTS syntax).

    Explicit hostnames win; otherwise the zone's own domain (its name, or the name
    learnt from Cloudflare by Test connection) and all its subdomains.
    """
    explicit = [h.strip().lower() for h in zone.hostnames.replace(",", "\n").split() if h.strip()]
    if explicit:
        return explicit
    patterns = []
    for domain in (zone.cf_zone_name, zone.name):
        domain = (domain or "").strip().lower().rstrip(".")
        if domain and _looks_like_domain(domain) and f".{domain}" not in patterns:
            patterns.append(f".{domain}")
    return patterns


def host_matches(host: str, pattern: str) -> bool:
    """ALLOWED_HOSTS matching: ``.example.com`` matches the domain and its subdomains."""
    host = host.lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern


class ZoneRouter:
    """Routes a hostname to the zone that serves it; the most specific pattern wins."""

    def __init__(self, zones: Iterable[CloudflareZone]) -> None:
        self.zones = list(zones)
        # Exact names before wildcards, longer (more specific) patterns first.
        self._patterns = sorted(
            ((pattern, zone) for zone in self.zones for pattern in zone.hostname_patterns),
            key=lambda pz: (pz[0] == "*", pz[0].startswith("."), -len(pz[0])),
        )

    def route(self, host: str) -> CloudflareZone | None:
        """The zone serving ``host``, or None."""
        for pattern, zone in self._patterns:
            if host_matches(host, pattern):
                return zone
        return None


def active_zones() -> list[CloudflareZone]:
    """Enabled zones (settings-defined ones synced first)."""
    from .models import CloudflareZone

    sync_settings_zones()
    return list(CloudflareZone.objects.filter(enabled=True))
