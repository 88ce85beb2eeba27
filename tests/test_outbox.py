"""The outbox: its queries, claiming with a lease, recording outcomes, requeues, pruning,
suspended batches, the request path's INSERT, and SQLite's write lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.utils import timezone

from django_cfpurge.models import PurgeChange, PurgeRequest, Zone
from django_cfpurge.outbox import claim, outcomes, write
from django_cfpurge.outbox.batches import release_batch, suspended
from django_cfpurge.outbox.claim import claim_due, transfer_claim
from django_cfpurge.outbox.ingest import ingest, ingest_all
from django_cfpurge.outbox.outcomes import (
    PURGED_KEY,
    ignore_rows,
    mark_done,
    mark_failed,
    mark_retry,
    mark_waiting,
    prune,
    purged_before,
    release,
    requeue_for_fix,
    requeue_recovered,
    retry_rows,
    save_progress,
)
from django_cfpurge.outbox.write import record_change, write_rows
from django_cfpurge.signals import purge_requested
from django_cfpurge.testing import make_zone
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db

PAST = timedelta(minutes=5)


def ago(delta: timedelta = PAST) -> datetime:
    return timezone.now() - delta


def later(delta: timedelta = timedelta(hours=1)) -> datetime:
    return timezone.now() + delta


def row(**fields) -> PurgeRequest:
    """A saved row: an explicit purge, due five minutes ago, unless told otherwise."""
    values = {
        "source": "api",
        "event": "manual",
        "targets": {"files": ["https://www.example.com/a.jpg"]},
        "next_attempt_at": ago(),
        **fields,
    }
    return PurgeRequest.objects.create(**values)


def change(obj: str, due: datetime | None = None, **fields) -> PurgeRequest:
    """A saved model-change row for object ``obj`` of testapp.Photo."""
    return row(
        source="model",
        event="changed",
        model_label="testapp.Photo",
        object_pk=obj,
        targets={},
        next_attempt_at=due or ago(),
        **fields,
    )


def ids(rows) -> list[int]:
    return sorted(r.pk for r in rows)


def fresh(r: PurgeRequest) -> PurgeRequest:
    return PurgeRequest.objects.get(pk=r.pk)


@pytest.fixture
def requested():
    """Every ``purge_requested`` signal sent during the test, as its ``count``."""
    counts: list[int] = []

    def receiver(sender, using=None, count=0, **kwargs):
        counts.append(count)

    purge_requested.connect(receiver, dispatch_uid="test_outbox:requested")
    yield counts
    purge_requested.disconnect(dispatch_uid="test_outbox:requested")


@pytest.fixture
def frozen(monkeypatch):
    """Outcomes computed at a fixed time in the past (so rows stay due) and without
    jitter: backoff delays are exact."""
    now = datetime(2020, 1, 1, tzinfo=dt_timezone.utc)
    monkeypatch.setattr(outcomes, "timezone", SimpleNamespace(now=lambda: now))
    monkeypatch.setattr(outcomes, "random", SimpleNamespace(uniform=lambda low, high: 1.0))
    return now


# -- queries ---------------------------------------------------------------------
def test_claimable_is_pending_due_and_not_held_by_a_live_claim():
    due = row()
    lapsed = row(claimed_until=ago(), claim_token="old")
    row(next_attempt_at=later())  # not due
    row(claimed_until=later(), claim_token="live")  # held
    row(status="failed")
    row(status="done")
    row(status="held")
    assert ids(PurgeRequest.objects.claimable()) == ids([due, lapsed])


def test_waiting_for_fix_takes_the_zone_and_unzoned_unconfigured_rows():
    zone, other = make_zone("example.com"), make_zone("example.net")
    mine = [
        row(zone=zone, status="failed", error_kind="auth"),
        row(zone=zone, status="pending", error_kind="zone"),
        row(zone=zone, status="failed", error_kind="credentials"),
        row(zone=zone, status="pending", error_kind="settings"),
        row(zone=zone, status="failed", error_kind="unreadable"),
        row(status="pending", error_kind="unconfigured"),
    ]
    row(zone=zone, status="failed", error_kind="server")  # transient, not a fix
    row(zone=zone, status="done", error_kind="auth")  # finished
    row(zone=other, status="failed", error_kind="auth")  # another zone
    row(status="failed", error_kind="auth")  # unzoned, but not "unconfigured"
    assert ids(PurgeRequest.objects.waiting_for_fix(zone)) == ids(mine)


def test_failed_transiently_is_the_zones_failed_rows_of_an_outage():
    zone, other = make_zone("example.com"), make_zone("example.net")
    outage = [
        row(zone=zone, status="failed", error_kind=kind)
        for kind in ("rate_limited", "server", "network", "invalid_response", "timeout")
    ]
    row(zone=zone, status="failed", error_kind="auth")
    row(zone=zone, status="failed", error_kind="rejected")
    row(zone=zone, status="pending", error_kind="server")
    row(zone=other, status="failed", error_kind="server")
    assert ids(PurgeRequest.objects.failed_transiently(zone)) == ids(outage)


def test_unconfigured_is_waiting_rows_without_a_zone_configured():
    waiting = row(error_kind="unconfigured")
    row(error_kind="unconfigured", status="failed")
    row(error_kind="auth")
    assert ids(PurgeRequest.objects.unconfigured()) == [waiting.pk]


def test_finished_before_is_finished_rows_created_before_the_cutoff():
    cutoff = ago(timedelta(days=10))
    old = ago(timedelta(days=11))
    finished = [row(status=status, created_at=old) for status in ("done", "skipped", "dropped")]
    finished.append(row(status="ignored", created_at=old))
    row(status="failed", created_at=old)
    row(status="pending", created_at=old)
    row(status="held", created_at=old)
    row(status="done", created_at=ago(timedelta(days=9)))
    assert ids(PurgeRequest.objects.finished_before(cutoff)) == ids(finished)


def test_retryable_is_failed_waiting_ignored_and_skipped_rows():
    retryable = [row(status=s) for s in ("failed", "pending", "ignored", "skipped")]
    for status in ("done", "dropped", "held"):
        row(status=status)
    assert ids(PurgeRequest.objects.retryable()) == ids(retryable)


def test_with_ids_and_owned_by():
    a, b, c = row(claim_token="t1"), row(claim_token="t1"), row(claim_token="t2")
    assert ids(PurgeRequest.objects.with_ids([a.pk, c.pk])) == ids([a, c])
    assert list(PurgeRequest.objects.with_ids([])) == []
    assert ids(PurgeRequest.objects.owned_by("t1", [a.pk, b.pk, c.pk])) == ids([a, b])
    assert list(PurgeRequest.objects.owned_by("t2", [a.pk])) == []


def test_queries_chain():
    zone = make_zone()
    match = row(zone=zone, status="failed", error_kind="auth", claim_token="t")
    row(zone=zone, status="failed", error_kind="auth", claim_token="u")
    chained = PurgeRequest.objects.waiting_for_fix(zone).retryable().owned_by("t", [match.pk])
    assert list(chained) == [match]


# -- claiming ----------------------------------------------------------------------
def test_claim_takes_due_rows_oldest_first_up_to_the_limit():
    rows = [row(next_attempt_at=ago(timedelta(minutes=m))) for m in (1, 9, 5, 7)]
    row(next_attempt_at=later())
    taken = claim_due(limit=2)
    assert [r.pk for r in taken.rows] == sorted([rows[1].pk, rows[3].pk])
    assert taken.full is True
    assert all(r.claim_token == taken.token and r.claimed_until for r in taken.rows)
    rest = claim_due(limit=10)
    assert ids(rest.rows) == ids([rows[0], rows[2]])
    assert rest.full is False
    assert rest.token != taken.token


def test_limit_defaults_to_the_claim_batch_size(settings):
    settings.CFPURGE = {"CLAIM_BATCH_SIZE": 3}
    for _ in range(5):
        row()
    taken = claim_due()
    assert len(taken.rows) == 3
    assert taken.full is True


def test_claim_sets_a_lease_of_claim_lease_seconds(settings, monkeypatch):
    settings.CFPURGE = {"CLAIM_LEASE_SECONDS": 90}
    now = timezone.now()
    monkeypatch.setattr(claim, "timezone", SimpleNamespace(now=lambda: now))
    row(next_attempt_at=now - PAST)
    (taken,) = claim_due().rows
    assert fresh(taken).claimed_until == now + timedelta(seconds=90)


def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out():
    r = row()
    first = claim_due()
    assert ids(first.rows) == [r.pk]
    assert claim_due().rows == []
    assert claim_due(ids=[r.pk]).rows == []
    # The worker died: its lease runs out.
    PurgeRequest.objects.filter(pk=r.pk).update(claimed_until=ago(timedelta(seconds=1)))
    second = claim_due()
    assert ids(second.rows) == [r.pk]
    assert fresh(r).claim_token == second.token
    # The dead worker's claim can no longer record anything.
    assert mark_done(first.rows, first.token, api_calls=1, result={}) == 0
    assert fresh(r).status == "pending"


def test_claim_by_ids_takes_only_those_that_are_due():
    a, b, c = row(), row(), row(next_attempt_at=later())
    change("1")
    taken = claim_due(ids=[a.pk, c.pk])
    assert ids(taken.rows) == [a.pk]
    assert fresh(b).claim_token == ""


def test_claim_looks_ahead_for_rows_of_the_same_objects():
    start = ago(timedelta(hours=1))

    def at(n):
        return start + timedelta(seconds=n)

    a1, b2 = change("1", at(1)), change("2", at(2))
    c3 = change("3", at(3))
    a1_again = change("1", at(4))
    explicit = row(next_attempt_at=at(5))
    b2_again = change("2", at(6))
    change("1", later())  # same object, not due
    filler = [change(str(100 + n), at(10 + n)) for n in range(6)]
    beyond = change("1", at(100))  # past the look-ahead window of 2 * (1 + 4) rows
    taken = claim_due(limit=2)
    assert ids(taken.rows) == ids([a1, b2, a1_again, b2_again])
    assert taken.full is True
    left = ids(PurgeRequest.objects.claimable())
    assert left == ids([c3, explicit, *filler, beyond])


def test_claim_by_ids_does_not_look_ahead():
    a = change("1")
    change("1")
    assert ids(claim_due(ids=[a.pk]).rows) == [a.pk]


def test_transfer_claim_moves_rows_to_the_new_claim():
    a, b = row(), row()
    first = claim_due(ids=[a.pk])
    second = claim_due(ids=[b.pk])
    transfer_claim(first.rows, second.token)
    assert fresh(a).claim_token == second.token
    assert first.rows[0].claim_token == second.token
    assert mark_done([*first.rows, *second.rows], second.token, api_calls=1, result={}) == 2


def test_transfer_claim_leaves_rows_another_worker_claimed_since():
    a = row()
    mine = claim_due(ids=[a.pk])
    # My lease ran out between two passes and another worker took the row.
    PurgeRequest.objects.filter(pk=a.pk).update(claimed_until=ago(timedelta(seconds=1)))
    theirs = claim_due()
    assert ids(theirs.rows) == [a.pk]
    later_pass = claim_due()
    transfer_claim(mine.rows, later_pass.token)
    assert fresh(a).claim_token == theirs.token
    assert mine.rows[0].claim_token == mine.token
    assert mark_done(theirs.rows, theirs.token, api_calls=1, result={}) == 1


# -- outcomes ----------------------------------------------------------------------
def test_mark_done_records_the_purge():
    r = row(attempts=2, api_calls=1, error_kind="server", last_error="boom")
    taken = claim_due()
    assert mark_done(taken.rows, taken.token, api_calls=3, result={"ok": True}) == 1
    done = fresh(r)
    assert (done.status, done.attempts, done.api_calls) == ("done", 3, 4)
    assert (done.error_kind, done.last_error, done.claimed_until) == ("", "", None)
    assert done.result == {"ok": True}
    assert done.done_at is not None


def test_only_the_claim_that_holds_a_row_records_its_outcome():
    r = row()
    taken = claim_due()
    assert mark_done(taken.rows, "someone-else", api_calls=1, result={}) == 0
    assert mark_failed(taken.rows, "someone-else", error_kind="auth", message="x") == 0
    assert mark_waiting(taken.rows, "someone-else", error_kind="x", message="x", delay=1) == 0
    assert release(taken.rows, "someone-else") == 0
    assert fresh(r).status == "pending"
    assert fresh(r).claim_token == taken.token


def test_mark_retry_backs_off_further_each_attempt_and_gives_up(settings, frozen):
    settings.CFPURGE = {"MAX_ATTEMPTS": 4, "RETRY_BASE_SECONDS": 10, "RETRY_MAX_SECONDS": 3600}
    r = row()
    delays = []
    for attempt in (1, 2, 3):
        taken = claim_due(ids=[r.pk])
        retried, failed = mark_retry(
            taken.rows, taken.token, error_kind="server", message="Cloudflare answered 502."
        )
        assert (ids(retried), failed) == ([r.pk], [])
        saved = fresh(r)
        assert (saved.status, saved.attempts, saved.claimed_until) == ("pending", attempt, None)
        assert (saved.error_kind, saved.last_error) == ("server", "Cloudflare answered 502.")
        delays.append((saved.next_attempt_at - frozen).total_seconds())
    assert delays == [10, 20, 40]
    taken = claim_due(ids=[r.pk])
    retried, failed = mark_retry(taken.rows, taken.token, error_kind="server", message="502.")
    assert (retried, ids(failed)) == ([], [r.pk])
    gave_up = fresh(r)
    assert (gave_up.status, gave_up.attempts, gave_up.error_kind) == ("failed", 4, "server")
    assert gave_up.last_error == "502. (gave up after 4 attempts)"
    assert gave_up.claimed_until is None


def test_mark_retry_honours_retry_after_and_the_cap(settings, frozen):
    settings.CFPURGE = {"RETRY_BASE_SECONDS": 10, "RETRY_MAX_SECONDS": 60}
    slow, capped = row(), row(attempts=9)
    taken = claim_due()
    by_pk = {r.pk: r for r in taken.rows}
    mark_retry(
        [by_pk[slow.pk]], taken.token, error_kind="rate_limited", message="429", retry_after=300
    )
    mark_retry([by_pk[capped.pk]], taken.token, error_kind="server", message="503")
    assert fresh(slow).next_attempt_at - frozen == timedelta(seconds=300)
    assert fresh(capped).next_attempt_at - frozen == timedelta(seconds=60)
    assert fresh(capped).attempts == 10


def test_max_attempts_one_fails_at_the_first_error(settings):
    settings.CFPURGE = {"MAX_ATTEMPTS": 1}
    r = row()
    taken = claim_due()
    retried, failed = mark_retry(taken.rows, taken.token, error_kind="network", message="down")
    assert (retried, ids(failed)) == ([], [r.pk])
    assert fresh(r).last_error == "down (gave up after 1 attempt)"


def test_mark_failed_counts_the_attempt_and_keeps_the_reason():
    r = row(attempts=1)
    taken = claim_due()
    mark_failed(taken.rows, taken.token, error_kind="auth", message="Token refused.")
    failed = fresh(r)
    assert (failed.status, failed.attempts, failed.error_kind) == ("failed", 2, "auth")
    assert failed.last_error == "Token refused."
    assert failed.done_at is not None
    assert taken.rows[0].status == "failed"


def test_mark_waiting_counts_no_attempt(frozen):
    r = row(attempts=3)
    taken = claim_due()
    mark_waiting(taken.rows, taken.token, error_kind="disabled", message="off", delay=120)
    waiting = fresh(r)
    assert (waiting.status, waiting.attempts, waiting.claimed_until) == ("pending", 3, None)
    assert (waiting.error_kind, waiting.last_error) == ("disabled", "off")
    assert waiting.next_attempt_at == frozen + timedelta(seconds=120)


def test_release_gives_rows_back_due_now_without_an_attempt():
    r = row(attempts=2)
    taken = claim_due()
    assert claim_due().rows == []
    assert release(taken.rows, taken.token) == 1
    assert fresh(r).attempts == 2
    assert ids(claim_due().rows) == [r.pk]


def test_save_progress_is_read_back_by_purged_before():
    r = row(result={"note": "kept"})
    taken = claim_due()
    purged = {("files", "https://www.example.com/a.jpg"), ("tags", "t1")}
    save_progress(taken.rows[0], taken.token, purged)
    saved = fresh(r)
    assert saved.result["note"] == "kept"
    assert saved.result[PURGED_KEY] == [
        ["files", "https://www.example.com/a.jpg"],
        ["tags", "t1"],
    ]
    assert purged_before(saved) == purged
    assert purged_before(row()) == set()
    assert purged_before(row(result=["not", "a", "dict"])) == set()


def test_save_progress_by_another_claim_changes_nothing():
    r = row()
    taken = claim_due()
    save_progress(taken.rows[0], "someone-else", {("tags", "t")})
    assert purged_before(fresh(r)) == set()


def test_requeue_for_fix_makes_the_zones_rows_due_with_attempts_reset(requested):
    zone, other = make_zone("example.com"), make_zone("example.net")
    auth = row(zone=zone, status="failed", error_kind="auth", attempts=1, done_at=ago())
    waiting = row(zone=zone, error_kind="zone", attempts=3, next_attempt_at=later())
    unconfigured = row(error_kind="unconfigured", attempts=2, next_attempt_at=later())
    untouched = [
        row(zone=other, status="failed", error_kind="auth", attempts=1),
        row(zone=zone, status="failed", error_kind="server", attempts=16),
        row(zone=zone, status="done"),
    ]
    assert requeue_for_fix(zone) == 3
    assert requested == [3]
    for r in (auth, waiting, unconfigured):
        saved = fresh(r)
        assert (saved.status, saved.attempts, saved.done_at) == ("pending", 0, None)
    assert ids(PurgeRequest.objects.claimable()) == ids([auth, waiting, unconfigured])
    assert [fresh(r).status for r in untouched] == ["failed", "failed", "done"]


def test_requeue_for_fix_with_nothing_waiting_sends_no_signal(requested):
    assert requeue_for_fix(make_zone()) == 0
    assert requested == []


def test_requeue_recovered_retries_rows_failed_in_an_outage():
    zone = make_zone()
    outage = row(zone=zone, status="failed", error_kind="server", attempts=16, done_at=ago())
    auth = row(zone=zone, status="failed", error_kind="auth", attempts=1)
    assert requeue_recovered(zone) == 1
    saved = fresh(outage)
    assert (saved.status, saved.attempts, saved.done_at) == ("pending", 0, None)
    assert fresh(auth).status == "failed"


def test_retry_rows_makes_rows_due_now_with_a_fresh_series_of_attempts(settings, requested):
    settings.CFPURGE = {"MAX_ATTEMPTS": 3}
    gave_up = row(status="failed", error_kind="server", attempts=3, done_at=ago())
    ignored = row(status="ignored", done_at=ago())
    done = row(status="done", done_at=ago())
    later_row = row(next_attempt_at=later(), attempts=1)
    count = retry_rows(PurgeRequest.objects.all())
    assert count == 3
    assert requested == [3]
    assert ids(PurgeRequest.objects.claimable()) == ids([gave_up, ignored, later_row])
    assert fresh(done).status == "done"
    # One more transient error is retried, not the end of the row.
    taken = claim_due(ids=[gave_up.pk])
    retried, failed = mark_retry(taken.rows, taken.token, error_kind="server", message="503")
    assert (ids(retried), failed) == ([gave_up.pk], [])


def test_ignore_rows_leaves_purged_rows_alone():
    pending, failed, done = row(), row(status="failed"), row(status="done")
    assert ignore_rows(PurgeRequest.objects.all()) == 2
    assert [fresh(r).status for r in (pending, failed, done)] == ["ignored", "ignored", "done"]
    assert PurgeRequest.objects.claimable().count() == 0


def test_prune_deletes_old_finished_and_old_unconfigured_rows(settings, caplog):
    settings.CFPURGE = {"RETENTION_DAYS": 7}
    old, recent = ago(timedelta(days=8)), ago(timedelta(days=6))
    for status in ("done", "skipped", "dropped", "ignored"):
        row(status=status, created_at=old)
    row(error_kind="unconfigured", created_at=old)
    row(error_kind="unconfigured", created_at=old)
    kept = [
        row(status="done", created_at=recent),
        row(error_kind="unconfigured", created_at=recent),
        row(status="failed", created_at=old),
        row(status="pending", error_kind="server", created_at=old),
        row(status="held", created_at=old),
    ]
    caplog.set_level(logging.WARNING, logger="django_cfpurge")
    assert prune() == 6
    assert ids(PurgeRequest.objects.all()) == ids(kept)
    (record,) = [r for r in caplog.records if r.name == "django_cfpurge.outbox.outcomes"]
    assert record.levelno == logging.WARNING
    assert "deleted 2 purge request(s)" in record.getMessage()
    assert "7 days" in record.getMessage()


def test_prune_takes_the_api_calls_of_the_rows_it_deletes(settings):
    from django_cfpurge.models import PurgeCall

    settings.CFPURGE = {"RETENTION_DAYS": 7}
    old = ago(timedelta(days=8))
    gone, failed = row(status="done", created_at=old), row(status="failed", created_at=old)

    def call(*rows: PurgeRequest, at: datetime) -> PurgeCall:
        made = PurgeCall.objects.create(
            backend="cloudflare", kind="files", items=1, outcome="ok", started_at=at
        )
        made.requests.set(rows)
        return made

    call(gone, at=old)
    kept_by_row = call(failed, at=old)
    shared = call(gone, failed, at=old)
    recent = call(at=ago(timedelta(days=1)))
    assert prune() == 1
    assert set(PurgeCall.objects.values_list("pk", flat=True)) == {
        kept_by_row.pk,
        shared.pk,
        recent.pk,
    }


def test_prune_with_nothing_stale_logs_nothing(caplog):
    row(status="done", created_at=ago(timedelta(days=100)))
    caplog.set_level(logging.WARNING, logger="django_cfpurge")
    assert prune(days=30) == 1
    assert caplog.records == []


# -- suspended batches -------------------------------------------------------------
def explicit() -> PurgeRequest:
    return write.record_targets({"tags": ["t"]})


def test_rows_written_while_suspended_are_held_then_released_once(requested):
    with suspended() as batch:
        a, b = explicit(), explicit()
        assert [fresh(r).status for r in (a, b)] == ["held", "held"]
        assert PurgeRequest.objects.claimable().count() == 0
        assert requested == []
    assert batch["rows"] == 2
    assert requested == [2]
    assert [fresh(r).status for r in (a, b)] == ["pending", "pending"]
    assert release_batch(batch["id"]) == 0
    assert requested == [2]


def test_nested_suspended_blocks_join_the_outer_batch(requested):
    with suspended() as outer:
        explicit()
        with suspended() as inner:
            explicit()
        assert inner is outer
        assert requested == []
        assert PurgeRequest.objects.filter(status="held").count() == 2
    assert requested == [2]


def test_suspended_releases_even_when_the_block_raises(requested):
    with pytest.raises(RuntimeError), suspended():
        r = explicit()
        raise RuntimeError
    assert fresh(r).status == "pending"
    assert requested == [1]


def test_suspended_discard_drops_the_rows(requested):
    with suspended(discard=True):
        r = explicit()
    dropped = fresh(r)
    assert dropped.status == "dropped"
    assert "discard=True" in dropped.last_error
    assert dropped.done_at is not None
    assert requested == []
    assert PurgeRequest.objects.claimable().count() == 0


def test_release_batch_touches_only_its_own_batch():
    with suspended() as first:
        a = explicit()
        other = row(status="held", batch="another")
    assert release_batch(first["id"]) == 0
    assert fresh(a).status == "pending"
    assert fresh(other).status == "held"
    assert release_batch("another", discard=True) == 1
    assert fresh(other).status == "dropped"


# -- the request path's write ------------------------------------------------------
PHOTOS = SimpleNamespace(label="testapp.Photo")


def test_a_model_change_is_one_statement(django_assert_num_queries, requested):
    photo = Photo(pk=7, title="Cat")
    change = {"files": {"image": [None, "photos/cat.jpg"]}, "fields": {}}
    with django_assert_num_queries(1):
        record_change(PHOTOS, photo, "created", change)
    assert requested == [1]
    assert ingest_all() == 1
    queued = PurgeRequest.objects.get()
    assert (queued.source, queued.event, queued.status) == ("model", "created", "pending")
    assert (queued.model_label, queued.object_pk, queued.object_repr) == (
        "testapp.Photo",
        "7",
        "Cat",
    )
    assert queued.change == change
    assert queued.next_attempt_at == queued.created_at
    assert list(PurgeRequest.objects.claimable()) == [queued]


def test_a_user_str_that_raises_never_breaks_the_write():
    class Broken(Photo):
        class Meta:
            proxy = True
            app_label = "testapp"

        def __str__(self):
            raise RuntimeError("boom")

    record_change(PHOTOS, Broken(pk=3), "changed", {})
    ingest_all()
    assert PurgeRequest.objects.get().object_repr == "Broken 3"


def test_recorded_changes_become_due_purge_requests_oldest_first():
    for pk in (1, 2, 3):
        record_change(PHOTOS, Photo(pk=pk), "changed", {"fields": {"is_public": [True, False]}})
    assert ingest() == 3
    assert PurgeChange.objects.count() == 0
    rows = list(PurgeRequest.objects.order_by("id"))
    assert [r.object_pk for r in rows] == ["1", "2", "3"]
    assert {(r.source, r.event, r.status, r.model_label) for r in rows} == {
        ("model", "changed", "pending", "testapp.Photo")
    }
    assert rows[0].change == {"fields": {"is_public": [True, False]}}
    assert ids(PurgeRequest.objects.claimable()) == ids(rows)
    assert ingest() == 0


def test_ingest_moves_at_most_its_limit():
    for pk in range(5):
        record_change(PHOTOS, Photo(pk=pk), "changed", {})
    assert ingest(limit=2) == 2
    assert PurgeChange.objects.count() == 3
    assert list(PurgeRequest.objects.order_by("id").values_list("object_pk", flat=True)) == [
        "0",
        "1",
    ]
    assert ingest_all() == 3


def test_write_rows_writes_and_announces_explicit_purges(requested):
    rows = write_rows(
        [
            PurgeRequest(source="api", event="manual", targets={"tags": ["a"]}),
            PurgeRequest(source="api", event="manual", targets={"tags": ["b"]}),
        ]
    )
    assert all(r.pk is not None for r in rows)
    assert [fresh(r).targets for r in rows] == [{"tags": ["a"]}, {"tags": ["b"]}]
    assert requested == [2]


def test_write_rows_of_nothing_writes_and_announces_nothing(django_assert_num_queries, requested):
    with django_assert_num_queries(0):
        assert write_rows([]) == []
    assert requested == []


def test_changes_recorded_while_suspended_are_held_then_released(requested):
    with suspended() as batch:
        record_change(PHOTOS, Photo(pk=1), "changed", {})
        record_change(PHOTOS, Photo(pk=2), "changed", {})
        ingest_all()
        assert requested == []
        assert PurgeRequest.objects.claimable().count() == 0
    assert requested == [2]
    ingest_all()
    assert sorted(PurgeRequest.objects.claimable().values_list("object_pk", flat=True)) == [
        "1",
        "2",
    ]
    assert release_batch(batch["id"]) == 0
    assert requested == [2]


def test_changes_recorded_while_suspended_with_discard_are_dropped(requested):
    with suspended(discard=True):
        record_change(PHOTOS, Photo(pk=1), "changed", {})
    ingest_all()
    assert requested == []
    dropped = PurgeRequest.objects.get()
    assert (dropped.status, dropped.object_pk) == ("dropped", "1")
    assert "discard=True" in dropped.last_error
    assert PurgeRequest.objects.claimable().count() == 0


# -- SQLite: the write lock and "database is locked" -------------------------------
def open_file_database(name: str, path: str, *, timeout: float):
    """A connection of this thread to a file SQLite database, as ``connections[name]``.

    Made here rather than declared in ``DATABASES``: Django's test case refuses
    connections to declared databases a test did not ask for, and pytest-django can only
    ask for databases it created.
    """
    settings_dict = {
        **connections["default"].settings_dict,
        "NAME": path,
        "OPTIONS": {"timeout": timeout},
    }
    connection = SQLiteWrapper(settings_dict, alias=name)
    connections[name] = connection
    return connection


def close_file_database(name: str) -> None:
    connections[name].close()
    del connections[name]


@pytest.fixture
def file_db(tmp_path):
    """A file SQLite database that answers "database is locked" at once (no busy
    timeout), holding an outbox table with an id column."""
    path = str(tmp_path / "outbox.sqlite3")
    name = "cfpurge_file_test"
    connection = open_file_database(name, path, timeout=0)
    table = connection.ops.quote_name(PurgeRequest._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    yield SimpleNamespace(alias=name, path=path, table=table)
    close_file_database(name)


def other_process(path: str) -> sqlite3.Connection:
    """Another connection to the same file, as another worker process would hold."""
    return sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)


def test_take_write_lock_holds_the_write_lock_from_the_start(file_db):
    other = other_process(file_db.path)
    try:
        with transaction.atomic(using=file_db.alias):
            claim.take_write_lock(file_db.alias)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_read_alone_does_not_take_the_write_lock(file_db):
    # The contrast that makes take_write_lock necessary: a plain transaction only reads.
    other = other_process(file_db.path)
    try:
        with transaction.atomic(using=file_db.alias):
            with connections[file_db.alias].cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {file_db.table}")  # noqa: S608
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_take_write_lock_changes_no_row(file_db):
    connection = connections[file_db.alias]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {file_db.table} (id) VALUES (7)")  # noqa: S608
    with transaction.atomic(using=file_db.alias):
        claim.take_write_lock(file_db.alias)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {file_db.table}")  # noqa: S608
        assert cursor.fetchall() == [(7,)]


def test_retry_locked_waits_out_a_locked_database(file_db, monkeypatch):
    other = other_process(file_db.path)
    other.execute("BEGIN IMMEDIATE")  # another worker is writing
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 2:
            other.execute("COMMIT")  # ... and finishes during our second pause

    monkeypatch.setattr(claim.time, "sleep", pause)
    attempts = []

    def work():
        attempts.append(1)
        with transaction.atomic(using=file_db.alias):
            claim.take_write_lock(file_db.alias)
            with connections[file_db.alias].cursor() as cursor:
                cursor.execute(f"INSERT INTO {file_db.table} (id) VALUES (1)")  # noqa: S608
        return "written"

    try:
        assert claim.retry_locked(work, using=file_db.alias) == "written"
    finally:
        other.close()
    assert len(attempts) == 3
    assert pauses == [0.05, 0.1]
    with connections[file_db.alias].cursor() as cursor:
        cursor.execute(f"SELECT id FROM {file_db.table}")  # noqa: S608
        assert cursor.fetchall() == [(1,)]


def test_retry_locked_gives_up_after_its_attempts(file_db, monkeypatch):
    pauses = []
    monkeypatch.setattr(claim.time, "sleep", pauses.append)
    attempts = []

    def work():
        attempts.append(1)
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError, match="database is locked"):
        claim.retry_locked(work, using=file_db.alias)
    assert len(attempts) == claim.SQLITE_LOCK_RETRIES
    assert len(pauses) == claim.SQLITE_LOCK_RETRIES - 1


@pytest.mark.parametrize(
    "error",
    [OperationalError("no such table: x"), ValueError("database is locked"), KeyError("locked")],
)
def test_retry_locked_raises_other_errors_at_once(file_db, monkeypatch, error):
    pauses = []
    monkeypatch.setattr(claim.time, "sleep", pauses.append)
    attempts = []

    def work():
        attempts.append(1)
        raise error

    with pytest.raises(type(error)):
        claim.retry_locked(work, using=file_db.alias)
    assert (len(attempts), pauses) == (1, [])


class _FileDbRouter:
    alias = ""

    def db_for_read(self, model, **hints):
        return self.alias if model is PurgeRequest else None

    def db_for_write(self, model, **hints):
        return self.alias if model is PurgeRequest else None


@pytest.fixture
def outbox_on_file(tmp_path, settings):
    """The outbox (zones and purge requests) routed to a file SQLite database, with
    SQLite's usual busy timeout; each thread opens its own connection to it."""
    name = "cfpurge_threads_test"
    path = str(tmp_path / "threads.sqlite3")
    with open_file_database(name, path, timeout=20).schema_editor() as editor:
        editor.create_model(get_user_model())  # purge requests name who asked
        editor.create_model(Zone)
        editor.create_model(PurgeRequest)
    _FileDbRouter.alias = name
    settings.DATABASE_ROUTERS = [f"{__name__}._FileDbRouter"]
    yield SimpleNamespace(alias=name, path=path)
    close_file_database(name)


def test_two_workers_claiming_at_once_never_share_a_row(outbox_on_file):
    PurgeRequest.objects.using(outbox_on_file.alias).bulk_create(
        [PurgeRequest(source="api", event="manual", next_attempt_at=ago()) for _ in range(40)]
    )
    start = threading.Barrier(4)
    claimed: list[list[int]] = []
    errors: list[BaseException] = []

    def worker():
        open_file_database(outbox_on_file.alias, outbox_on_file.path, timeout=20)
        try:
            start.wait()
            for _ in range(3):
                claimed.append([r.pk for r in claim_due(limit=5).rows])
        except BaseException as err:  # noqa: BLE001  (reported by the assertion below)
            errors.append(err)
        finally:
            close_file_database(outbox_on_file.alias)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [pk for batch in claimed for pk in batch]
    assert len(every) == len(set(every)) == 40
    assert sorted(len(batch) for batch in claimed) == [0] * 4 + [5] * 8
