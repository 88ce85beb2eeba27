"""The record of every API call a drain makes: what it carried, what the CDN answered,
and which purge requests it served (saved in two statements per zone and pass)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ..batching import Call
from ..exceptions import BackendError
from ..models import PurgeCall, PurgeRequest, Zone, target_text

#: Items of a call kept on its record, to show what it was about.
SAMPLE_ITEMS = 5


def outcome_of(error: BackendError | None) -> str:
    """The :class:`~django_cfpurge.models.PurgeCall.Outcome` of an answer."""
    if error is None:
        return PurgeCall.Outcome.OK
    if error.error_kind == "rate_limited":
        return PurgeCall.Outcome.RATE_LIMITED
    return PurgeCall.Outcome.RETRY if error.transient else PurgeCall.Outcome.FAILED


class CallLog:
    """Collects the calls made for one zone, then saves them with :meth:`save`."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self._calls: list[tuple[PurgeCall, list[PurgeRequest]]] = []

    def add(
        self,
        call: Call,
        rows: list[PurgeRequest],
        started: datetime,
        error: BackendError | None,
        *,
        receipt: str = "",
        outcome: str = "",
        note: str = "",
    ) -> None:
        """Record one call, the rows it served, and the answer (``error`` None: accepted).

        :param note: what the log says of an accepted call (sent in place of many URLs).
        """
        record = PurgeCall(
            zone=self.zone,
            backend=self.zone.backend,
            kind=call.kind,
            items=call.size,
            sample=[target_text(item) for item in call.items[:SAMPLE_ITEMS]],
            outcome=outcome or outcome_of(error),
            status_code=error.status_code if error else 200,
            codes=sorted((str(c) for c in error.codes), key=str) if error else [],
            message=error.message if error else note,
            retry_after=error.retry_after if error else None,
            receipt=receipt[:255],
            started_at=started,
            duration_ms=max(0, int((timezone.now() - started).total_seconds() * 1000)),
        )
        self._calls.append((record, list(rows)))

    def save(self) -> None:
        """Write the collected calls and their links to the rows."""
        if not self._calls:
            return
        records = PurgeCall.objects.bulk_create([record for record, _rows in self._calls])
        through: Any = PurgeCall.requests.through
        links = [
            through(purgecall_id=record.pk, purgerequest_id=row.pk)
            for record, rows in zip(records, (rows for _r, rows in self._calls), strict=True)
            for row in rows
            if row.pk is not None
        ]
        through.objects.bulk_create(links, ignore_conflicts=True)
        self._calls = []
