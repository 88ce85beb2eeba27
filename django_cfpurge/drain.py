"""One drain: claim due rows, resolve, route to zones, batch, rate-limit, send, record.

The loop only; each step is someone else's job: :mod:`.outbox` claims and records,
:mod:`.resolvers` turns changes into targets, :mod:`.zones` routes them and builds each
zone's backend, :mod:`.batching` cuts them into calls, :mod:`.ratelimit` paces the
calls, and the backend sends them. Every row claimed by a pass leaves it in a recorded
state: done, failed (with a message a person can act on), skipped (no zone serves its
hosts), or waiting again with its next attempt time and the reason.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .backends.base import Backend
from .batching import Batch, Call, item_key
from .conf import get_bool, get_float, get_int
from .enums import FILE_STATE_KINDS, ErrorKind, Kind, Source, Status
from .exceptions import (
    BackendError,
    CfPurgeConfigurationError,
    CfPurgeError,
    InvalidCredentials,
    InvalidTarget,
    RateLimited,
    RequestRejected,
)
from .models import PurgeRequest, Zone
from .outbox import calls as call_log
from .outbox import claim as claims
from .outbox import outcomes
from .outbox.db import alias
from .outbox.ingest import ingest
from .ratelimit import RateLimiter, RateLimitWait
from .resolvers import resolve_row
from .signals import purge_failed, purge_succeeded
from .targets import host_of, unpurgeable
from .zones import ZoneRouter, active_zones, backend_class, backend_for, has_secret

logger = logging.getLogger(__name__)

#: Seconds rows wait when purging is off or no zone is configured (a zone being added
#: or fixed makes them due at once).
UNCONFIGURED_DELAY = 3600.0
#: Longest wait for the shared rate limiter inside one pass; beyond it the rows are put
#: back (not counted as an attempt) so a worker is never parked for long.
MAX_RATE_LIMIT_WAIT = 30.0
#: Seconds rows wait when the rate limiter's cache cannot be reached (not an attempt).
LIMITER_UNAVAILABLE_DELAY = 10.0

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


def _zone_message(zone: Zone, err: Exception) -> str:
    """The message recorded on a zone's rows: which zone, then what went wrong."""
    return gettext("Zone “%(zone)s”: %(message)s") % {"zone": zone.name, "message": err}


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
                # A pass's worth at a time, so that other workers find rows to claim.
                ingest(limit=get_int("CLAIM_BATCH_SIZE", minimum=1))
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
                self._retry(
                    zone_rows,
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


class Routes:
    """Where one row's targets go: each to the zones that take it (by host; tags and
    "everything" to every zone in scope), or to the skipped list with the reason.

    An item whose zone's CDN cannot take its kind is skipped with the reason, unless the
    zone gets what it needs in another form (:func:`covered`): then it is left out
    quietly, and the zone is said to *cover* it.
    """

    def __init__(self, row: PurgeRequest, router: ZoneRouter) -> None:
        self.row = row
        self.router = router
        self.scope = [row.zone] if row.zone is not None else router.zones
        self.per_zone: dict[int, dict[str, list[Any]]] = {}
        self.zones: dict[int, Zone] = {}
        self.skipped: list[dict[str, str]] = []
        self.covering: dict[int, Zone] = {}

    def place(self, kind: str, item: Any) -> None:
        """Route one item."""
        state = kind in FILE_STATE_KINDS
        reason = unpurgeable(kind, item)
        destinations = [] if reason else self.destinations(kind, item)
        if not reason and not destinations and not state:
            reason = gettext("No configured zone serves the host “%(host)s”.") % {
                "host": host_of(kind, item)
            }
        if reason:
            self.skipped.append({"target": item_key(item), "reason": reason})
        for zone in destinations:
            kinds = zone_kinds(zone)
            if kind in kinds:
                self.zones[zone.pk] = zone
                self.per_zone.setdefault(zone.pk, {}).setdefault(kind, []).append(item)
            elif covered(kind, kinds, model_change=self.row.source == Source.MODEL):
                self.covering[zone.pk] = zone
            else:
                self.skipped.append({"target": item_key(item), "reason": _unsupported(zone, kind)})

    def destinations(self, kind: str, item: Any) -> list[Zone]:
        """The zones an item goes to."""
        host = host_of(kind, item)
        if host is None:  # tags, everything: every zone in scope
            return self.scope
        row, router = self.row, self.router
        zone = router.route(host)
        if row.zone is not None and zone != row.zone:
            # An explicit zone takes hosts no zone claims, never another zone's.
            unclaimed = zone is None and not router.claims(row.zone)
            zone = row.zone if unclaimed else None
        return [zone] if zone else []


def covered(kind: str, kinds: tuple[str, ...], *, model_change: bool) -> bool:
    """Whether a CDN taking ``kinds`` needs nothing more for an item of ``kind`` it
    cannot take, because the item reaches it in another form:

    * a file state (``gone``, ``hide``, ``show``): a model change lists the same URL under
      ``files``, which a CDN that purges URLs takes (and which is skipped with the reason
      on one that does not);
    * a model change's ``files`` on a CDN that takes file states (Cloudflare Images): the
      states say all it must do; a file still used, whose state did not change, needs
      nothing there.
    """
    if kind in FILE_STATE_KINDS:
        return True
    return kind == Kind.FILES and model_change and any(k in FILE_STATE_KINDS for k in kinds)


def latest_visibility(rows: list[PurgeRequest], newer: Sequence[PurgeRequest] = ()) -> None:
    """Make ``hide`` and ``show`` of each URL in ``rows`` agree with its newest row.

    A file hidden, then shown again, while its purges waited (an outage, a rate limit, a
    retry's backoff) has both in one batch, or the newer one sent already: only the
    newest state counts, and an older row's other state is left out of its targets in
    memory (the purge log keeps what each row asked for). ``newer`` are rows of the same
    objects outside the batch (:func:`newer_rows`): they are not changed, but their
    states count. Neither is sent for a URL reported ``gone``.
    """
    latest: dict[str, str] = {}
    gone: set[str] = set()
    for row in sorted([*rows, *newer], key=lambda r: (r.created_at, r.pk)):
        targets = row.targets or {}
        gone.update(item_key(item) for item in targets.get(Kind.GONE, ()))
        for kind in (Kind.HIDE, Kind.SHOW):
            latest.update((item_key(item), kind) for item in targets.get(kind, ()))
    for row in rows:
        targets = dict(row.targets or {})
        for kind in (Kind.HIDE, Kind.SHOW):
            if kind not in targets:
                continue
            kept = [
                item
                for item in targets[kind]
                if latest.get(item_key(item)) == kind and item_key(item) not in gone
            ]
            if kept:
                targets[kind] = kept
            else:
                del targets[kind]
        row.targets = targets


def newer_rows(zone: Zone, rows: list[PurgeRequest]) -> list[PurgeRequest]:
    """Resolved rows of ``zone`` for the objects of ``rows`` whose ``hide`` or ``show``
    they carry, newer than the oldest of them and not among them: a state one of them
    sent already (or will send) wins over an older row retried after it."""
    objects = {
        (row.model_label, row.object_pk)
        for row in rows
        if row.object_pk and (Kind.HIDE in (row.targets or {}) or Kind.SHOW in (row.targets or {}))
    }
    if not objects:
        return []
    match = Q()
    for label, pk in objects:
        match |= Q(model_label=label, object_pk=pk)
    oldest = min(row.created_at for row in rows)
    return list(
        PurgeRequest.objects.using(alias())
        .filter(match, zone=zone, resolved=True, created_at__gt=oldest)
        .exclude(pk__in=[row.pk for row in rows])
        .only("pk", "created_at", "targets")
    )


def zone_kinds(zone: Zone) -> tuple[str, ...]:
    """The purge kinds ``zone``'s backend supports (none for an unknown backend)."""
    try:
        return tuple(str(k) for k in backend_class(zone).kinds)
    except CfPurgeConfigurationError:
        return ()


def _unsupported(zone: Zone, kind: str) -> str:
    try:
        name = str(backend_class(zone).verbose_name)
    except CfPurgeConfigurationError:
        name = zone.backend
    return gettext("%(backend)s cannot purge %(kind)s (zone “%(zone)s”).") % {
        "backend": name,
        # Translators: the kind's name: URLs, prefixes, hostnames, cache tags...
        "kind": Kind(kind).label if kind in Kind.values else kind,
        "zone": zone.name,
    }


class ZoneSender:
    """Sends one zone's rows of one pass: build the backend, batch, pace, call, record."""

    def __init__(self, drainer: Drainer, zone: Zone, rows: list[PurgeRequest], token: str) -> None:
        self.drainer = drainer
        self.report = drainer.report
        self.limiter = drainer.limiter
        self.zone = zone
        self.rows = rows
        self.token = token
        self.done: list[PurgeRequest] = []
        self.sent: dict[str, list[Any]] = defaultdict(list)
        self.receipts: list[str] = []
        self.log = call_log.CallLog(zone)
        self.batch: Batch | None = None

    def send(self, hold_partial: bool) -> list[PurgeRequest]:
        """Send; returns the rows kept back for the next pass."""
        try:
            backend = backend_for(self.zone)
        except InvalidCredentials as err:
            self._credentials_problem(err)
            return []
        except (CfPurgeConfigurationError, BackendError) as err:
            kind = getattr(err, "error_kind", ErrorKind.SETTINGS)
            self.drainer._fail(
                self.rows, self.token, kind, _zone_message(self.zone, err), zone=self.zone
            )
            return []
        if Kind.HIDE in backend.kinds or Kind.SHOW in backend.kinds:
            latest_visibility(self.rows, newer_rows(self.zone, self.rows))
        with backend:
            batch = Batch(
                self.rows,
                kinds=backend.kinds,
                limit=backend.max_items,
                purged_before=outcomes.purged_before,
            )
            self.batch = batch
            self.done += batch.empty()
            stopped = self._send_calls(
                backend, batch, deque(batch.calls(hold_partial=hold_partial))
            )
        self._finish()
        self.log.save()
        if stopped:
            return []
        if self.receipts:
            self._requeue_recovered()
        if batch.held:
            kept = batch.unfinished()
            self._save_progress(batch, kept)
            return kept
        return []

    def _credentials_problem(self, err: InvalidCredentials) -> None:
        message = _zone_message(self.zone, err)
        if err.error_kind == ErrorKind.CREDENTIALS and not has_secret(self.zone):
            self.drainer._wait(
                self.rows, self.token, ErrorKind.UNCONFIGURED, message, UNCONFIGURED_DELAY
            )
        else:
            self.drainer._fail(self.rows, self.token, err.error_kind, message, zone=self.zone)

    def _send_calls(self, backend: Backend, batch: Batch, calls: deque[Call]) -> bool:
        """Send the calls; True when an error stopped them (the rows are recorded)."""
        key = backend.rate_limit_key()
        while calls:
            call = calls.popleft()
            budget = backend.budget(call.kind)
            cost = backend.cost(call.kind, call.size)
            if not self._pace(batch, key, budget, cost):
                return True
            started = timezone.now()
            try:
                receipt = backend.purge(call.kind, list(call.items))
            except RequestRejected as err:
                safe = backend.safe_max_items(call.kind)
                if call.size > safe:
                    # Refused as too large, probably: split this call and the ones queued
                    # after it to the size every plan takes, and send again at once; the
                    # zone remembers the size that works.
                    self.log.add(call, batch.wanting(call), started, err, outcome="split")
                    resized = [call, *calls]
                    calls.clear()
                    calls.extend(_resize(resized, call.kind, safe))
                    self._learn_max_items(safe)
                    continue
                self.log.add(call, batch.wanting(call), started, err)
                self._stop(batch, err)
                return True
            except RateLimited as err:
                self.log.add(call, batch.wanting(call), started, err)
                pause = self.limiter.throttled(key, budget, err.retry_after)
                self._put_back(batch, ErrorKind.RATE_LIMITED, _zone_message(self.zone, err), pause)
                return True
            except BackendError as err:
                self.log.add(call, batch.wanting(call), started, err)
                self._stop(batch, err)
                return True
            self.limiter.succeeded(key, budget, cost)
            self.log.add(call, batch.wanting(call), started, None, receipt=receipt)
            self._sent(batch, call, receipt)
        return False

    def _pace(self, batch: Batch, key: str, budget: Any, cost: int) -> bool:
        """Wait for the shared limiter; False when the rows were put back instead."""
        try:
            self.limiter.acquire(key, budget, cost, max_wait=MAX_RATE_LIMIT_WAIT)
        except RateLimitWait as wait:
            self._put_back(
                batch,
                ErrorKind.RATE_LIMITED,
                gettext("Waiting for the shared rate limit."),
                wait.seconds,
            )
            return False
        except Exception as err:  # noqa: BLE001  (the cache is down: wait for it)
            if not self.drainer._halted:
                logger.warning(
                    "django-cfpurge: the rate limiter's cache is unavailable (%s); purges wait "
                    "%.0f s for it.",
                    type(err).__name__,
                    LIMITER_UNAVAILABLE_DELAY,
                )
            self.drainer._halted = True
            self._put_back(
                batch,
                ErrorKind.RATE_LIMITED,
                gettext(
                    "Waiting for the shared rate limiter: its cache is unavailable (%(error)s)."
                )
                % {"error": type(err).__name__},
                LIMITER_UNAVAILABLE_DELAY,
            )
            return False
        return True

    def _sent(self, batch: Batch, call: Call, receipt: str) -> None:
        self.report.api_calls += 1
        self.report.items[call.kind] += call.size
        self.receipts.append(receipt)
        self.sent[call.kind].extend(call.items)
        self.done += batch.record(call)

    def _put_back(self, batch: Batch, kind: str, message: str, delay: float) -> None:
        """Rows not finished wait ``delay`` without counting an attempt, keeping what was
        purged for them already."""
        remaining = batch.unfinished()
        self._save_progress(batch, remaining)
        self.drainer._wait(remaining, self.token, kind, message, delay)

    def _stop(self, batch: Batch, err: BackendError) -> None:
        remaining = batch.unfinished()
        self._save_progress(batch, remaining)
        message = _zone_message(self.zone, err)
        if err.transient:
            self.drainer._retry(remaining, self.token, err.error_kind, message, err.retry_after)
        else:
            self.drainer._fail(
                remaining, self.token, err.error_kind, message, zone=self.zone, error=err
            )

    def _save_progress(self, batch: Batch, rows: list[PurgeRequest]) -> None:
        for row in rows:
            if batch.made_progress(row):
                outcomes.save_progress(row, self.token, batch.progress(row))

    def _finish(self) -> None:
        """Record the rows every item of which was purged."""
        done = [r for r in self.done if r.status != Status.DONE]
        if not done:
            return
        result = {"zone": self.zone.name, "ids": sorted({r for r in self.receipts if r})}
        groups: dict[int, list[PurgeRequest]] = defaultdict(list)
        for row in done:
            groups[self.batch.calls_for(row) if self.batch else 0].append(row)
        for n_calls, group in groups.items():
            outcomes.mark_done(group, self.token, api_calls=n_calls, result=result)
        for row in done:
            row.status = Status.DONE
        self.report.done += len(done)
        purge_succeeded.send(
            sender=Zone,
            zone=self.zone,
            requests=done,
            targets={k: list(v) for k, v in self.sent.items()},
            api_calls=len(self.receipts),
        )

    def _requeue_recovered(self) -> None:
        # The CDN answers again: rows that ran out of attempts in an outage get another go.
        recovered = outcomes.requeue_recovered(self.zone)
        if recovered:
            self.report.requeued += recovered
            logger.info(
                "django-cfpurge: zone %s purges again; retrying %d request(s) that failed "
                "while it did not",
                self.zone.name,
                recovered,
            )

    def _learn_max_items(self, size: int) -> None:
        self.zone.max_items = size
        Zone.objects.filter(pk=self.zone.pk).update(
            max_items=size, max_items_learnt_at=timezone.now()
        )
        logger.info(
            "django-cfpurge: zone %s refused a large purge call; sending %d items per call",
            self.zone.name,
            size,
        )


def _resize(calls: list[Call], kind: str, size: int) -> list[Call]:
    """``calls`` with the items of ``kind`` cut again into calls of at most ``size`` (the
    other kinds' calls kept, in order)."""
    items = [item for call in calls if call.kind == kind for item in call.items]
    resized = Batch.split(Call(kind, tuple(items), frozenset()), size) if items else []
    others = [call for call in calls if call.kind != kind]
    # Kinds are sent in order and ``kind`` was the one being sent: its calls go first.
    return [*resized, *others]


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
