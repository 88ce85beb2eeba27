"""``cfpurge test``, ``verify`` and ``rotate-keys``: the zones and their credentials."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext, ngettext

from ...crypto import encrypt
from ...diagnostics import run_connection_test
from ...edge import NOT_CACHED, NOT_SERVED, UNSUPPORTED, verify_at_edge
from ...fields import UnreadableSecret
from ...models import SECRET_COLUMNS, Zone
from ...zones import ZoneRouter, active_zones
from .common import (
    EXIT_FAILED,
    EXIT_SKIPPED,
    EXIT_USAGE,
    backend_name,
    zones_named,
)


class ZoneActions(BaseCommand):
    """Subcommands of ``manage.py cfpurge`` (mixed into its ``Command``)."""

    # -- test ---------------------------------------------------------------------------
    def do_test(self, options: dict[str, Any]) -> None:
        zones = zones_named(options.get("zone"))
        if not zones:
            raise CommandError(
                gettext(
                    "No CDN zone is configured: add one in the admin or set "
                    "CFPURGE_ZONE_ID and its credentials."
                ),
                returncode=EXIT_FAILED,
            )
        failed = []
        reports = []
        for zone in zones:
            report = run_connection_test(zone)
            reports.append({"zone": zone.name, "ok": report.ok, "steps": report.as_dicts()})
            if not options.get("json"):
                self.stdout.write(
                    # Translators: %(backend)s is the zone's CDN: Cloudflare, bunny.net...
                    gettext("Zone %(zone)s (%(backend)s):")
                    % {"zone": zone.name, "backend": backend_name(zone.backend)}
                )
                for step in report.steps:
                    mark = {"ok": "OK  ", "warning": "WARN", "error": "FAIL", "skipped": "SKIP"}[
                        step.status
                    ]
                    line = f"  [{mark}] {step.label}: {step.message}"
                    style = (
                        self.style.ERROR
                        if step.status == "error"
                        else (
                            self.style.WARNING if step.status == "warning" else self.style.SUCCESS
                        )
                    )
                    self.stdout.write(style(line) if step.status != "skipped" else line)
            if not report.ok:
                failed.append(zone.name)
        if options.get("json"):
            self.stdout.write(json.dumps(reports, indent=2))
        if failed:
            raise CommandError(
                gettext("Test connection failed for: %(zones)s.") % {"zones": ", ".join(failed)},
                returncode=EXIT_FAILED,
            )

    # -- verify ---------------------------------------------------------------------------
    def do_verify(self, options: dict[str, Any]) -> None:
        url = options["url"]
        zone: Zone | None
        if options.get("zone"):
            (zone,) = zones_named(options["zone"])
        else:
            zone = ZoneRouter(active_zones()).route(urlsplit(url).hostname or "")
            if zone is None:
                raise CommandError(
                    gettext("No configured zone serves %(url)s.") % {"url": url},
                    returncode=EXIT_USAGE,
                )
        check = verify_at_edge(zone, url)
        if check.proven:
            self.stdout.write(check.message)
            return
        codes = {NOT_SERVED: EXIT_USAGE, NOT_CACHED: EXIT_SKIPPED, UNSUPPORTED: EXIT_SKIPPED}
        raise CommandError(check.message, returncode=codes.get(check.verdict, EXIT_FAILED))

    # -- rotate-keys ----------------------------------------------------------------------
    def do_rotate_keys(self, options: dict[str, Any]) -> None:
        rotated, unreadable = 0, []
        for zone in Zone.objects.all():
            updates = {}
            for column in SECRET_COLUMNS:
                value = getattr(zone, column)
                if isinstance(value, UnreadableSecret):
                    unreadable.append(zone.name)
                elif value:
                    updates[column] = encrypt(value)
            if updates:
                Zone.objects.filter(pk=zone.pk).update(**updates)
                rotated += 1
        self.stdout.write(
            ngettext(
                "Encrypted the secrets of %(count)d zone with the newest key.",
                "Encrypted the secrets of %(count)d zones with the newest key.",
                rotated,
            )
            % {"count": rotated}
        )
        if unreadable:
            raise CommandError(
                gettext(
                    "No configured key opens the stored secrets of: %(zones)s. Enter their "
                    "credentials again in the admin."
                )
                % {"zones": ", ".join(sorted(set(unreadable)))},
                returncode=EXIT_FAILED,
            )
