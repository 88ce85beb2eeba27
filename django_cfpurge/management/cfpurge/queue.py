"""``cfpurge drain``, ``retry`` and ``status``: the queue and the workers."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ...drain import drain
from ...models import PurgeRequest, Zone
from ...outbox.outcomes import retry_rows
from ...status import outbox_status, worker_state
from .common import (
    EXIT_FAILED,
    EXIT_WAITING,
    Status,
    backend_name,
    drained_text,
    zones_named,
)


class QueueActions(BaseCommand):
    """Subcommands of ``manage.py cfpurge`` (mixed into its ``Command``)."""

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
            items = ", ".join(drained_text(k, n) for k, n in report.items.items())
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
            qs = qs.filter(zone__in=zones_named(options["zone"]))
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
        data = {"zones": [self._zone_status(z) for z in zones_named(None)], **overall.as_dict()}
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
            "backend_name": backend_name(z.backend),
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
