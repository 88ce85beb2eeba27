"""One drain: claim due rows, resolve, route to zones, dedupe, chunk, rate-limit, send, record.

Every row claimed by a pass leaves it in a recorded state: done, failed (with a
message a person can act on), skipped (no zone serves its hosts), or pending again
with its next attempt time and the reason it waits.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import outbox
from .conf import get_setting
from .exceptions import (
    CfPurgeConfigurationError,
    CfPurgeError,
    CloudflareAPIError,
    CloudflareAuthError,
    CloudflareInvalidResponse,
    CloudflareNetworkError,
    CloudflareRateLimited,
    CloudflareRequestRejected,
    CloudflareServerError,
    CloudflareZoneNotFound,
    InvalidCredentials,
)
from .models import CloudflareZone, PurgeRequest
from .resolvers import KINDS, is_unpurgeable, resolve_row, target_host
from .signals import purge_failed, purge_succeeded
from .zones import ZoneRouter, active_zones, credentials_for

logger = logging.getLogger(__name__)

Status = PurgeRequest.Status

#: Seconds rows wait before they are looked at again when purging is off or no
#: zone is configured (a passing Test connection makes them due at once).
UNCONFIGURED_DELAY = 3600.0
#: Longest wait for the shared rate limiter inside one pass; beyond it the rows
#: are put back (not counted as an attempt) so a worker is never parked for long.
MAX_RATE_LIMIT_WAIT = 30.0
#: Seconds rows wait when the shared rate limiter's cache cannot be reached. Not an
#: attempt: nothing was sent for them, and an outage of the cache must not use up
#: ``MAX_ATTEMPTS``.
LIMITER_UNAVAILABLE_DELAY = 10.0

DISABLED_MESSAGE = _("Purging is switched off (CFPURGE['ENABLED'] is False).")
UNCONFIGURED_MESSAGE = _(
    "No Cloudflare zone is configured: add one in the admin (Cloudflare zones) or set "
    "CFPURGE['ZONE_ID'] and CFPURGE['API_TOKEN']."
)


_client_factory_override: list[Callable[..., Any]] = []


def default_client_factory() -> Callable[..., Any]:
    """The client class drains use: :class:`~django_cfpurge.cloudflare.CloudflareClient`,
    unless :func:`django_cfpurge.testing.capture_purges` put a fake in its place."""
    if _client_factory_override:
        return _client_factory_override[-1]
    from .cloudflare import CloudflareClient

    return CloudflareClient


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

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the counters."""
        data = {k: v for k, v in self.__dict__.items() if k != "items"}
        data["items"] = dict(self.items)
        return data


def _error_kind(err: CfPurgeError) -> str:
    mapping: list[tuple[type[CfPurgeError], str]] = [
        (CloudflareAuthError, outbox.ERROR_AUTH),
        (CloudflareZoneNotFound, outbox.ERROR_ZONE),
        (CloudflareRateLimited, outbox.ERROR_RATE_LIMITED),
        (CloudflareServerError, outbox.ERROR_SERVER),
        (CloudflareNetworkError, outbox.ERROR_NETWORK),
        (CloudflareInvalidResponse, outbox.ERROR_INVALID_RESPONSE),
        (CloudflareRequestRejected, outbox.ERROR_REJECTED),
        (InvalidCredentials, outbox.ERROR_CREDENTIALS),
    ]
    for cls, kind in mapping:
        if isinstance(err, cls):
            return kind
    return "error"


def _zone_message(zone: CloudflareZone, err: Exception) -> str:
    """The message recorded on a zone's rows: which zone, then what went wrong."""
    return gettext("Zone “%(zone)s”: %(message)s") % {"zone": zone.name, "message": err}


def _item_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True) if isinstance(item, dict) else str(item)


#: Key of ``PurgeRequest.result`` listing the targets an interrupted attempt purged
#: already, as ``[kind, item key]`` pairs: a retry sends only the others.
PURGED_KEY = "purged"


def _purged_before(row: PurgeRequest) -> set[tuple[str, str]]:
    data = row.result if isinstance(row.result, dict) else {}
    return {(str(kind), str(key)) for kind, key in data.get(PURGED_KEY) or []}


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Drainer:
    """Runs drain passes. Build one per drain; not shared between threads.

    :param client_factory: builds the Cloudflare client for a zone's credentials
        (tests and the fake server hook in here); defaults to
        :class:`~django_cfpurge.cloudflare.CloudflareClient`.
    :param progress: called with ``(rows_finished, rows_claimed)`` after each zone.
    """

    def __init__(
        self,
        *,
        client_factory: Callable[..., Any] | None = None,
        limiter: Any = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if client_factory is None:
            client_factory = default_client_factory()
        if limiter is None:
            from .ratelimit import RateLimiter

            limiter = RateLimiter()
        self.client_factory = client_factory
        self.limiter = limiter
        self.progress = progress
        self.report = DrainReport()
        # Set when the rate limiter's cache fails: the rest of the run would fail too.
        self._halted = False
        # Rows resolved in the current pass, saved together before sending.
        self._resolved: list[PurgeRequest] = []
        # Whether this pass keeps back partly filled calls, and the rows kept back.
        self._hold_partial = False
        self._carried: list[PurgeRequest] = []

    # -- passes ---------------------------------------------------------------------
    def run(self, *, ids: list[int] | None = None, max_passes: int | None = None) -> DrainReport:
        """Claim and process due rows until none is left (or ``max_passes``).

        While more rows are due, a pass keeps the last, partly filled API call of each
        kind for the next pass to fill (its rows stay claimed), so that N URLs cost
        ⌈N / batch⌉ calls however the passes cut them.
        """
        carried: list[PurgeRequest] = []
        token = ""
        while max_passes is None or self.report.passes < max_passes:
            claim = outbox.claim_due(ids=ids)
            if not claim.rows and not carried:
                break
            self.report.passes += 1
            self.report.claimed += len(claim.rows)
            if carried:
                outbox.transfer_claim(carried, claim.token)
                claim.rows = carried + claim.rows
            token = claim.token
            carried = self.process(claim, hold_partial=claim.full)
            if self._halted or not claim.rows:
                break
        if carried:
            # No more passes: send what was kept back.
            self.process(outbox.Claim(token=token, rows=carried), hold_partial=False)
        return self.report

    def process(self, claim: outbox.Claim, *, hold_partial: bool = False) -> list[PurgeRequest]:
        """Process one claimed batch; every row ends in a recorded state, except, with
        ``hold_partial``, the rows returned: their items fill less than one API call,
        they stay claimed, and the caller processes them again with its next claim."""
        self._carried = []
        self._hold_partial = hold_partial
        rows, token = claim.rows, claim.token
        if not get_setting("ENABLED"):
            self._wait(rows, token, outbox.ERROR_DISABLED, str(DISABLED_MESSAGE))
            return []
        zones = active_zones()
        if not zones:
            self._wait(rows, token, outbox.ERROR_UNCONFIGURED, str(UNCONFIGURED_MESSAGE))
            return []
        self._learn_zone_names(zones)
        router = ZoneRouter(zones)
        by_zone: dict[int, list[PurgeRequest]] = defaultdict(list)
        zone_objects: dict[int, CloudflareZone] = {}
        self._resolved = []
        for row in list(rows):
            for part in self._resolve(row, token, router):
                if part.zone is not None:
                    by_zone[part.zone.pk].append(part)
                    zone_objects[part.zone.pk] = part.zone
        # One statement for the pass, before anything is sent: a retry reuses it.
        outbox.save_resolutions(self._resolved)
        self._resolved = []
        for zone_pk, zone_rows in by_zone.items():
            zone = zone_objects[zone_pk]
            try:
                self._send_zone(zone, zone_rows, token)
            except Exception as err:
                logger.exception("django-cfpurge: unexpected error purging zone %s", zone.name)
                self._retry(
                    zone_rows,
                    token,
                    "error",
                    gettext("Unexpected error: %(error)s: %(message)s")
                    % {"error": type(err).__name__, "message": err},
                )
            if self.progress:
                self.progress(self.report.done + self.report.failed, self.report.claimed)
        carried, self._carried = self._carried, []
        return carried

    def _learn_zone_names(self, zones: list[CloudflareZone]) -> None:
        """Ask Cloudflare for the name (and plan) of zones that have no hostnames yet.

        A zone set only in settings has no hostnames until Test connection runs;
        without them no URL could be routed to it.
        """
        for zone in zones:
            if zone.hostname_patterns or not zone.has_secret():
                continue
            try:
                client = self.client_factory(credentials_for(zone))
                try:
                    info = client.get_zone()
                finally:
                    getattr(client, "close", lambda: None)()
            except (CfPurgeError, InvalidCredentials) as err:
                logger.info("django-cfpurge: could not learn zone %s's name: %s", zone.name, err)
                continue
            zone.cf_zone_name = info.name
            zone.cf_zone_status = info.status
            zone.plan = zone.plan or info.plan_legacy_id
            CloudflareZone.objects.filter(pk=zone.pk).update(
                cf_zone_name=zone.cf_zone_name, cf_zone_status=zone.cf_zone_status, plan=zone.plan
            )

    # -- resolution -----------------------------------------------------------------
    def _resolve(self, row: PurgeRequest, token: str, router: ZoneRouter) -> list[PurgeRequest]:
        """Resolve and route one row; returns the rows (the row and any split-off parts)
        that have targets on a zone."""
        if row.resolved and row.zone is not None:
            return [row]
        try:
            targets = resolve_row(row)
        except CfPurgeConfigurationError as err:
            self._fail([row], token, outbox.ERROR_RESOLVE, str(err), zone=None)
            return []
        except Exception as err:
            logger.warning("django-cfpurge: resolving %r failed", row, exc_info=True)
            self._retry([row], token, outbox.ERROR_RESOLVE, f"{type(err).__name__}: {err}")
            return []
        per_zone: dict[int, dict[str, list[Any]]] = {}
        zones: dict[int, CloudflareZone] = {}
        skipped: list[dict[str, str]] = []
        all_zones = [row.zone] if row.zone is not None else router.zones
        for kind in KINDS:
            for item in targets.get(kind, []):
                reason = is_unpurgeable(kind, item)
                if reason:
                    skipped.append({"target": _item_key(item), "reason": reason})
                    continue
                host = target_host(kind, item)
                if host is None:  # tags, everything: every zone in scope
                    destinations = all_zones
                else:
                    zone = router.route(host)
                    if row.zone is not None and zone != row.zone:
                        # An explicit zone takes hosts no zone claims, never another zone's.
                        unclaimed = zone is None and not row.zone.hostname_patterns
                        zone = row.zone if unclaimed else None
                    destinations = [zone] if zone else []
                    if not destinations:
                        skipped.append(
                            {
                                "target": _item_key(item),
                                "reason": gettext("No configured zone serves the host “%(host)s”.")
                                % {"host": host},
                            }
                        )
                for zone in destinations:
                    zones[zone.pk] = zone
                    per_zone.setdefault(zone.pk, {}).setdefault(kind, []).append(item)
        row.skipped_targets = skipped
        if not per_zone:
            row.targets = targets
            row.status = Status.SKIPPED
            row.done_at = timezone.now()
            row.error_kind = "unroutable"
            row.last_error = (
                skipped[0]["reason"] if skipped else gettext("Nothing to purge for this change.")
            )
            row.claimed_until = None
            self._resolved.append(row)
            self.report.skipped += 1
            return []
        parts = []
        zone_pks = list(per_zone)
        row.zone = zones[zone_pks[0]]
        row.targets = per_zone[zone_pks[0]]
        self._resolved.append(row)
        parts.append(row)
        extra = []
        for zone_pk in zone_pks[1:]:
            extra.append(
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
            )
        if extra:
            PurgeRequest.objects.bulk_create(extra)
            self.report.claimed += len(extra)
            parts += extra
        return parts

    # -- sending --------------------------------------------------------------------
    def _send_zone(self, zone: CloudflareZone, rows: list[PurgeRequest], token: str) -> None:
        try:
            credentials = credentials_for(zone)
        except InvalidCredentials as err:
            message = _zone_message(zone, err)
            if not zone.has_secret():
                self._wait(rows, token, outbox.ERROR_UNCONFIGURED, message)
            else:
                self._fail(rows, token, outbox.ERROR_CREDENTIALS, message, zone=zone)
            return
        plan = zone.plan or str(get_setting("PLAN") or "")
        bucket = credentials.account_id or credentials.zone_id
        client = self.client_factory(credentials)
        try:
            self._send_with(client, zone, rows, token, plan, bucket)
        finally:
            close = getattr(client, "close", None)
            if close:
                close()

    def _send_with(
        self,
        client: Any,
        zone: CloudflareZone,
        rows: list[PurgeRequest],
        token: str,
        plan: str,
        bucket: str,
    ) -> None:
        # Which rows wait for which item: an item purged once satisfies them all.
        pending_items: dict[int, set[tuple[str, str]]] = {}
        # Everything each row purges, including what an interrupted attempt sent already.
        all_items: dict[int, set[tuple[str, str]]] = {}
        order: dict[str, list[Any]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        everything = any("everything" in (r.targets or {}) for r in rows)
        for row in rows:
            keys = set()
            already = set() if everything else _purged_before(row)
            for kind, items in (row.targets or {}).items():
                if everything:
                    kind, items = "everything", [True]
                for item in items:
                    key = (kind, _item_key(item))
                    if key in already:
                        continue
                    keys.add(key)
                    if key not in seen:
                        seen.add(key)
                        order[kind].append(item)
            pending_items[row.pk] = keys
            all_items[row.pk] = keys | already
        calls_per_row: dict[int, int] = defaultdict(int)
        ids: list[str] = []
        calls = 0
        sent: dict[str, list[Any]] = defaultdict(list)
        held = False
        for kind in KINDS:
            items = order.get(kind, [])
            size = client.limit_for(kind) if kind != "everything" else 1
            batches = [[]] if kind == "everything" and items else _chunks(items, size)
            if self._hold_partial and kind != "everything" and batches and len(batches[-1]) < size:
                batches.pop()  # filled up by the next pass's rows
                held = True
            for chunk in batches:
                cost = len(chunk) if kind == "files" else 1
                try:
                    self.limiter.acquire(bucket, kind, cost, plan, max_wait=MAX_RATE_LIMIT_WAIT)
                except CfPurgeError as err:  # RateLimitWait: put back, not an attempt
                    remaining = [r for r in rows if pending_items[r.pk]]
                    self._keep_progress(remaining, pending_items, all_items, token)
                    wait = float(getattr(err, "seconds", MAX_RATE_LIMIT_WAIT))
                    self._wait(
                        remaining,
                        token,
                        outbox.ERROR_RATE_LIMITED,
                        gettext("Waiting for the shared rate limit."),
                        delay=wait,
                    )
                    self._finish_done(zone, rows, pending_items, token, calls_per_row, ids, sent)
                    return
                except Exception as err:  # noqa: BLE001  (the cache is down: wait for it)
                    self._limiter_unavailable(err)
                    self._finish_done(zone, rows, pending_items, token, calls_per_row, ids, sent)
                    remaining = [r for r in rows if pending_items[r.pk]]
                    self._keep_progress(remaining, pending_items, all_items, token)
                    self._wait(
                        remaining,
                        token,
                        outbox.ERROR_RATE_LIMITED,
                        gettext(
                            "Waiting for the shared rate limiter: its cache is unavailable "
                            "(%(error)s)."
                        )
                        % {"error": type(err).__name__},
                        delay=LIMITER_UNAVAILABLE_DELAY,
                    )
                    return
                try:
                    try:
                        result_id = client.purge_request(kind, chunk)
                    except ValueError as bad_item:  # an item Cloudflare would refuse
                        raise CloudflareRequestRejected(
                            gettext("These %(kind)s cannot be purged: %(reason)s")
                            % {"kind": kind, "reason": bad_item}
                        ) from bad_item
                except CloudflareAPIError as err:
                    calls += 1
                    if isinstance(err, CloudflareRateLimited):
                        try:
                            self.limiter.penalize(bucket, err.retry_after or 60.0)
                        except Exception as cache_err:  # noqa: BLE001  (the rows wait anyway)
                            self._limiter_unavailable(cache_err)
                    self._finish_done(zone, rows, pending_items, token, calls_per_row, ids, sent)
                    remaining = [r for r in rows if pending_items[r.pk]]
                    self._keep_progress(remaining, pending_items, all_items, token)
                    message = _zone_message(zone, err)
                    if err.transient:
                        self._retry(remaining, token, _error_kind(err), message, err.retry_after)
                    else:
                        self._fail(
                            remaining, token, _error_kind(err), message, zone=zone, error=err
                        )
                    return
                calls += 1
                self.report.api_calls += 1
                self.report.items[kind] += len(chunk) if kind != "everything" else 1
                ids.append(result_id)
                sent[kind].extend(chunk)
                done_keys = (
                    {(kind, _item_key(i)) for i in chunk} if chunk else {("everything", "True")}
                )
                for row in rows:
                    if pending_items[row.pk] & done_keys:
                        calls_per_row[row.pk] += 1
                        pending_items[row.pk] -= done_keys
        self._finish_done(zone, rows, pending_items, token, calls_per_row, ids, sent)
        if held:
            kept = [r for r in rows if pending_items[r.pk]]
            self._keep_progress(kept, pending_items, all_items, token)
            self._carried += kept
        if ids:
            # Cloudflare answers again: rows that ran out of attempts in an outage get
            # another go (in this drain's next pass).
            recovered = outbox.requeue_recovered(zone)
            if recovered:
                self.report.requeued += recovered
                logger.info(
                    "django-cfpurge: zone %s purges again; retrying %d request(s) that "
                    "failed while it did not",
                    zone.name,
                    recovered,
                )

    def _finish_done(
        self,
        zone: CloudflareZone,
        rows: list[PurgeRequest],
        pending_items: dict[int, set[tuple[str, str]]],
        token: str,
        calls_per_row: dict[int, int],
        ids: list[str],
        sent: dict[str, list[Any]],
    ) -> None:
        done = [r for r in rows if not pending_items[r.pk] and r.status != Status.DONE]
        if not done:
            return
        result = {"zone": zone.name, "ids": sorted(set(ids))}
        by_calls: dict[int, list[PurgeRequest]] = defaultdict(list)
        for row in done:
            by_calls[calls_per_row[row.pk]].append(row)
        for n_calls, group in by_calls.items():
            outbox.mark_done(group, token, api_calls=n_calls, result=result)
        for row in done:
            row.status = Status.DONE
        self.report.done += len(done)
        purge_succeeded.send(
            sender=CloudflareZone,
            zone=zone,
            requests=done,
            targets={k: list(v) for k, v in sent.items()},
            api_calls=len(ids),
        )
        sent.clear()

    def _keep_progress(
        self,
        rows: list[PurgeRequest],
        pending_items: dict[int, set[tuple[str, str]]],
        all_items: dict[int, set[tuple[str, str]]],
        token: str,
    ) -> None:
        """Record on rows put back what was purged for them already, so that a retry
        does not send it again (a row's targets can span two API calls)."""
        for row in rows:
            purged = all_items[row.pk] - pending_items[row.pk]
            if not purged or purged == _purged_before(row):
                continue
            result = dict(row.result) if isinstance(row.result, dict) else {}
            result[PURGED_KEY] = sorted([kind, key] for kind, key in purged)
            row.result = result
            PurgeRequest.objects.filter(pk=row.pk, claim_token=token).update(result=result)

    def _limiter_unavailable(self, err: Exception) -> None:
        if not self._halted:
            logger.warning(
                "django-cfpurge: the rate limiter's cache is unavailable (%s: %s); purges "
                "wait %.0f s for it.",
                type(err).__name__,
                err,
                LIMITER_UNAVAILABLE_DELAY,
            )
        self._halted = True

    # -- outcomes -------------------------------------------------------------------
    def _wait(
        self,
        rows: list[PurgeRequest],
        token: str,
        kind: str,
        message: str,
        delay: float = UNCONFIGURED_DELAY,
    ) -> None:
        if rows:
            outbox.mark_waiting(rows, token, error_kind=kind, message=message, delay=delay)
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
        retried, failed = outbox.mark_retry(
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
        zone: CloudflareZone | None,
        error: CfPurgeError | None = None,
    ) -> None:
        if not rows:
            return
        outbox.mark_failed(rows, token, error_kind=kind, message=message)
        self._report_failed(rows, error or CfPurgeError(message), zone)

    def _report_failed(
        self, rows: list[PurgeRequest], error: CfPurgeError, zone: CloudflareZone | None
    ) -> None:
        self.report.failed += len(rows)
        self.report.errors.append(str(error))
        for row in rows:
            logger.warning("django-cfpurge: purge request %s failed: %s", row.pk, error)
            purge_failed.send(sender=PurgeRequest, request=row, error=error, zone=zone)


def drain(
    *,
    ids: list[int] | None = None,
    max_passes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    client_factory: Callable[..., Any] | None = None,
) -> DrainReport:
    """Run one drain in this process and return its report. See :class:`Drainer`."""
    started = time.monotonic()
    report = Drainer(client_factory=client_factory, progress=progress).run(
        ids=ids, max_passes=max_passes
    )
    logger.debug(
        "django-cfpurge: drain finished in %.3fs: %s", time.monotonic() - started, report.as_dict()
    )
    return report


__all__ = ["DrainReport", "Drainer", "drain"]
