"""``cfpurge urls | tags | prefixes | hosts | everything``: purges by hand."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext, ngettext

from ... import api
from ...enums import Source
from ...exceptions import CfPurgeConfigurationError, CfPurgeError
from ...models import PurgeRequest
from .common import (
    EXIT_FAILED,
    EXIT_SKIPPED,
    EXIT_USAGE,
    EXIT_WAITING,
    Status,
    requested_text,
)


class PurgeActions(BaseCommand):
    """Subcommands of ``manage.py cfpurge`` (mixed into its ``Command``)."""

    # -- manual purges ------------------------------------------------------------------
    def do_urls(self, options: dict[str, Any]) -> None:
        self._purge("files", options)

    def do_tags(self, options: dict[str, Any]) -> None:
        self._purge("tags", options)

    def do_prefixes(self, options: dict[str, Any]) -> None:
        self._purge("prefixes", options)

    def do_hosts(self, options: dict[str, Any]) -> None:
        self._purge("hosts", options)

    def do_everything(self, options: dict[str, Any]) -> None:
        if not options.get("yes"):
            zone = options.get("zone")
            if not sys.stdin or not sys.stdin.isatty():
                if zone:
                    message = gettext(
                        "Purging everything on zone %(zone)s needs confirmation: add --yes."
                    ) % {"zone": zone}
                else:
                    message = gettext(
                        "Purging everything on EVERY zone needs confirmation: add --yes."
                    )
                raise CommandError(message, returncode=EXIT_USAGE)
            if zone:
                prompt = gettext(
                    # Translators: the answer stays 'yes': only that word is accepted.
                    "Purge everything cached on zone %(zone)s? Type 'yes' to continue: "
                ) % {"zone": zone}
            else:
                # Translators: the answer stays 'yes': only that word is accepted.
                prompt = gettext("Purge everything cached on EVERY zone? Type 'yes' to continue: ")
            answer = input(prompt)
            if answer.strip().lower() != "yes":
                raise CommandError(gettext("Cancelled."), returncode=EXIT_USAGE)
        self._purge("everything", options)

    def _purge(self, kind: str, options: dict[str, Any]) -> None:
        items = options.get("items") or [True]
        try:
            row = api.purge(
                kind, items, zone=options.get("zone"), now=options["now"], source=Source.MANUAL
            )
        except (CfPurgeError, CfPurgeConfigurationError) as err:
            raise CommandError(str(err), returncode=EXIT_USAGE) from err
        self._report_row(row, kind, now=options["now"], requested=options.get("items") or [])

    def _report_row(self, row: PurgeRequest, kind: str, *, now: bool, requested: list[str]) -> None:
        what = requested_text(kind, len(requested))
        if not now:
            self.stdout.write(
                gettext(
                    # Translators: %(what)s is e.g. "2 URLs" or "everything".
                    "Queued purge request #%(id)s (%(what)s); a worker sends it within seconds "
                    "(or run `manage.py cfpurge drain`)."
                )
                % {"id": row.pk, "what": what}
            )
            return
        rows = [row, *PurgeRequest.objects.filter(parent=row)]
        calls = sum(r.api_calls for r in rows)
        zones = sorted({r.zone.name for r in rows if r.zone})
        skipped = sum(len(r.skipped_targets) for r in rows)
        statuses = {r.status for r in rows}
        if statuses == {Status.DONE}:
            values = {
                "what": what,
                "calls": ngettext("%(count)d API call", "%(count)d API calls", calls)
                % {"count": calls},
                "zones": ", ".join(zones),
                "skipped": skipped,
            }
            if skipped:
                message = ngettext(
                    # Translators: %(what)s is e.g. "2 URLs", %(calls)s e.g. "1 API call".
                    "Purged %(what)s in %(calls)s (zone %(zones)s); %(skipped)d skipped (see "
                    "the purge log).",
                    "Purged %(what)s in %(calls)s (zone %(zones)s); %(skipped)d skipped (see "
                    "the purge log).",
                    skipped,
                )
            else:
                # Translators: %(what)s is e.g. "2 URLs", %(calls)s e.g. "1 API call".
                message = gettext("Purged %(what)s in %(calls)s (zone %(zones)s).")
            self.stdout.write(self.style.SUCCESS(message % values))
            return
        values = {
            "id": row.pk,
            "errors": "; ".join(sorted({r.last_error for r in rows if r.last_error})),
        }
        if Status.FAILED in statuses:
            raise CommandError(
                gettext("Purge request #%(id)s failed: %(errors)s") % values,
                returncode=EXIT_FAILED,
            )
        if Status.SKIPPED in statuses and len(statuses) == 1:
            raise CommandError(
                gettext("Nothing purged for request #%(id)s: %(errors)s") % values,
                returncode=EXIT_SKIPPED,
            )
        raise CommandError(
            gettext("Purge request #%(id)s is waiting to be retried: %(errors)s") % values,
            returncode=EXIT_WAITING,
        )
