"""Zones: zones given in settings, where credentials come from, the backend of a zone,
and hostname routing.

Precedence, in order:

1. A zone defined in settings (``CFPURGE["ZONE_ID"]`` + credentials, or an entry of
   ``CFPURGE["ZONES"]``) is mirrored to a :class:`~django_cfpurge.models.Zone` row
   flagged ``from_settings``. Its backend, identifiers, hostnames, plan and credentials
   come from settings, are read-only in the admin, and its secrets are never written
   to the database.
2. Any other zone uses the values saved in the admin (secrets encrypted).

When a zone's settings change between two starts (a token fixed in the environment),
its rows that waited for a fix are made due at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from .backends import get_backend_class
from .backends.base import Backend
from .conf import SETTING_NAME, get_setting
from .exceptions import CfPurgeConfigurationError, InvalidCredentials, UnreadableCredentials
from .fields import UNREADABLE_MESSAGE, UnreadableSecret
from .models import CREDENTIAL_COLUMNS, SECRET_COLUMNS, Zone
from .outbox.claim import retry_locked, take_write_lock
from .outbox.db import alias
from .outbox.outcomes import requeue_for_fix

logger = logging.getLogger(__name__)

#: The keys of a zone in settings.
ZONE_KEYS = (
    "NAME",
    "BACKEND",
    "ZONE_ID",
    "API_TOKEN",
    "EMAIL",
    "API_KEY",
    "ACCOUNT_ID",
    "HOSTNAMES",
    "PLAN",
)
#: How long a zone keeps the smaller per-call size it fell back to.
MAX_ITEMS_RELEARN = timedelta(days=1)
_sync_lock = threading.Lock()
_last_sync_fingerprint: str | None = None
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def settings_zones() -> list[dict[str, Any]]:
    """Zones given in settings, as dicts with the keys of :data:`ZONE_KEYS`.

    The top-level ``ZONE_ID``/``API_TOKEN``/… keys make one zone named ``ZONE_NAME``;
    each dict of ``ZONES`` makes another.

    :raises CfPurgeConfigurationError: a ``ZONES`` entry is not a dict, lacks ``NAME``
        or ``ZONE_ID``, or has an unknown key.
    """
    zones: list[dict[str, Any]] = []
    if str(get_setting("ZONE_ID") or "").strip():
        zones.append(
            {
                "NAME": get_setting("ZONE_NAME") or "default",
                **{key: get_setting(key) for key in ZONE_KEYS if key != "NAME"},
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
        unknown = set(entry) - set(ZONE_KEYS)
        if unknown:
            raise CfPurgeConfigurationError(
                ngettext(
                    # Translators: the English singular keeps "keys"; translate each form.
                    "%(where)s has unknown keys %(unknown)s; known keys: %(known)s.",
                    "%(where)s has unknown keys %(unknown)s; known keys: %(known)s.",
                    len(unknown),
                )
                % {"where": where, "unknown": sorted(unknown), "known": ", ".join(ZONE_KEYS)}
            )
        if not entry.get("NAME") or not entry.get("ZONE_ID"):
            raise CfPurgeConfigurationError(
                gettext("%(where)s needs both NAME and ZONE_ID.") % {"where": where}
            )
        zones.append({key: entry.get(key, "") for key in ZONE_KEYS})
    return zones


def settings_values(entry: dict[str, Any]) -> dict[str, str]:
    """The credential values of a settings zone, as the backend takes them."""
    values = {
        "zone_id": str(entry.get("ZONE_ID") or ""),
        "account_id": str(entry.get("ACCOUNT_ID") or ""),
        "api_token": str(entry.get("API_TOKEN") or ""),
        "email": str(entry.get("EMAIL") or ""),
        "api_key": str(entry.get("API_KEY") or ""),
    }
    values["auth_kind"] = settings_auth_kind(entry)
    return values


def settings_auth_kind(entry: dict[str, Any]) -> str:
    """The auth kind of a settings zone: a Global API Key only when a key and an email
    are given without a token (Cloudflare), so a zone with no secret yet asks for an
    API token, the recommended kind."""
    token = str(entry.get("API_TOKEN") or "").strip()
    legacy = str(entry.get("API_KEY") or "").strip() and str(entry.get("EMAIL") or "").strip()
    return "global_key" if legacy and not token else "token"


def hostnames_text(value: Any) -> str:
    """Hostnames given as a list or a comma/space separated string → one per line."""
    if not value:
        return ""
    if isinstance(value, str):
        value = value.replace(",", "\n").split()
    return "\n".join(str(v).strip() for v in value if str(v).strip())


def clean_hostnames(text: str) -> list[str]:
    """Validated hostname patterns (lower case): ``www.example.com``, or ``.example.com``
    for a domain and all its subdomains, or an IP address.

    :raises InvalidCredentials: a pattern with a scheme, a path, a port, a wildcard or
        an invalid label (field ``hostnames``).
    """
    patterns = []
    for raw in text.replace(",", "\n").split():
        pattern = raw.strip().lower().rstrip(".")
        host = pattern[1:] if pattern.startswith(".") else pattern
        labels = host.split(".")
        if not host or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            raise InvalidCredentials(
                gettext(
                    "“%(value)s” is not a host name. Give host names such as "
                    "www.example.com, or .example.com for a domain and all its subdomains "
                    "(no scheme, path, port or “*”)."
                )
                % {"value": raw},
                field="hostnames",
            )
        if pattern not in patterns:
            patterns.append(pattern)
    return patterns


def settings_hostnames(value: Any) -> str:
    """A settings zone's ``HOSTNAMES``, one per line, normalised as the admin form does
    (lower case, no trailing dot), so that ``WWW.Example.com.`` routes
    ``www.example.com``. A value that is not a host name is logged and kept as given
    (it shows in the admin and matches no host)."""
    patterns: list[str] = []
    for raw in hostnames_text(value).split("\n"):
        try:
            cleaned = clean_hostnames(raw)
        except InvalidCredentials as err:
            logger.warning("django-cfpurge: %s['HOSTNAMES']: %s", SETTING_NAME, err)
            cleaned = [raw.strip()]
        patterns += [p for p in cleaned if p not in patterns]
    return "\n".join(patterns)


def _fingerprint(data: Any) -> str:
    # Held in memory and on the row; hashing keeps secrets out of both.
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def sync_settings_zones(*, force: bool = False) -> None:
    """Mirror settings-defined zones into the database (once per process per change).

    Secrets are not copied: they are read from settings each time they are needed. A
    zone whose settings changed since they were last mirrored (a token fixed in the
    environment) gets its rows that waited for a fix requeued. Rows that settings no
    longer define lose their ``from_settings`` flag and are disabled.
    """
    global _last_sync_fingerprint
    zones = settings_zones()
    fingerprint = _fingerprint(zones)
    if not force and fingerprint == _last_sync_fingerprint:
        return
    with _sync_lock:
        # One transaction that writes from its start: on SQLite, a worker's threads and
        # the site share one database, and a read that turns into a write would fail.
        using = alias()
        retry_locked(lambda: _mirror_all(zones, using), using=using)
        _last_sync_fingerprint = fingerprint


def _mirror_all(zones: list[dict[str, Any]], using: str) -> None:
    with transaction.atomic(using=using):
        take_write_lock(using)
        names = []
        for entry in zones:
            name = str(entry["NAME"]).strip()
            names.append(name)
            _mirror(name, entry)
        # A zone that settings no longer define kept its secrets in settings only: it has
        # none left, so it stops taking purges.
        Zone.objects.filter(from_settings=True).exclude(name__in=names).update(
            from_settings=False, enabled=False
        )


def _mirror(name: str, entry: dict[str, Any]) -> None:
    values = settings_values(entry)
    zone_fingerprint = _fingerprint(entry)
    defaults: dict[str, Any] = {
        "backend": str(entry.get("BACKEND") or "cloudflare"),
        "zone_id": values["zone_id"].strip().lower(),
        "account_id": values["account_id"].strip().lower(),
        "hostnames": settings_hostnames(entry.get("HOSTNAMES")),
        "auth_kind": values["auth_kind"],
        "api_token": "",
        "api_key": "",
        "email": values["email"].strip(),
        "from_settings": True,
        "settings_fingerprint": zone_fingerprint,
    }
    if entry.get("PLAN"):
        defaults["plan"] = str(entry["PLAN"]).strip().lower()
    existing = Zone.objects.filter(name=name).first()
    changed = existing is not None and existing.settings_fingerprint != zone_fingerprint
    if changed:
        defaults["credentials_changed_at"] = timezone.now()
        # Another zone id or plan may take larger calls: learn the size again.
        defaults["max_items"] = None
        defaults["max_items_learnt_at"] = None
    zone, created = Zone.objects.update_or_create(name=name, defaults=defaults)
    if changed or created:
        requeued = requeue_for_fix(zone)
        if requeued:
            logger.info(
                "django-cfpurge: zone %s changed in settings; %d purge request(s) that waited "
                "for a fix are due again.",
                name,
                requeued,
            )


def reset_sync_cache() -> None:
    """Forget the last sync (tests that change settings zones call this)."""
    global _last_sync_fingerprint
    _last_sync_fingerprint = None


def settings_entry_for(zone: Zone) -> dict[str, Any] | None:
    """The settings dict behind ``zone``, or None for a zone edited in the admin."""
    if not zone.from_settings:
        return None
    for entry in settings_zones():
        if str(entry["NAME"]).strip() == zone.name:
            return entry
    return None


def zone_values(zone: Zone) -> dict[str, str]:
    """Raw credential values for ``zone`` after precedence (settings first); the Account
    ID learnt from the CDN stands in for one not entered. Unvalidated."""
    entry = settings_entry_for(zone)
    if entry is not None:
        values = settings_values(entry)
    else:
        values = {name: getattr(zone, name) for name in CREDENTIAL_COLUMNS}
    if not values.get("account_id") and zone.remote_account_id:
        values["account_id"] = zone.remote_account_id
    return values


def backend_class(zone: Zone) -> type[Backend]:
    """The backend class of ``zone`` (see :func:`~django_cfpurge.backends.get_backend_class`)."""
    return get_backend_class(zone.backend)


def has_secret(zone: Zone) -> bool:
    """True when ``zone`` holds what its backend needs to authenticate (maybe wrong)."""
    try:
        return backend_class(zone).has_secret(zone_values(zone))
    except CfPurgeConfigurationError:
        return False


def backend_for(zone: Zone, **options: Any) -> Backend:
    """A backend bound to ``zone``'s validated credentials (close it after use).

    :raises UnreadableCredentials: a stored secret can no longer be decrypted.
    :raises InvalidCredentials: a value is missing or malformed (the message says which).
    :raises CfPurgeConfigurationError: the zone names an unknown backend.
    :raises ~django_cfpurge.exceptions.InsecureAPIURL: the API URL setting is unsafe.
    """
    values = zone_values(zone)
    for column in SECRET_COLUMNS:
        if isinstance(getattr(zone, column), UnreadableSecret):
            raise UnreadableCredentials(str(UNREADABLE_MESSAGE), field=column)
    cls = backend_class(zone)
    credentials = cls.clean_credentials(values)
    return cls(credentials, plan=zone.plan, max_items=learnt_max_items(zone), **options)


def learnt_max_items(zone: Zone) -> int | None:
    """The per-call size ``zone`` fell back to after a call was refused as too large, for
    :data:`MAX_ITEMS_RELEARN` (then the larger size is tried again)."""
    learnt_at = zone.max_items_learnt_at
    if zone.max_items and learnt_at and timezone.now() - learnt_at < MAX_ITEMS_RELEARN:
        return zone.max_items
    return None


def hostname_patterns(zone: Zone) -> list[str]:
    """The hostname patterns ``zone`` serves, lower-cased (ALLOWED_HOSTS syntax).

    Explicit hostnames win; then the hostnames the CDN reported; otherwise the zone's
    own domain (its name, or the name learnt from the CDN) and all its subdomains.
    """
    explicit = [h.strip().lower() for h in zone.hostnames.replace(",", "\n").split() if h.strip()]
    if explicit:
        return explicit
    if zone.remote_hostnames:
        return [str(h).lower() for h in zone.remote_hostnames]
    patterns = []
    for domain in (zone.remote_name, zone.name):
        domain = (domain or "").strip().lower().rstrip(".")
        is_domain = "." in domain and " " not in domain and "/" not in domain
        if is_domain and f".{domain}" not in patterns:
            patterns.append(f".{domain}")
    return patterns


def host_matches(host: str, pattern: str) -> bool:
    """ALLOWED_HOSTS matching: ``.example.com`` matches the domain and its subdomains."""
    host = host.lower().rstrip(".")
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern


class ZoneRouter:
    """Routes a hostname to the zone that serves it; the most specific pattern wins."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones = list(zones)
        # Exact names before domains, longer (more specific) patterns first.
        self._patterns = sorted(
            ((pattern, zone) for zone in self.zones for pattern in hostname_patterns(zone)),
            key=lambda pz: (pz[0].startswith("."), -len(pz[0])),
        )

    def route(self, host: str) -> Zone | None:
        """The zone serving ``host``, or None."""
        for pattern, zone in self._patterns:
            if host_matches(host, pattern):
                return zone
        return None

    def claims(self, zone: Zone) -> list[str]:
        """The patterns ``zone`` serves."""
        return [pattern for pattern, owner in self._patterns if owner == zone]


def active_zones() -> list[Zone]:
    """Enabled zones (settings-defined ones synced first)."""
    sync_settings_zones()
    return list(Zone.objects.filter(enabled=True))
