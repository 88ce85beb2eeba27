"""Is a worker draining? Due work that no worker took for a while says no, whether it is
a purge request or a change no worker has taken into the queue yet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from django_cfpurge import purge_urls
from django_cfpurge.models import PurgeChange, PurgeRequest
from django_cfpurge.registry import registry
from django_cfpurge.status import record_heartbeat, worker_state
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos():
    with registry.override():
        registry.register(Photo, fields=["image"])
        yield


def test_nothing_due_is_not_a_stall():
    state = worker_state()
    assert not state.stalled and state.oldest_due is None


def test_a_change_no_worker_took_for_ten_minutes_is_a_stall(photos):
    Photo.objects.create(image=ContentFile(b"x", name="a.jpg"))
    assert PurgeChange.objects.count() == 1 and not PurgeRequest.objects.exists()
    assert not worker_state().stalled  # just recorded: a worker has a moment
    PurgeChange.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    state = worker_state()
    assert state.stalled and state.since is None
    # A worker that drained after the change was made is not stalled.
    record_heartbeat()
    assert not worker_state().stalled


def test_a_request_due_for_ten_minutes_is_a_stall():
    purge_urls(["https://www.example.com/a.jpg"])
    PurgeRequest.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    assert worker_state().stalled
