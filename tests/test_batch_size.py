"""The batch size finds the zone's limit by itself: 100 items per call by default, split
to 30 and sent again at once when a zone refuses that, remembered for a day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_cfpurge import purge_urls
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeCall, Zone
from django_cfpurge.testing.cloudflare_api import (
    DEFAULT_TOKEN,
    DEFAULT_ZONE_ID,
    FakeCloudflare,
)
from django_cfpurge.zones import reset_sync_cache

pytestmark = pytest.mark.django_db
BASE = "https://www.example.com"


@pytest.fixture
def fake_zone(settings, request):
    """A zone on the fake Cloudflare API, limited to 30 (``legacy``) or 100 (``current``)
    items per call, with the package's default settings."""
    with FakeCloudflare(
        zones=[{"id": DEFAULT_ZONE_ID, "name": "example.com", "plan": "pro"}],
        plan_limits_mode=request.param,
    ) as fake:
        settings.CFPURGE = {
            "API_URL": fake.api_url,
            "ZONE_ID": DEFAULT_ZONE_ID,
            "API_TOKEN": DEFAULT_TOKEN,
            "PLAN": "pro",
            "BASE_URLS": [BASE],
        }
        reset_sync_cache()
        yield fake
    reset_sync_cache()


def urls(n: int, prefix: str = "a") -> list[str]:
    return [f"{BASE}/{prefix}/{i}.jpg" for i in range(n)]


def statuses(fake: FakeCloudflare) -> list[tuple[int, int]]:
    return [(r["status"], r["items"]) for r in fake.requests(route="purge")]


@pytest.mark.parametrize("fake_zone", ["current"], indirect=True)
def test_a_zone_on_current_limits_takes_100_per_call(fake_zone):
    row = purge_urls(urls(250))
    drain()
    row.refresh_from_db()
    assert row.status == "done"
    assert [len(p["items"]) for p in fake_zone.purges()] == [100, 100, 50]
    assert Zone.objects.get().max_items is None


@pytest.mark.parametrize("fake_zone", ["legacy"], indirect=True)
def test_a_call_refused_as_too_large_is_split_and_sent_again_at_once(fake_zone):
    row = purge_urls(urls(250))
    report = drain()
    row.refresh_from_db()
    # Nothing failed, nothing lost: one refused call, then every URL in calls of 30.
    assert (row.status, row.attempts, row.error_kind) == ("done", 1, "")
    purged = [len(p["items"]) for p in fake_zone.purges()]
    assert purged == [30] * 8 + [10]  # ⌈250 / 30⌉ calls: the refused one cut again
    assert sorted(fake_zone.purged_urls()) == sorted(urls(250))
    refused = [r for r in fake_zone.requests(route="purge") if r["status"] == 400]
    assert len(refused) == 1 and report.failed == 0
    zone = Zone.objects.get()
    assert zone.max_items == 30 and zone.max_items_learnt_at is not None
    # The purge log keeps the refused call, marked as split.
    assert list(PurgeCall.objects.values_list("outcome", "items"))[:2] == [
        ("split", 100),
        ("ok", 30),
    ]

    # The next purge uses the size that worked, at once.
    fake_zone.reset()
    purge_urls(urls(60, "b"))
    drain()
    assert [len(p["items"]) for p in fake_zone.purges()] == [30, 30]
    assert all(r["status"] == 200 for r in fake_zone.requests(route="purge"))

    # A day later the larger size is tried again (the zone may have moved to the current
    # limits); refused again, it falls back and learns again.
    Zone.objects.update(max_items_learnt_at=timezone.now() - timedelta(days=1, minutes=1))
    fake_zone.reset()
    purge_urls(urls(60, "c"))
    drain()
    assert [r["status"] for r in fake_zone.requests(route="purge")] == [400, 200, 200]
    assert Zone.objects.get().max_items_learnt_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.cf_max_items(500)
@pytest.mark.parametrize("fake_zone", ["legacy"], indirect=True)
def test_the_learnt_size_is_forgotten_when_the_zone_moves_to_another_plan(fake_zone, settings):
    purge_urls(urls(40))
    drain()
    assert Zone.objects.get().max_items == 30
    # The zone moves to Enterprise (500 URLs per call): a deploy changes PLAN.
    fake_zone.reset()
    fake_zone.configure(plan_limits_mode="current")
    fake_zone.add_zone("example.com", id=DEFAULT_ZONE_ID, plan="enterprise")
    settings.CFPURGE = {**settings.CFPURGE, "PLAN": "enterprise"}
    purge_urls(urls(120, "e"))
    drain()
    assert [len(p["items"]) for p in fake_zone.purges()] == [120]
    assert Zone.objects.get().max_items is None


@pytest.mark.parametrize("fake_zone", ["legacy"], indirect=True)
def test_the_learnt_size_is_forgotten_when_the_admin_changes_the_plan(fake_zone, admin_client):
    from django.urls import reverse

    purge_urls(urls(40))
    drain()
    zone = Zone.objects.get()
    assert zone.max_items == 30
    # The same zone, kept in the admin instead of settings.
    Zone.objects.update(from_settings=False, settings_fingerprint="", api_token=DEFAULT_TOKEN)
    url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["plan"] = "enterprise"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    zone.refresh_from_db()
    assert (zone.plan, zone.max_items, zone.max_items_learnt_at) == ("enterprise", None, None)
