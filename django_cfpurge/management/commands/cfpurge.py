"""``manage.py cfpurge``: test, purge by hand, drain, retry and status, for people and scripts.

Exit codes: 0 success (or queued), 1 failure, 2 usage error, 3 the purge waits
to be retried (transient error), 4 nothing could be routed to a zone.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, ngettext

from ... import api
from ...backends import get_backend_class
from ...crypto import encrypt
from ...diagnostics import run_connection_test
from ...drain import drain
from ...edge import NOT_CACHED, NOT_SERVED, UNSUPPORTED, verify_at_edge
from ...enums import Source
from ...exceptions import CfPurgeConfigurationError, CfPurgeError
from ...fields import UnreadableSecret
from ...models import SECRET_COLUMNS, PurgeRequest, Zone
from ...outbox.outcomes import retry_rows
from ...status import outbox_status, worker_state
from ...zones import ZoneRouter, active_zones, sync_settings_zones

EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, EXIT_SKIPPED = 1, 2, 3, 4
Status = PurgeRequest.Status


def _requested(kind: str, n: int) -> str:
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


def _drained(kind: str, n: int) -> str:
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


def _backend_name(name: str) -> str:
    """A backend's verbose name ("bunny.net"), or its name when it does not import."""
    try:
        return str(get_backend_class(name).verbose_name)
    except CfPurgeConfigurationError:
        return name


class Command(BaseCommand):
    # Marked only: argparse needs a real string, so create_parser() translates it.
    help = gettext_noop(
        "CDN cache purging: test, urls, tags, prefixes, hosts, everything, drain, "
        "retry, status, verify, rotate-keys."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = gettext(self.help)
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        test = sub.add_parser(
            "test", help=gettext("Run Test connection for every zone (or --zone).")
        )
        test.add_argument("--zone", help=gettext("Zone name."))
        test.add_argument("--json", action="store_true", help=gettext("Print the report as JSON."))
        for kind, text in (
            ("urls", gettext("Purge URLs (absolute, or paths joined with BASE_URLS).")),
            ("tags", gettext("Purge cache tags.")),
            ("prefixes", gettext("Purge prefixes (host/path).")),
            ("hosts", gettext("Purge hostnames.")),
        ):
            p = sub.add_parser(kind, help=text)
            p.add_argument("items", nargs="+", metavar=kind[:-1].upper())
            self._purge_options(p)
        everything = sub.add_parser("everything", help=gettext("Purge everything (asks first)."))
        everything.add_argument(
            "--yes", action="store_true", help=gettext("Do not ask for confirmation.")
        )
        self._purge_options(everything)
        drain = sub.add_parser("drain", help=gettext("Send every due purge now, in this process."))
        drain.add_argument("--no-progress", action="store_true")
        drain.add_argument("--json", action="store_true")
        retry = sub.add_parser("retry", help=gettext("Make failed or waiting purges due again."))
        retry.add_argument(
            "ids",
            nargs="*",
            type=int,
            help=gettext("Row ids (default: every failed row; see --waiting)."),
        )
        retry.add_argument(
            "--waiting",
            action="store_true",
            help=gettext(
                "Also rows waiting for a later attempt (backoff, rate limit, no zone yet)."
            ),
        )
        retry.add_argument("--zone", help=gettext("Only this zone's rows."))
        retry.add_argument(
            "--now", action="store_true", help=gettext("Drain right away in this process.")
        )
        status = sub.add_parser(
            "status", help=gettext("Zones, last tests, waiting and failed purges.")
        )
        status.add_argument("--json", action="store_true")
        verify = sub.add_parser(
            "verify",
            help=gettext(
                "Check at the edge that purging a URL drops the CDN's copy (requests it "
                "through the CDN, purges it, requests it again)."
            ),
        )
        verify.add_argument("url", metavar="URL")
        verify.add_argument("--zone", help=gettext("Zone name (default: routed by hostname)."))
        sub.add_parser(
            "rotate-keys",
            help=gettext("Encrypt every stored secret again with the newest encryption key."),
        )

    @staticmethod
    def _purge_options(p: CommandParser) -> None:
        p.add_argument("--zone", help=gettext("Zone name (default: routed by hostname)."))
        p.add_argument(
            "--now",
            action="store_true",
            help=gettext("Send in this process and wait for the outcome."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        handler = getattr(self, f"do_{action.replace('-', '_')}")
        handler(options)

    # -- verify ---------------------------------------------------------------------------
    def do_verify(self, options: dict[str, Any]) -> None:
        url = options["url"]
        zone: Zone | None
        if options.get("zone"):
            (zone,) = self._zones(options["zone"])
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

    # -- test ---------------------------------------------------------------------------
    def _zones(self, name: str | None) -> list[Zone]:
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

    def do_test(self, options: dict[str, Any]) -> None:
        zones = self._zones(options.get("zone"))
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
                    % {"zone": zone.name, "backend": _backend_name(zone.backend)}
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
        what = _requested(kind, len(requested))
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

    # -- drain / retry / status -----------------------------------------------------------
    def do_drain(self, options: dict[str, Any]) -> None:
        show = not options.get("no_progress") and not options.get("json")

        def progress(finished: int, claimed: int) -> None:
            if show and claimed:
                width = 30
                filled = int(width * min(finished, claimed) / claimed)
                bar = "#" * filled + "." * (width - filled)
                self.stderr.write(
                    "\r"
                    + ngettext(
                        "[%(bar)s] %(finished)d/%(claimed)d rows",
                        "[%(bar)s] %(finished)d/%(claimed)d rows",
                        claimed,
                    )
                    % {"bar": bar, "finished": finished, "claimed": claimed},
                    ending="",
                )

        report = drain(progress=progress)
        if show and report.claimed:
            self.stderr.write("")
        if options.get("json"):
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            items = ", ".join(_drained(k, n) for k, n in report.items.items())
            self.stdout.write(
                ngettext(
                    # Translators: the English singular keeps "request(s)"; translate each form.
                    "Drained %(claimed)d purge request(s): %(done)d done, %(failed)d failed, "
                    "%(retried)d to retry, %(waiting)d waiting, %(skipped)d skipped; purged "
                    "%(items)s in %(calls)s.",
                    "Drained %(claimed)d purge request(s): %(done)d done, %(failed)d failed, "
                    "%(retried)d to retry, %(waiting)d waiting, %(skipped)d skipped; purged "
                    "%(items)s in %(calls)s.",
                    report.claimed,
                )
                % {
                    "claimed": report.claimed,
                    "done": report.done,
                    "failed": report.failed,
                    "retried": report.retried,
                    "waiting": report.waiting,
                    "skipped": report.skipped,
                    # Translators: what a drain purged, when it purged nothing.
                    "items": items or gettext("nothing"),
                    "calls": ngettext(
                        "%(count)d API call(s)", "%(count)d API call(s)", report.api_calls
                    )
                    % {"count": report.api_calls},
                }
            )
        if report.failed:
            raise CommandError(
                gettext("Some purges failed: %(errors)s")
                % {"errors": "; ".join(sorted(set(report.errors)))}
            )
        if report.retried or report.waiting:
            raise CommandError(gettext("Some purges wait to be retried."), returncode=EXIT_WAITING)

    def do_retry(self, options: dict[str, Any]) -> None:
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
        self.stdout.write(
            ngettext(
                # Translators: the English singular keeps "request(s)"; translate each form.
                "%(count)d purge request(s) made due again.",
                "%(count)d purge request(s) made due again.",
                count,
            )
            % {"count": count}
        )
        if options.get("now") and count:
            self.do_drain({"no_progress": True, "json": False})

    def do_status(self, options: dict[str, Any]) -> None:
        overall = outbox_status()
        data = {"zones": [self._zone_status(z) for z in self._zones(None)], **overall.as_dict()}
        if options.get("json"):
            self.stdout.write(json.dumps(data, indent=2))
        else:
            for zone in data["zones"]:
                self.stdout.write(self._zone_line(zone))
            self.stdout.write(self._summary(data))
        self._check_worker()
        if overall.failed:
            raise CommandError(
                ngettext(
                    # Translators: the English singular keeps "request(s)"; translate each form.
                    "%(count)d purge request(s) failed.",
                    "%(count)d purge request(s) failed.",
                    overall.failed,
                )
                % {"count": overall.failed},
                returncode=EXIT_FAILED,
            )

    @staticmethod
    def _zone_status(z: Zone) -> dict[str, Any]:
        return {
            "name": z.name,
            "backend": z.backend,
            "backend_name": _backend_name(z.backend),
            "zone_id": z.zone_id,
            "enabled": z.enabled,
            "from_settings": z.from_settings,
            "last_test_at": z.last_test_at.isoformat() if z.last_test_at else None,
            "last_test_ok": z.last_test_ok,
            "token_expires_on": z.token_expires_on.isoformat() if z.token_expires_on else None,
            **outbox_status(z).as_dict(),
        }

    @staticmethod
    def _zone_line(z: dict[str, Any]) -> str:
        if not z["last_test_at"]:
            tested = gettext("never tested")
        elif z["last_test_ok"]:
            tested = gettext("last test passed %(when)s") % {"when": z["last_test_at"][:16]}
        else:
            tested = gettext("last test FAILED %(when)s") % {"when": z["last_test_at"][:16]}
        values = {**z, "tested": tested}
        if z["enabled"]:
            line = gettext(
                # Translators: %(tested)s is e.g. "never tested" or "last test passed …";
                # %(backend_name)s the zone's CDN (Cloudflare, bunny.net...).
                "%(name)s [%(backend_name)s] (%(zone_id)s): %(tested)s; %(pending)d waiting, "
                "%(failed)d failed"
            )
        else:
            line = gettext(
                # Translators: %(tested)s is e.g. "never tested" or "last test passed …";
                # %(backend_name)s the zone's CDN (Cloudflare, bunny.net...).
                "%(name)s [%(backend_name)s] (%(zone_id)s) [disabled]: %(tested)s; "
                "%(pending)d waiting, %(failed)d failed"
            )
        return line % values

    @staticmethod
    def _summary(data: dict[str, Any]) -> str:
        age = data["oldest_pending_seconds"]
        values = {
            **data,
            "age": f"{age:.0f}" if age is not None else "",
            "now": f"{timezone.now():%Y-%m-%d %H:%M}",
        }
        if age is not None and data["reasons"]:
            summary = gettext(
                "All zones: %(pending)d waiting, %(held)d held, %(failed)d failed, "
                "%(done_24h)d purged in 24 h; oldest waiting %(age)s s; reasons "
                "%(reasons)s (at %(now)s UTC)."
            )
        elif age is not None:
            summary = gettext(
                "All zones: %(pending)d waiting, %(held)d held, %(failed)d failed, "
                "%(done_24h)d purged in 24 h; oldest waiting %(age)s s (at %(now)s UTC)."
            )
        elif data["reasons"]:
            summary = gettext(
                "All zones: %(pending)d waiting, %(held)d held, %(failed)d failed, "
                "%(done_24h)d purged in 24 h; reasons %(reasons)s (at %(now)s UTC)."
            )
        else:
            summary = gettext(
                "All zones: %(pending)d waiting, %(held)d held, %(failed)d failed, "
                "%(done_24h)d purged in 24 h (at %(now)s UTC)."
            )
        return summary % values

    def _check_worker(self) -> None:
        worker = worker_state()
        if worker.stalled:
            if worker.since:
                message = gettext(
                    "No worker has drained since %(since)s UTC, and purges have been due since "
                    "%(due)s UTC. Start a worker (celery -A yourproject worker) or run "
                    "`manage.py cfpurge drain`."
                ) % {
                    "since": f"{worker.since:%Y-%m-%d %H:%M:%S}",
                    "due": f"{worker.oldest_due:%Y-%m-%d %H:%M:%S}",
                }
            else:
                message = gettext(
                    "No worker has drained yet, and purges have been due since %(due)s UTC. "
                    "Start a worker (celery -A yourproject worker) or run `manage.py cfpurge "
                    "drain`."
                ) % {"due": f"{worker.oldest_due:%Y-%m-%d %H:%M:%S}"}
            raise CommandError(message, returncode=EXIT_WAITING)
