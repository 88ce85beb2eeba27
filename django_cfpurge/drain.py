"""One drain: claim due rows, resolve, route to zones, batch, rate-limit, send, record.

The loop only; each step is someone else's job: :mod:`.outbox` claims and records,
:mod:`.resolvers` turns changes into targets, :mod:`.routes` places them on zones,
:mod:`.sender` sends each zone's share (:mod:`.batching` cuts the calls,
:mod:`.ratelimit` paces them, the zone's backend makes them). Every row claimed by a
pass leaves it in a recorded state: done, failed (with a message a person can act on),
skipped (no zone serves its hosts), or waiting again with its next attempt time and the
reason.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .conf import get_bool, get_float, get_int
from .enums import ErrorKind, Status
from .exceptions import (
    CfPurgeConfigurationError,
    CfPurgeError,
    InvalidTarget,
)
from .models import PurgeRequest, Zone
from .outbox import claim as claims
from .outbox import outcomes
from .outbox.ingest import ingest
from .ratelimit import RateLimiter
from .resolvers import resolve_row
from .routes import Routes
from .sender import UNCONFIGURED_DELAY, ZoneSender
from .signals import purge_failed
from .zones import ZoneRouter, active_zones, backend_for, has_secret

logger = logging.getLogger(__name__)

DISABLED_MESSAGE = _("Purging is switched off (CFPURGE['ENABLED'] is False).")
UNCONFIGURED_MESSAGE = _(
    "No CDN zone is configured: add one in the admin (CDN zones) or set CFPURGE['ZONE_ID'] "
    "and its credentials."
)


@dataclass
class DrainReport:
    """What a drain did (also returned by the Celery task)."""

    passes: int = 0
    claimed: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    waiting: int = 0
    skipped: int = 0
    requeued: int = 0
    api_calls: int = 0
    items: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)
    #: The drain stopped at ``DRAIN_MAX_SECONDS`` with rows still due.
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the counters."""
        data = {k: v for k, v in self.__dict__.items() if k != "items"}
        data["items"] = dict(self.items)
        return data


class Drainer:
    """Runs drain passes. Build one per drain; not shared between threads.

    :param limiter: the shared rate limiter (default: one on ``RATE_LIMIT_CACHE``).
    :param progress: called with ``(rows_finished, rows_claimed)`` after each zone.
    """

    def __init__(
        self,
        *,
        limiter: RateLimiter | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.limiter = limiter or RateLimiter()
        self.progress = progress
        self.report = DrainReport()
        # Set when the rate limiter's cache fails: the rest of the run would fail too.
        self._halted = False
        # The claim being processed, released if the task is stopped.
        self.current: claims.Claim | None = None

    # -- passes -----------------------------------------------------------------
    def run(self, *, ids: list[int] | None = None, max_passes: int | None = None) -> DrainReport:
        """Claim and process due rows until none is left, ``max_passes``, or
        ``DRAIN_MAX_SECONDS``.

        While more rows are due, a pass keeps the last, partly filled API call of each
        kind for the next pass to fill (its rows stay claimed).
        """
        stop_at = time.monotonic() + get_float("DRAIN_MAX_SECONDS", minimum=1)
        carried: list[PurgeRequest] = []
        token = ""
        while max_passes is None or self.report.passes < max_passes:
            if time.monotonic() >= stop_at:
                self.report.more = True
                break
            if ids is None:
                # The claim's window at a time (a pass and its look-ahead for more rows of
                # the same objects, so a burst of saves is purged once), not the whole
                # backlog, so that other workers find rows to claim.
                batch = get_int("CLAIM_BATCH_SIZE", minimum=1)
                ingest(limit=batch * (1 + claims.CLAIM_LOOKAHEAD))
            claim = claims.claim_due(ids=ids)
            if not claim.rows and not carried:
                break
            self.report.passes += 1
            self.report.claimed += len(claim.rows)
            if carried:
                claims.transfer_claim(carried, claim.token)
                claim.rows = carried + claim.rows
            token = claim.token
            carried = self.process(claim, hold_partial=claim.full)
            if self._halted or not claim.rows:
                break
        if carried:
            # No more passes: send what was kept back.
            self.process(claims.Claim(token=token, rows=carried), hold_partial=False)
        return self.report

    def release_current(self) -> int:
        """Give back the rows of the claim being processed (a task stopped early)."""
        if self.current is None:
            return 0
        rows = [r for r in self.current.rows if r.status not in (Status.DONE, Status.FAILED)]
        return outcomes.release(rows, self.current.token)

    def process(self, claim: claims.Claim, *, hold_partial: bool = False) -> list[PurgeRequest]:
        """Process one claimed batch; every row ends in a recorded state, except, with
        ``hold_partial``, the rows returned: they stay claimed for the next pass."""
        self.current = claim
        rows, token = claim.rows, claim.token
        if not get_bool("ENABLED"):
            self._wait(rows, token, ErrorKind.DISABLED, str(DISABLED_MESSAGE), UNCONFIGURED_DELAY)
            return []
        zones = active_zones()
        if not zones:
            self._wait(
                rows, token, ErrorKind.UNCONFIGURED, str(UNCONFIGURED_MESSAGE), UNCONFIGURED_DELAY
            )
            return []
        self._learn_zones(zones)
        router = ZoneRouter(zones)
        by_zone: dict[int, list[PurgeRequest]] = defaultdict(list)
        zone_objects: dict[int, Zone] = {}
        resolved: list[PurgeRequest] = []
        for row in list(rows):
            for part in self._resolve(row, token, router, resolved):
                zone = part.zone
                if zone is not None:  # routed parts always have one
                    by_zone[zone.pk].append(part)
                    zone_objects[zone.pk] = zone
        # One statement for the pass, before anything is sent: a retry reuses it.
        outcomes.save_resolutions(resolved)
        carried: list[PurgeRequest] = []
        for zone_pk, zone_rows in by_zone.items():
            zone = zone_objects[zone_pk]
            try:
                carried += ZoneSender(self, zone, zone_rows, token).send(hold_partial)
            except Exception as err:
                logger.exception("django-cfpurge: unexpected error purging zone %s", zone.name)
                # Rows recorded as purged before the error stay purged.
                unfinished = [row for row in zone_rows if row.status != Status.DONE]
                self._retry(
                    unfinished,
                    token,
                    ErrorKind.ERROR,
                    gettext("Unexpected error: %(error)s") % {"error": type(err).__name__},
                )
            if self.progress:
                self.progress(self.report.done + self.report.failed, self.report.claimed)
        self.current = None
        return carried

    def _learn_zones(self, zones: list[Zone]) -> None:
        """Ask the CDN about zones that route nothing yet (no hostnames known): a zone
        set only in settings has none until Test connection runs."""
        for zone in zones:
            if zone.hostnames.strip() or zone.remote_name or zone.remote_hostnames:
                continue
            if not has_secret(zone):
                continue
            try:
                with backend_for(zone) as backend:
                    remote = backend.describe_zone()
            except (CfPurgeError, CfPurgeConfigurationError) as err:
                logger.info("django-cfpurge: could not read zone %s at the CDN: %s", zone.name, err)
                continue
            zone.remote_name = remote.name
            zone.remote_status = remote.status
            zone.remote_hostnames = list(remote.hostnames)
            zone.remote_account_id = remote.account_id
            zone.plan = zone.plan or remote.plan
            Zone.objects.filter(pk=zone.pk).update(
                remote_name=zone.remote_name,
                remote_status=zone.remote_status,
                remote_hostnames=zone.remote_hostnames,
                remote_account_id=zone.remote_account_id,
                plan=zone.plan,
            )

    # -- resolution -------------------------------------------------------------
    def _resolve(
        self, row: PurgeRequest, token: str, router: ZoneRouter, resolved: list[PurgeRequest]
    ) -> list[PurgeRequest]:
        """Resolve and route one row; returns the rows (the row and any split-off parts)
        that have targets on a zone."""
        if row.resolved and row.zone is not None:
            return [row]
        try:
            resolution = resolve_row(row)
        except (CfPurgeConfigurationError, InvalidTarget) as err:
            self._fail([row], token, ErrorKind.RESOLVE, str(err), zone=None)
            return []
        except Exception as err:
            logger.warning("django-cfpurge: resolving %r failed", row, exc_info=True)
            self._retry([row], token, ErrorKind.RESOLVE, f"{type(err).__name__}: {err}")
            return []
        routes = Routes(row, router)
        for kind, items in resolution.all_targets():
            for item in items:
                routes.place(kind, item)
        per_zone, zones = routes.per_zone, routes.zones
        row.skipped_targets = [*resolution.skipped, *routes.skipped]
        resolved.append(row)
        if not per_zone:
            self._nothing_to_send(row, resolution, routes)
            return []
        zone_pks = list(per_zone)
        row.zone = zones[zone_pks[0]]
        row.targets = per_zone[zone_pks[0]]
        extra = [
            PurgeRequest(
                source=row.source,
                event=row.event,
                model_label=row.model_label,
                object_pk=row.object_pk,
                object_repr=row.object_repr,
                change=row.change,
                targets=per_zone[zone_pk],
                resolved=True,
                zone=zones[zone_pk],
                parent=row,
                requested_by_id=row.requested_by_id,
                claim_token=token,
                claimed_until=row.claimed_until,
                created_at=row.created_at,
            )
            for zone_pk in zone_pks[1:]
        ]
        if extra:
            PurgeRequest.objects.bulk_create(extra)
            self.report.claimed += len(extra)
        return [row, *extra]

    def _nothing_to_send(self, row: PurgeRequest, resolution: Any, routes: Routes) -> None:
        """Record a row no zone has a call to make for: skipped, with the reason, or done
        when its zones' CDNs need nothing for it (a new file on Cloudflare Images)."""
        # The file states repeat URLs of ``files``: the log shows these.
        row.targets = resolution.targets
        row.done_at = timezone.now()
        row.claimed_until = None
        if routes.covering and not row.skipped_targets:
            row.zone = next(iter(routes.covering.values()))
            row.status = Status.DONE
            row.error_kind = ""
            row.last_error = ""
            self.report.done += 1
            return
        row.status = Status.SKIPPED
        row.error_kind = ErrorKind.UNROUTABLE
        row.last_error = (
            row.skipped_targets[0]["reason"]
            if row.skipped_targets
            else gettext("Nothing to purge for this change.")
        )
        self.report.skipped += 1

    # -- outcomes -----------------------------------------------------------------
    def _wait(
        self, rows: list[PurgeRequest], token: str, kind: str, message: str, delay: float
    ) -> None:
        if rows:
            outcomes.mark_waiting(rows, token, error_kind=kind, message=message, delay=delay)
            self.report.waiting += len(rows)

    def _retry(
        self,
        rows: list[PurgeRequest],
        token: str,
        kind: str,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        if not rows:
            return
        retried, failed = outcomes.mark_retry(
            rows, token, error_kind=kind, message=message, retry_after=retry_after
        )
        self.report.retried += len(retried)
        if retried:
            logger.info(
                "django-cfpurge: %d purge request(s) will be retried: %s", len(retried), message
            )
        if failed:
            self._report_failed(failed, CfPurgeError(message), rows[0].zone)

    def _fail(
        self,
        rows: list[PurgeRequest],
        token: str,
        kind: str,
        message: str,
        *,
        zone: Zone | None,
        error: CfPurgeError | None = None,
    ) -> None:
        if not rows:
            return
        outcomes.mark_failed(rows, token, error_kind=kind, message=message)
        self._report_failed(rows, error or CfPurgeError(message), zone)

    def _report_failed(
        self, rows: list[PurgeRequest], error: CfPurgeError, zone: Zone | None
    ) -> None:
        self.report.failed += len(rows)
        self.report.errors.append(str(error))
        # Once per row, not per URL: an error tracker gets one event per failure.
        for row in rows:
            logger.warning("django-cfpurge: purge request %s failed: %s", row.pk, error)
            purge_failed.send(sender=PurgeRequest, request=row, error=error, zone=zone)


def drain(
    *,
    ids: list[int] | None = None,
    max_passes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DrainReport:
    """Run one drain in this process and return its report. See :class:`Drainer`."""
    started = time.monotonic()
    report = Drainer(progress=progress).run(ids=ids, max_passes=max_passes)
    logger.debug(
        "django-cfpurge: drain finished in %.3fs: %s", time.monotonic() - started, report.as_dict()
    )
    return report


__all__ = ["DrainReport", "Drainer", "drain"]
