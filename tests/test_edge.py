"""Proof at the edge, against the demo's fake edge cache in front of a small origin and
the fake CDN APIs: HIT → purge → MISS proves the zone; a copy the purge did not reach is
reported with its likely cause."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_cfpurge import purge_urls
from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.drain import drain
from django_cfpurge.edge import verify_at_edge
from django_cfpurge.testing import make_zone
from django_cfpurge.testing.bunny_api import DEFAULT_ACCESS_KEY, DEFAULT_PULL_ZONE_ID, FakeBunny
from django_cfpurge.testing.cloudflare_api import DEFAULT_TOKEN, DEFAULT_ZONE_ID, FakeCloudflare
from django_cfpurge.zones import reset_sync_cache
from tests.test_fakecdn import Edge, EdgeCache, Origin

pytestmark = pytest.mark.django_db


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


def cloudflare_edge(origin: Origin, settings, *, edge_host_served: bool):
    """The fake Cloudflare API, an edge in front of ``origin`` on 127.0.0.1, and a zone of
    this site that claims 127.0.0.1. ``edge_host_served``: whether the fake's zone (the
    one the purges go to) serves the edge's host, or another zone does."""
    fake = FakeCloudflare(plan_limits_mode="current").start()
    fake.add_zone(
        "example.com",
        id=DEFAULT_ZONE_ID,
        hostnames=["127.0.0.1"] if edge_host_served else ["www.example.com"],
    )
    cache = EdgeCache(origin.url).__enter__()
    Edge(fake, cache)
    settings.CFPURGE = {"API_URL": fake.api_url, "BASE_URLS": [cache.url]}
    reset_sync_cache()
    zone = make_zone(
        "example.com", zone_id=DEFAULT_ZONE_ID, api_token=DEFAULT_TOKEN, hostnames="127.0.0.1"
    )
    return fake, cache, zone


@pytest.fixture
def served(origin, settings):
    fake, cache, zone = cloudflare_edge(origin, settings, edge_host_served=True)
    yield fake, cache, zone
    cache.__exit__(None, None, None)
    fake.stop()


@pytest.fixture
def elsewhere(origin, settings):
    fake, cache, zone = cloudflare_edge(origin, settings, edge_host_served=False)
    yield fake, cache, zone
    cache.__exit__(None, None, None)
    fake.stop()


def test_hit_then_purge_then_miss_proves_the_zone(served, origin):
    fake, cache, zone = served
    url = cache.url + "/page"
    check = verify_at_edge(zone, url)
    assert check.verdict == "proven", check.message
    assert (check.before.cache, check.after.cache) == ("HIT", "MISS")
    assert check.message.startswith(f"The edge served {url} from its cache (HIT")
    assert "really serves 127.0.0.1" in check.message
    assert [p["items"] for p in fake.purges()] == [[url]]
    assert origin.hits["/page"] == 2  # filled once, fetched again after the purge


def test_a_copy_the_purge_does_not_reach_is_reported_with_its_cause(elsewhere, origin):
    fake, cache, zone = elsewhere
    url = cache.url + "/page"
    clock = iter(range(0, 100, 1))
    check = verify_at_edge(zone, url, sleep=lambda s: None, clock=lambda: float(next(clock)))
    assert check.verdict == "not_proven"
    assert fake.purges()[0]["items"] == [url]  # the CDN accepted the purge…
    assert check.after.cache == "HIT"  # …and the edge kept its copy
    assert "The CDN accepted the purge of" in check.message
    assert "127.0.0.1 is probably served by another zone (or another account)" in check.message
    assert origin.hits["/page"] == 1


def test_a_url_the_edge_does_not_keep_proves_nothing(served, origin):
    _fake, cache, zone = served
    check = verify_at_edge(zone, cache.url + "/nostore")
    assert check.verdict == "not_cached"
    assert "The edge does not keep" in check.message and "BYPASS" in check.message


def test_only_urls_of_the_zone_are_fetched(served, origin):
    fake, _cache, zone = served
    check = verify_at_edge(zone, "http://169.254.169.254/latest/meta-data/")
    assert check.verdict == "not_served"
    assert "does not serve 169.254.169.254" in check.message
    assert fake.purges() == [] and origin.hits == {}


def test_an_edge_that_does_not_answer_is_a_failure(served):
    _fake, cache, zone = served
    closed = cache.url.rsplit(":", 1)[0] + ":9"  # discard: nothing listens
    check = verify_at_edge(zone, closed + "/page")
    assert check.verdict == "failed" and "could not be reached" in check.message


def test_the_command_says_it_and_exits_by_verdict(served):
    _fake, cache, _zone = served
    out = io.StringIO()
    call_command("cfpurge", "verify", cache.url + "/page", stdout=out)
    assert "really serves 127.0.0.1" in out.getvalue()
    with pytest.raises(CommandError) as caught:
        call_command("cfpurge", "verify", cache.url + "/nostore")
    assert caught.value.returncode == 4


def test_test_connection_checks_at_the_edge_when_asked(served, settings):
    _fake, cache, zone = served
    settings.CFPURGE = {**settings.CFPURGE, "VERIFY_AT_EDGE": True}
    first = run_connection_test(zone)
    (edge,) = [s for s in first.steps if s.key == "edge"]
    assert edge.status == "warning" and "No URL was purged through this zone yet" in edge.message
    purge_urls([cache.url + "/page"])
    drain()
    report = run_connection_test(zone)
    (edge,) = [s for s in report.steps if s.key == "edge"]
    assert edge.status == "ok", edge.message
    assert "really serves 127.0.0.1" in edge.message


def test_test_connection_reports_the_other_zone(elsewhere, settings):
    _fake, cache, zone = elsewhere
    settings.CFPURGE = {**settings.CFPURGE, "VERIFY_AT_EDGE": True}
    purge_urls([cache.url + "/page"])
    drain()
    report = run_connection_test(zone)
    (edge,) = [s for s in report.steps if s.key == "edge"]
    assert edge.status == "error"
    assert "probably served by another zone" in edge.message
    assert not report.ok


def test_bunny_edges_are_read_from_their_own_header(origin, settings):
    with FakeBunny() as bunny, EdgeCache(origin.url) as cache:
        Edge(bunny, cache)
        settings.CFPURGE = {"BUNNY_API_URL": bunny.api_url, "BASE_URLS": [cache.url]}
        zone = make_zone(
            "cdn",
            backend="bunny",
            zone_id=str(DEFAULT_PULL_ZONE_ID),
            api_key=DEFAULT_ACCESS_KEY,
            hostnames="127.0.0.1",
        )
        url = cache.url + "/page"
        check = verify_at_edge(zone, url)
        purged = bunny.purged_urls()
    # The pull zone serves 127.0.0.1 (the fake's default); CDN-Cache says HIT, then MISS.
    assert check.verdict == "proven", check.message
    assert (check.before.cache, check.after.cache) == ("HIT", "MISS")
    assert purged == [url]


# -- the admin: a purge request's page ----------------------------------------------------------


def staff(*codenames: str):
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    user = User.objects.create_user("-".join(codenames) or "staff", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    return client


def test_the_request_page_offers_the_check_to_who_may_change_rows(served):
    from django.urls import reverse

    fake, cache, _zone = served
    url = cache.url + "/page"
    row = purge_urls([url])
    drain()
    page = reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk])
    viewer = staff("view_purgerequest", "view_zone")
    assert 'id="cfpurge-edge"' not in viewer.get(page).content.decode()
    changer = staff("view_purgerequest", "change_purgerequest", "view_zone")
    html = changer.get(page).content.decode()
    assert 'id="cfpurge-edge"' in html and f'<option value="{url}">' in html
    fake.reset()
    response = changer.post(
        reverse("admin:django_cfpurge_purgerequest_verify_edge", args=[row.pk]),
        {"url": url},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1 and "really serves 127.0.0.1" in messages[0]
    assert [p["items"] for p in fake.purges()] == [[url]]


def test_the_check_takes_only_the_rows_own_urls(served, origin):
    from django.urls import reverse

    fake, cache, _zone = served
    row = purge_urls([cache.url + "/page"])
    drain()
    fake.reset()
    changer = staff("view_purgerequest", "change_purgerequest")
    response = changer.post(
        reverse("admin:django_cfpurge_purgerequest_verify_edge", args=[row.pk]),
        {"url": cache.url + "/dir/a"},
        follow=True,
    )
    (message,) = [str(m) for m in response.context["messages"]]
    assert "is not a URL of this request that a zone serves" in message
    assert fake.purges() == [] and "/dir/a" not in origin.hits
