"""Sends one zone's rows of a drain pass: build the backend, batch, pace, call, record.

A call refused as too large is split to the size every plan takes and sent again at
once (the zone remembers that size for a day); a 429 pauses the zone's rate for every
worker; any other error records the unfinished rows (retry later, or failed with a
message a person can act on), keeping what was purged for them already.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext

from .backends.base import Backend
from .batching import Batch, Call
from .conf import get_escalation_threshold
from .enums import ErrorKind, Kind, Status
from .escalation import Escalation, escalate, escalations_of
from .exceptions import (
    BackendError,
    CfPurgeConfigurationError,
    InvalidCredentials,
    RateLimited,
    RequestRejected,
)
from .file_states import latest_visibility, newer_rows
from .models import PurgeRequest, Zone
from .outbox import calls as call_log
from .outbox import outcomes
from .ratelimit import RateLimitWait
from .signals import purge_succeeded
from .zones import backend_for, has_secret

if TYPE_CHECKING:  # pragma: no cover
    from .drain import Drainer

logger = logging.getLogger(__name__)

#: Seconds rows wait when purging is off or no zone is configured (a zone being added
#: or fixed makes them due at once).
UNCONFIGURED_DELAY = 3600.0
#: Longest wait for the shared rate limiter inside one pass; beyond it the rows are put
#: back (not counted as an attempt) so a worker is never parked for long.
MAX_RATE_LIMIT_WAIT = 30.0
#: Seconds rows wait when the rate limiter's cache cannot be reached (not an attempt).
LIMITER_UNAVAILABLE_DELAY = 10.0


def zone_message(zone: Zone, err: Exception) -> str:
    """The message recorded on a zone's rows: which zone, then what went wrong."""
    return gettext("Zone “%(zone)s”: %(message)s") % {"zone": zone.name, "message": err}


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
        self.threshold: int | None = None
        self.escalations: list[Escalation] = []

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
                self.rows, self.token, kind, zone_message(self.zone, err), zone=self.zone
            )
            return []
        if Kind.HIDE in backend.kinds or Kind.SHOW in backend.kinds:
            latest_visibility(self.rows, newer_rows(self.zone, self.rows))
        self.threshold = get_escalation_threshold()
        self.escalations = escalate(self.rows, backend.kinds, self.threshold)
        try:
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
        finally:
            # Calls the CDN answered are recorded even when something after them raised
            # (a purge_succeeded receiver, the rate limiter's cache...).
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
        message = zone_message(self.zone, err)
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
                self._put_back(batch, ErrorKind.RATE_LIMITED, zone_message(self.zone, err), pause)
                return True
            except BackendError as err:
                self.log.add(call, batch.wanting(call), started, err)
                self._stop(batch, err)
                return True
            self.limiter.succeeded(key, budget, cost)
            self.log.add(
                call, batch.wanting(call), started, None, receipt=receipt, note=self._note(call)
            )
            self._sent(batch, call, receipt)
        return False

    def _note(self, call: Call) -> str:
        """What the purge log says of a call sent in place of many URLs."""
        if not self.escalations or self.threshold is None:
            return ""
        return " ".join(
            e.note(self.threshold)
            for e in self.escalations
            if e.kind == call.kind and e.target in call.items
        )

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
        message = zone_message(self.zone, err)
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
        groups: dict[tuple[int, tuple[Escalation, ...]], list[PurgeRequest]] = defaultdict(list)
        for row in done:
            n_calls = self.batch.calls_for(row) if self.batch else 0
            groups[(n_calls, tuple(escalations_of(row, self.escalations)))].append(row)
        for (n_calls, escalated), group in groups.items():
            extra = {"escalated": [e.as_dict() for e in escalated]} if escalated else {}
            outcomes.mark_done(group, self.token, api_calls=n_calls, result={**result, **extra})
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
