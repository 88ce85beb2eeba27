"""What the parts of ``manage.py cfpurge`` share: exit codes, the words for counts and
backends, and finding zones by name."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext, ngettext

from ...backends import get_backend_class
from ...exceptions import CfPurgeConfigurationError
from ...models import PurgeRequest, Zone
from ...zones import sync_settings_zones

EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, EXIT_SKIPPED = 1, 2, 3, 4
Status = PurgeRequest.Status


def requested_text(kind: str, n: int) -> str:
    """What a manual purge asked for: "everything", "1 URL", "3 tags"…"""
    values = {"count": n}
    if kind == "everything":
        # Translators: what was purged, inside "Purged everything in 1 API call".
        return gettext("everything")
    if kind == "files":
        return ngettext("%(count)d URL", "%(count)d URLs", n) % values
    if kind == "tags":
        return ngettext("%(count)d tag", "%(count)d tags", n) % values
    if kind == "prefixes":
        return ngettext("%(count)d prefix", "%(count)d prefixes", n) % values
    return ngettext("%(count)d hostname", "%(count)d hostnames", n) % values


def drained_text(kind: str, n: int) -> str:
    """One kind's count in the drain summary: "3 files", "1 everything"…"""
    values = {"count": n}
    # The kinds keep their API names, and the English singular is the same as the plural.
    if kind == "files":
        # Translators: "files" is the API's name for URLs; English keeps the plural.
        return ngettext("%(count)d files", "%(count)d files", n) % values
    if kind == "tags":
        # Translators: the API's name for cache tags; English keeps the plural.
        return ngettext("%(count)d tags", "%(count)d tags", n) % values
    if kind == "prefixes":
        # Translators: the API's name for URL prefixes; English keeps the plural.
        return ngettext("%(count)d prefixes", "%(count)d prefixes", n) % values
    if kind == "hosts":
        # Translators: the API's name for hostnames; English keeps the plural.
        return ngettext("%(count)d hosts", "%(count)d hosts", n) % values
    if kind == "everything":
        # Translators: purges of everything; English keeps "everything" unchanged.
        return ngettext("%(count)d everything", "%(count)d everything", n) % values
    return f"{n} {kind}"


def backend_name(name: str) -> str:
    """A backend's verbose name ("bunny.net"), or its name when it does not import."""
    try:
        return str(get_backend_class(name).verbose_name)
    except CfPurgeConfigurationError:
        return name


def zones_named(name: str | None) -> list[Zone]:
    """Every zone (settings zones mirrored first), or the one named ``name``.

    :raises CommandError: no zone has that name (exit code 2).
    """
    sync_settings_zones()
    zones = Zone.objects.all()
    if name:
        zones = zones.filter(name=name)
        if not zones:
            known = ", ".join(Zone.objects.values_list("name", flat=True))
            raise CommandError(
                gettext("No zone named “%(name)s” (zones: %(known)s).")
                % {"name": name, "known": known or gettext("none")},
                returncode=EXIT_USAGE,
            )
    return list(zones)
