"""Escalation: past ``ESCALATE_URLS_OVER`` URLs under one directory, one prefix (or host)
purge is sent instead, and the purge log says so. Off by default."""

from __future__ import annotations

import pytest

from django_cfpurge import purge_urls
from django_cfpurge.drain import drain
from django_cfpurge.escalation import Escalation, plan
from django_cfpurge.models import PurgeCall, PurgeRequest
from django_cfpurge.testing import capture_purges, make_zone
from django_cfpurge.testing.cloudflare_api import DEFAULT_TOKEN, DEFAULT_ZONE_ID, FakeCloudflare
from django_cfpurge.zones import reset_sync_cache

BASE = "https://www.example.com"


def urls(directory: str, n: int) -> list[str]:
    return [f"{BASE}{directory}{i}.jpg" for i in range(n)]


# -- the plan -------------------------------------------------------------------------------


def test_up_to_the_threshold_nothing_escalates():
    assert plan(urls("/media/a/", 10), 10, prefixes=True, hosts=True) == {}


def test_past_it_the_deepest_directory_goes_as_one_prefix():
    chosen = plan([*urls("/media/a/", 11), *urls("/media/b/", 3)], 10, prefixes=True, hosts=True)
    assert set(chosen) == set(urls("/media/a/", 11))
    assert set(chosen.values()) == {Escalation("prefixes", "www.example.com/media/a/", 11)}


def test_many_small_directories_escalate_their_parent():
    many = [u for d in "abcdefg" for u in urls(f"/media/{d}/", 2)]
    chosen = plan(many, 10, prefixes=True, hosts=True)
    assert set(chosen.values()) == {Escalation("prefixes", "www.example.com/media/", 14)}


def test_the_root_goes_as_the_host_where_hosts_are_purged():
    spread = [f"{BASE}/{i}.jpg" for i in range(12)]
    assert set(plan(spread, 10, prefixes=True, hosts=True).values()) == {
        Escalation("hosts", "www.example.com", 12)
    }
    assert set(plan(spread, 10, prefixes=True, hosts=False).values()) == {
        Escalation("prefixes", "www.example.com/", 12)
    }
    assert plan(spread, 10, prefixes=False, hosts=False) == {}


def test_hosts_are_counted_apart():
    two_hosts = [*urls("/a/", 6), *[u.replace("www.", "img.") for u in urls("/a/", 6)]]
    assert plan(two_hosts, 10, prefixes=True, hosts=True) == {}


# -- in a drain -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_drain_sends_one_prefix_and_the_log_says_so(settings):
    settings.CFPURGE = {**settings.CFPURGE, "ESCALATE_URLS_OVER": 10}
    make_zone("example.com")
    bulk = purge_urls(urls("/media/a/", 25))
    single = purge_urls(urls("/media/b/", 3))
    with capture_purges() as captured:
        report = drain()
    assert [(c.kind, c.items) for c in captured.calls] == [
        ("files", tuple(urls("/media/b/", 3))),
        ("prefixes", ("www.example.com/media/a/",)),
    ]
    assert report.done == 2
    bulk.refresh_from_db()
    single.refresh_from_db()
    assert bulk.result["escalated"] == [
        {"kind": "prefixes", "target": "www.example.com/media/a/", "urls": 25}
    ]
    assert "escalated" not in single.result
    call = PurgeCall.objects.get(kind="prefixes")
    assert call.message == (
        "Sent in place of 25 URLs under www.example.com/media/a/ (more than "
        "CFPURGE['ESCALATE_URLS_OVER'] = 10)."
    )
    assert list(call.requests.all()) == [bulk]
    # The row keeps what it asked for.
    assert bulk.targets == {"files": urls("/media/a/", 25)}


@pytest.mark.django_db
def test_off_by_default():
    make_zone("example.com")
    purge_urls(urls("/media/a/", 250))
    with capture_purges() as captured:
        drain()
    assert {c.kind for c in captured.calls} == {"files"}
    assert len(captured.urls) == 250


@pytest.mark.django_db
def test_a_cdn_without_prefixes_or_hosts_gets_the_urls(settings):
    settings.CFPURGE = {**settings.CFPURGE, "ESCALATE_URLS_OVER": 2}
    from django_cfpurge.escalation import escalate

    row = PurgeRequest(targets={"files": urls("/media/a/", 5)})
    assert escalate([row], ["files", "tags"], 2) == []
    assert row.targets == {"files": urls("/media/a/", 5)}


@pytest.mark.django_db
def test_the_prefix_purge_is_one_the_api_takes(settings):
    with FakeCloudflare(
        zones=[{"id": DEFAULT_ZONE_ID, "name": "example.com", "plan": "free"}],
        plan_limits_mode="current",
    ) as fake:
        settings.CFPURGE = {
            "API_URL": fake.api_url,
            "ZONE_ID": DEFAULT_ZONE_ID,
            "API_TOKEN": DEFAULT_TOKEN,
            "BASE_URLS": [BASE],
            "ESCALATE_URLS_OVER": 50,
        }
        reset_sync_cache()
        try:
            row = purge_urls(urls("/media/import/", 400))
            drain()
            row.refresh_from_db()
            assert row.status == "done"
            assert [(p["kind"], p["items"]) for p in fake.purges()] == [
                ("prefixes", ["www.example.com/media/import/"])
            ]
        finally:
            reset_sync_cache()
