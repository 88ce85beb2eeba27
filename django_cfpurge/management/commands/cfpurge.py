"""``manage.py cfpurge``: test, purge by hand, drain, retry and status, for people and scripts.

Exit codes: 0 success (or queued), 1 failure, 2 usage error, 3 the purge waits
to be retried (transient error), 4 nothing could be routed to a zone.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...models import CloudflareZone, PurgeRequest

EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, EXIT_SKIPPED = 1, 2, 3, 4
Status = PurgeRequest.Status
_NOUNS = {"files": "URL", "tags": "tag", "prefixes": "prefix", "hosts": "hostname"}


def _plural(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {'prefixes' if noun == 'prefix' else noun + 's'}"


class Command(BaseCommand):
    help = (
        "Cloudflare cache purging: test, urls, tags, prefixes, hosts, everything, drain, "
        "retry, status."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        test = sub.add_parser("test", help="Run Test connection for every zone (or --zone).")
        test.add_argument("--zone", help="Zone name.")
        test.add_argument("--json", action="store_true", help="Print the report as JSON.")
        for kind, label in (
            ("urls", "URLs (absolute, or paths joined with BASE_URLS)"),
            ("tags", "cache tags"),
            ("prefixes", "prefixes (host/path)"),
            ("hosts", "hostnames"),
        ):
            p = sub.add_parser(kind, help=f"Purge {label}.")
            p.add_argument("items", nargs="+", metavar=kind[:-1].upper())
            self._purge_options(p)
        everything = sub.add_parser("everything", help="Purge everything (asks first).")
        everything.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        self._purge_options(everything)
        drain = sub.add_parser("drain", help="Send every due purge now, in this process.")
        drain.add_argument("--no-progress", action="store_true")
        drain.add_argument("--json", action="store_true")
        retry = sub.add_parser("retry", help="Make failed or waiting purges due again.")
        retry.add_argument(
            "ids", nargs="*", type=int, help="Row ids (default: every failed row; see --waiting)."
        )
        retry.add_argument(
            "--waiting",
            action="store_true",
            help="Also rows waiting for a later attempt (backoff, rate limit, no zone yet).",
        )
        retry.add_argument("--zone", help="Only this zone's rows.")
        retry.add_argument("--now", action="store_true", help="Drain right away in this process.")
        status = sub.add_parser("status", help="Zones, last tests, waiting and failed purges.")
        status.add_argument("--json", action="store_true")

    @staticmethod
    def _purge_options(p: CommandParser) -> None:
        p.add_argument("--zone", help="Zone name (default: routed by hostname).")
        p.add_argument(
            "--now", action="store_true", help="Send in this process and wait for the outcome."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        handler = getattr(self, f"do_{action}")
        handler(options)

    # -- test ---------------------------------------------------------------------------
    def _zones(self, name: str | None) -> list[CloudflareZone]:
        from ...zones import sync_settings_zones

        sync_settings_zones()
        zones = CloudflareZone.objects.all()
        if name:
            zones = zones.filter(name=name)
            if not zones:
                known = ", ".join(CloudflareZone.objects.values_list("name", flat=True)) or "none"
                raise CommandError(
                    f"No zone named “{name}” (zones: {known}).", returncode=EXIT_USAGE
                )
        return list(zones)

    def do_test(self, options: dict[str, Any]) -> None:
        from ...diagnostics import run_connection_test

        zones = self._zones(options.get("zone"))
        if not zones:
            raise CommandError(
                "No Cloudflare zone is configured: add one in the admin or set CFPURGE_ZONE_ID "
                "and CFPURGE_API_TOKEN.",
                returncode=EXIT_FAILED,
            )
        failed = []
        reports = []
        for zone in zones:
            report = run_connection_test(zone)
            reports.append({"zone": zone.name, "ok": report.ok, "steps": report.as_dicts()})
            if not options.get("json"):
                self.stdout.write(f"Zone {zone.name}:")
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
                f"Test connection failed for: {', '.join(failed)}.", returncode=EXIT_FAILED
            )

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
            scope = f"zone {options['zone']}" if options.get("zone") else "EVERY zone"
            if not sys.stdin or not sys.stdin.isatty():
                raise CommandError(
                    f"Purging everything on {scope} needs confirmation: add --yes.",
                    returncode=EXIT_USAGE,
                )
            answer = input(f"Purge everything cached on {scope}? Type 'yes' to continue: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Cancelled.", returncode=EXIT_USAGE)
        self._purge("everything", options)

    def _purge(self, kind: str, options: dict[str, Any]) -> None:
        from ... import api
        from ...exceptions import CfPurgeConfigurationError, CfPurgeError

        func = {
            "files": api.purge_urls,
            "tags": api.purge_tags,
            "prefixes": api.purge_prefixes,
            "hosts": api.purge_hosts,
        }.get(kind)
        try:
            if func is None:
                row = api.purge_everything(
                    zone=options.get("zone"), now=options["now"], source="manual"
                )
            else:
                row = func(
                    options["items"], zone=options.get("zone"), now=options["now"], source="manual"
                )
        except (CfPurgeError, CfPurgeConfigurationError, ValueError) as err:
            raise CommandError(str(err), returncode=EXIT_USAGE) from err
        self._report_row(row, kind, now=options["now"], requested=options.get("items") or [])

    def _report_row(self, row: PurgeRequest, kind: str, *, now: bool, requested: list[str]) -> None:
        what = "everything" if kind == "everything" else _plural(len(requested), _NOUNS[kind])
        if not now:
            self.stdout.write(
                f"Queued purge request #{row.pk} ({what}); a worker sends it within seconds "
                "(or run `manage.py cfpurge drain`)."
            )
            return
        rows = [row, *PurgeRequest.objects.filter(parent=row)]
        calls = sum(r.api_calls for r in rows)
        zones = sorted({r.zone.name for r in rows if r.zone})
        skipped = sum(len(r.skipped_targets) for r in rows)
        skipped_note = f"; {skipped} skipped (see the purge log)" if skipped else ""
        statuses = {r.status for r in rows}
        if statuses == {Status.DONE}:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Purged {what} in {_plural(calls, 'API call')} "
                    f"(zone {', '.join(zones)}){skipped_note}."
                )
            )
            return
        errors = "; ".join(sorted({r.last_error for r in rows if r.last_error}))
        if Status.FAILED in statuses:
            raise CommandError(f"Purge request #{row.pk} failed: {errors}", returncode=EXIT_FAILED)
        if Status.SKIPPED in statuses and len(statuses) == 1:
            raise CommandError(
                f"Nothing purged for request #{row.pk}: {errors}", returncode=EXIT_SKIPPED
            )
        raise CommandError(
            f"Purge request #{row.pk} is waiting to be retried: {errors}", returncode=EXIT_WAITING
        )

    # -- drain / retry / status -----------------------------------------------------------
    def do_drain(self, options: dict[str, Any]) -> None:
        from ...drain import drain

        show = not options.get("no_progress") and not options.get("json")

        def progress(finished: int, claimed: int) -> None:
            if show and claimed:
                width = 30
                filled = int(width * min(finished, claimed) / claimed)
                self.stderr.write(
                    f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{claimed} rows",
                    ending="",
                )

        report = drain(progress=progress)
        if show and report.claimed:
            self.stderr.write("")
        if options.get("json"):
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            items = ", ".join(f"{n} {k}" for k, n in report.items.items()) or "nothing"
            self.stdout.write(
                f"Drained {report.claimed} purge request(s): {report.done} done, {report.failed} "
                f"failed, {report.retried} to retry, {report.waiting} waiting, {report.skipped} "
                f"skipped; purged {items} in {report.api_calls} API call(s)."
            )
        if report.failed:
            raise CommandError("Some purges failed: " + "; ".join(sorted(set(report.errors))))
        if report.retried or report.waiting:
            raise CommandError("Some purges wait to be retried.", returncode=EXIT_WAITING)

    def do_retry(self, options: dict[str, Any]) -> None:
        from ...outbox import retry_rows

        qs = PurgeRequest.objects.all()
        if options.get("ids"):
            qs = qs.filter(pk__in=options["ids"])
        elif options.get("waiting"):
            qs = qs.filter(status__in=[Status.FAILED, Status.PENDING])
        else:
            qs = qs.filter(status=Status.FAILED)
        if options.get("zone"):
            qs = qs.filter(zone__in=self._zones(options["zone"]))
        count = retry_rows(qs)
        self.stdout.write(f"{count} purge request(s) made due again.")
        if options.get("now") and count:
            self.do_drain({"no_progress": True, "json": False})

    def do_status(self, options: dict[str, Any]) -> None:
        from ...status import outbox_status

        zones = self._zones(None)
        overall = outbox_status()
        data = {
            "zones": [
                {
                    "name": z.name,
                    "zone_id": z.zone_id,
                    "enabled": z.enabled,
                    "from_settings": z.from_settings,
                    "last_test_at": z.last_test_at.isoformat() if z.last_test_at else None,
                    "last_test_ok": z.last_test_ok,
                    "token_expires_on": z.token_expires_on.isoformat()
                    if z.token_expires_on
                    else None,
                    **outbox_status(z).as_dict(),
                }
                for z in zones
            ],
            **overall.as_dict(),
        }
        if options.get("json"):
            self.stdout.write(json.dumps(data, indent=2))
        else:
            for z in data["zones"]:
                tested = (
                    "never tested"
                    if not z["last_test_at"]
                    else (
                        f"last test {'passed' if z['last_test_ok'] else 'FAILED'} "
                        f"{z['last_test_at'][:16]}"
                    )
                )
                self.stdout.write(
                    f"{z['name']} ({z['zone_id']}){'' if z['enabled'] else ' [disabled]'}: "
                    f"{tested}; "
                    f"{z['pending']} waiting, {z['failed']} failed"
                )
            age = data["oldest_pending_seconds"]
            self.stdout.write(
                f"All zones: {data['pending']} waiting, {data['held']} held, "
                f"{data['failed']} failed, "
                f"{data['done_24h']} purged in 24 h"
                + (f"; oldest waiting {age:.0f} s" if age is not None else "")
                + (f"; reasons {data['reasons']}" if data["reasons"] else "")
                + f" (at {timezone.now():%Y-%m-%d %H:%M} UTC)."
            )
        if overall.failed:
            raise CommandError(f"{overall.failed} purge request(s) failed.", returncode=EXIT_FAILED)
