"""Django admin: zones (credentials, health, Test connection), the purge log (chart,
request pages), and manual purge.

Who may do what (one table, asserted for every URL and action in
``tests/test_permissions.py`` and shown in ``docs/security.rst``):

* viewing zones or the log needs the ``view`` permission; secrets are never shown to
  anyone, at most masked ("set, ends in …1a2b"), and lookups, ordering and search on
  secret fields are refused;
* adding a zone, the "which CDN?" page included, needs ``add``;
* Test connection (button and action) needs ``change`` on the zone; the button is shown
  only to those who have it;
* "Retry now" and "Ignore" need ``change`` on purge requests; re-sending a purge of
  hostnames, prefixes or everything also needs ``purge_cache`` and goes through the same
  confirmation and cooldown as the manual purge page (one cooldown for "everything",
  whatever the zone);
* manual purge needs ``purge_cache``;
* an action posted by a user who may not run it is refused with 403.

Error pages of the zone views never show a secret, ``DEBUG`` or not
(:class:`~.mixins.SecretsReporterFilter`).

Modules: :mod:`.zones` and :mod:`.zone_columns` (zones and their health),
:mod:`.purge_log`, :mod:`.log_actions` and :mod:`.display` (the log and a row's page),
:mod:`.chart` (the 48-hour SVG chart), :mod:`.manual_purge`, :mod:`.filters`,
:mod:`.guards` (permissions and the "everything" cooldown), :mod:`.mixins`.
"""

from __future__ import annotations

from django.contrib import admin

from ..models import PurgeRequest, Zone
from .guards import PURGE_EVERYTHING_COOLDOWN, PURGE_PERMISSION, everything_cooldown_taken
from .mixins import SecretsReporterFilter, guard_secrets
from .purge_log import PurgeRequestAdmin
from .zones import ZoneAdmin

admin.site.register(Zone, ZoneAdmin)
admin.site.register(PurgeRequest, PurgeRequestAdmin)

__all__ = [
    "PURGE_EVERYTHING_COOLDOWN",
    "PURGE_PERMISSION",
    "PurgeRequestAdmin",
    "SecretsReporterFilter",
    "ZoneAdmin",
    "everything_cooldown_taken",
    "guard_secrets",
]
