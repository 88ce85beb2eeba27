"""Dispatch after commit: coalesced, and harmless when the broker is down."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from kombu.exceptions import OperationalError

from django_cfpurge import api, tasks
from django_cfpurge.dispatch import (
    MAX_FOLLOWUP_SECONDS,
    SCHEDULED_KEY,
    broker_backoff_remaining,
    dispatch_drain,
    schedule_followup,
)
from django_cfpurge.models import PurgeChange, PurgeRequest
from django_cfpurge.registry import registry
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.drain_outbox, "apply_async", lambda **kw: calls.append(kw))
    return calls


def test_burst_of_transactions_makes_one_drain(sent, django_capture_on_commit_callbacks):
    for i in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            api.purge_urls([f"https://www.example.com/{i}.jpg"])
    assert len(sent) == 1
    assert sent[0]["countdown"] == 1.0
    # Published on a connection that tries the broker once (no retries on the request path).
    assert sent[0]["connection"].transport_options["max_retries"] == 0
    assert PurgeRequest.objects.count() == 5


def test_drain_start_allows_the_next_dispatch(sent, monkeypatch):
    assert dispatch_drain() is True
    assert dispatch_drain() is False
    monkeypatch.setattr(
        "django_cfpurge.drain.drain", lambda **kw: type("R", (), {"as_dict": dict})()
    )
    tasks.drain_outbox.run()  # the task clears the marker when it starts
    assert dispatch_drain() is True
    assert len(sent) == 2


def test_broker_down_never_breaks_a_save(monkeypatch, caplog, django_capture_on_commit_callbacks):
    def refuse(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.drain_outbox, "apply_async", refuse)
    caplog.set_level(logging.WARNING)
    with registry.override():
        registry.register(Photo)
        with django_capture_on_commit_callbacks(execute=True):
            photo = Photo()
            photo.image.save("a.jpg", ContentFile(b"x"))
    assert Photo.objects.count() == 1
    assert PurgeChange.objects.count() == 1  # kept for the sweep
    assert "could not send the drain task" in caplog.text
    from django.core.cache import cache

    assert cache.get(SCHEDULED_KEY) is None  # the next change tries again


def test_disabled_sends_nothing(sent, settings):
    settings.CFPURGE = {"ENABLED": False}
    assert dispatch_drain() is False
    assert sent == []


def test_sweep_dispatches_when_rows_are_due(sent):
    PurgeRequest.objects.create(source="api", event="manual", targets={"files": ["/a"]})
    result = tasks.sweep.run()
    assert result == {"pruned": 0, "due": 1, "dispatched": True}
    assert len(sent) == 1


def test_after_a_broker_failure_saves_skip_the_broker_for_a_while(
    monkeypatch, caplog, django_capture_on_commit_callbacks
):
    attempts = []

    def refuse(**kwargs):
        attempts.append(kwargs)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.drain_outbox, "apply_async", refuse)
    caplog.set_level(logging.WARNING)
    for i in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            api.purge_urls([f"https://www.example.com/{i}.jpg"])
    assert len(attempts) == 1  # one connection timeout, not five
    assert PurgeRequest.objects.filter(status="pending").count() == 5
    assert "Not trying the broker again from this process for 30 s" in caplog.text
    assert 25 < broker_backoff_remaining() <= 30


def test_broker_backoff_zero_tries_every_time(monkeypatch, settings):
    settings.CFPURGE = {"BROKER_BACKOFF_SECONDS": 0}
    attempts = []

    def refuse(**kwargs):
        attempts.append(kwargs)
        raise OperationalError("Connection refused.")

    monkeypatch.setattr(tasks.drain_outbox, "apply_async", refuse)
    assert dispatch_drain() is False
    assert dispatch_drain() is False
    assert len(attempts) == 2


def test_drain_task_schedules_a_follow_up_for_rows_put_back(sent):
    due = timezone.now() + timedelta(seconds=40)
    PurgeRequest.objects.create(
        source="api", event="manual", targets={"files": ["/a"]}, next_attempt_at=due
    )
    report = tasks.drain_outbox.run()
    assert report["followup"] is True
    assert len(sent) == 1
    assert 38 <= sent[0]["countdown"] <= 40
    # A second worker finishing at the same moment does not schedule another.
    assert tasks.drain_outbox.run()["followup"] is False
    assert len(sent) == 1


def test_no_follow_up_when_nothing_waits(sent):
    PurgeRequest.objects.create(
        source="api", event="manual", targets={"files": ["/a"]}, status="done"
    )
    assert tasks.drain_outbox.run()["followup"] is False
    assert sent == []


def test_follow_up_countdown_is_capped(sent):
    assert schedule_followup(timezone.now() + timedelta(hours=5)) is True
    assert sent[0]["countdown"] == MAX_FOLLOWUP_SECONDS


def test_commits_after_a_publish_cost_no_cache_round_trip(sent, monkeypatch):
    """Until the drain this process published starts (its countdown), a commit's dispatch
    neither publishes nor asks the shared cache: the drain will see that commit too."""
    from django.core.cache import cache

    calls = []
    original = cache.add
    monkeypatch.setattr(cache, "add", lambda *a, **kw: calls.append(a) or original(*a, **kw))
    assert [dispatch_drain() for _ in range(5)] == [True, False, False, False, False]
    assert len(sent) == 1 and len(calls) == 1
    # Another process's drain started (the shared marker is gone): this process still
    # knows its own drain is pending and stays quiet until that one starts.
    cache.delete(SCHEDULED_KEY)
    assert dispatch_drain() is False and len(calls) == 1
