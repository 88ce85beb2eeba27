"""Drain passes: resolution, routing, dedupe, chunking, retries, failures, signals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone

from django_cfpurge import api
from django_cfpurge.drain import drain
from django_cfpurge.exceptions import (
    ApiMessage,
    AuthenticationFailed,
    RateLimited,
    ServerError,
)
from django_cfpurge.models import PurgeChange, PurgeRequest
from django_cfpurge.registry import registry
from django_cfpurge.signals import purge_failed, purge_succeeded
from django_cfpurge.testing import capture_purges, make_zone
from tests.testapp.models import Folder, Photo

pytestmark = pytest.mark.django_db
BASE = "https://www.example.com"


def gallery_urls(change):
    urls = ["/gallery/"]
    for name in ("folder",):
        old_new = change.fields.get(name)
        if old_new:
            urls += [f"/gallery/{pk}/" for pk in old_new if pk]
        elif change.values.get(name):
            urls.append(f"/gallery/{change.values[name]}/")
    return urls


@pytest.fixture
def photos():
    with registry.override():
        registry.register(Photo, fields=["image"], watch=["is_public", "folder"], urls=gallery_urls)
        yield


@pytest.fixture
def cf():
    make_zone("example.com")
    with capture_purges() as recorder:
        yield recorder


def upload(name="cat.jpg", **kwargs):
    photo = Photo(**kwargs)
    photo.image.save(name, ContentFile(b"v1"), save=False)
    photo.save()
    return photo


def url(name):
    return f"{BASE}/media/{name}"


def test_created_purges_new_file_and_extras(photos, cf):
    photo = upload("cat.jpg")
    report = drain()
    assert cf.urls == [url(photo.image.name), f"{BASE}/gallery/"]
    assert report.done == 1 and report.api_calls == 1
    row = PurgeRequest.objects.get()
    assert row.status == "done"
    assert row.zone.name == "example.com"
    assert row.targets == {"files": cf.urls}
    assert row.api_calls == 1 and row.attempts == 1


def test_replace_purges_old_and_new(photos, cf):
    photo = upload("cat.jpg")
    old = photo.image.name
    drain()
    cf.clear()
    photo.image.save("dog.jpg", ContentFile(b"v2"))
    drain()
    assert set(cf.urls) == {url(old), url(photo.image.name), f"{BASE}/gallery/"}


def test_move_between_folders_purges_both_galleries(photos, cf):
    a, b = Folder.objects.create(slug="a"), Folder.objects.create(slug="b")
    photo = upload("cat.jpg", folder=a)
    old = photo.image.name
    drain()
    cf.clear()
    photo.folder = b
    photo.image.name = "photos/b/cat.jpg"
    photo.save()
    drain()
    assert set(cf.urls) == {
        url(old),
        url("photos/b/cat.jpg"),
        f"{BASE}/gallery/",
        f"{BASE}/gallery/{a.pk}/",
        f"{BASE}/gallery/{b.pk}/",
    }


def test_delete_purges_what_was_served(photos, cf):
    photo = upload("cat.jpg")
    name = photo.image.name
    drain()
    cf.clear()
    photo.delete()
    drain()
    assert cf.urls == [url(name), f"{BASE}/gallery/"]


def test_block_purges_file_and_listing(photos, cf):
    photo = upload("cat.jpg")
    drain()
    cf.clear()
    photo.is_public = False
    photo.save()
    drain()
    assert cf.urls == [url(photo.image.name), f"{BASE}/gallery/"]


def test_burst_of_saves_purges_each_url_once(photos, cf):
    photo = upload("cat.jpg")
    for i in range(100):
        photo.is_public = bool(i % 2)
        photo.save()
    assert PurgeChange.objects.count() == 101  # one narrow row per save
    report = drain()
    assert sorted(cf.urls) == sorted([url(photo.image.name), f"{BASE}/gallery/"])
    assert report.api_calls == 1
    assert PurgeRequest.objects.filter(status="done").count() == 101


@pytest.mark.parametrize(
    ("plan", "count", "sizes"),
    [("enterprise", 1001, [500, 500, 1]), ("free", 201, [100, 100, 1]), ("pro", 61, [61])],
)
def test_distinct_urls_are_chunked_to_the_plans_limit(cf, plan, count, sizes):
    make_zone("example.com", plan=plan)
    urls = [f"{BASE}/p/{i}.jpg" for i in range(count)]
    api.purge_urls(urls)
    report = drain()
    assert [len(c.items) for c in cf.calls] == sizes
    assert cf.urls == urls
    assert report.api_calls == len(sizes)


@override_settings(CFPURGE={"BASE_URLS": [BASE], "MAX_ITEMS_PER_REQUEST": 30})
def test_chunk_size_follows_the_setting():
    make_zone("example.com")
    with capture_purges() as recorder:
        api.purge_urls([f"/p/{i}.jpg" for i in range(61)])
        drain()
    assert [len(c.items) for c in recorder.calls] == [30, 30, 1]


def test_relative_urls_use_every_base_url(cf):
    with override_settings(CFPURGE={"BASE_URLS": [BASE, "http://www.example.com"]}):
        api.purge_urls(["/a.jpg"])
        drain()
    assert cf.urls == [f"{BASE}/a.jpg", "http://www.example.com/a.jpg"]


def test_url_on_no_zone_is_skipped_with_reason(cf):
    row = api.purge_urls(["https://elsewhere.org/a.jpg", f"{BASE}/b.jpg"])
    drain()
    row.refresh_from_db()
    assert cf.urls == [f"{BASE}/b.jpg"]
    assert row.status == "done"
    assert row.skipped_targets == [
        {
            "target": "https://elsewhere.org/a.jpg",
            "reason": "No configured zone serves the host “elsewhere.org”.",
        }
    ]


def test_all_targets_unroutable_marks_row_skipped(cf):
    row = api.purge_urls(["https://elsewhere.org/a.jpg"])
    drain()
    row.refresh_from_db()
    assert row.status == "skipped"
    assert "elsewhere.org" in row.last_error
    assert cf.calls == []


def test_cdn_cgi_urls_are_never_sent(cf):
    row = api.purge_urls([f"{BASE}/cdn-cgi/image/width=100/a.jpg", f"{BASE}/a.jpg"])
    drain()
    row.refresh_from_db()
    assert cf.urls == [f"{BASE}/a.jpg"]
    assert "cdn-cgi" in row.skipped_targets[0]["target"]


def test_targets_on_two_zones_split_into_two_rows(cf):
    make_zone("example.org", zone_id="1" * 32)
    row = api.purge_urls([f"{BASE}/a.jpg", "https://cdn.example.org/b.jpg"])
    drain()
    rows = list(PurgeRequest.objects.order_by("id"))
    assert [r.zone.name for r in rows] == ["example.com", "example.org"]
    assert rows[1].parent_id == row.pk
    assert {c.zone_id for c in cf.calls} == {make_zone("example.com").zone_id, "1" * 32}
    assert all(r.status == "done" for r in rows)


def test_transient_error_is_retried_later(cf):
    cf.fail_next(ServerError("Cloudflare answered 502.", status_code=502))
    row = api.purge_urls([f"{BASE}/a.jpg"])
    report = drain()
    row.refresh_from_db()
    assert report.retried == 1
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.error_kind == "server"
    assert row.next_attempt_at > timezone.now()
    # Due again: the next drain sends it.
    PurgeRequest.objects.update(next_attempt_at=timezone.now())
    drain()
    row.refresh_from_db()
    assert row.status == "done" and cf.urls == [f"{BASE}/a.jpg"]


def test_rate_limited_waits_at_least_retry_after(cf):
    cf.fail_next(
        RateLimited(
            "Too many requests",
            status_code=429,
            errors=[ApiMessage(1134, "Unable to purge, rate limit reached.")],
            retry_after=120,
        )
    )
    row = api.purge_urls([f"{BASE}/a.jpg"])
    drain()
    row.refresh_from_db()
    assert row.status == "pending" and row.error_kind == "rate_limited"
    assert row.next_attempt_at >= timezone.now() + timedelta(seconds=119)


def test_gives_up_after_max_attempts_and_signals_once(cf):
    failed = []
    purge_failed.connect(lambda **kw: failed.append(kw), weak=False, dispatch_uid="t1")
    try:
        with override_settings(CFPURGE={"BASE_URLS": [BASE], "MAX_ATTEMPTS": 3}):
            row = api.purge_urls([f"{BASE}/a.jpg"])
            for _ in range(3):
                cf.fail_next(ServerError("Cloudflare answered 503.", status_code=503))
                PurgeRequest.objects.update(next_attempt_at=timezone.now())
                drain()
    finally:
        purge_failed.disconnect(dispatch_uid="t1")
    row.refresh_from_db()
    assert row.status == "failed"
    assert "gave up after 3 attempts" in row.last_error
    assert len(failed) == 1 and failed[0]["request"].pk == row.pk


def test_auth_error_fails_at_once_and_is_requeued_when_fixed(cf):
    zone = make_zone("example.com")
    cf.fail_next(
        AuthenticationFailed(
            "Cloudflare rejected the API token.",
            status_code=403,
            errors=[ApiMessage(10000, "Authentication error")],
        )
    )
    row = api.purge_urls([f"{BASE}/a.jpg"])
    drain()
    row.refresh_from_db()
    assert row.status == "failed" and row.error_kind == "auth"
    assert "rejected the API token" in row.last_error
    from django_cfpurge.diagnostics import run_connection_test

    report = run_connection_test(zone)
    assert report.ok, report.as_dicts()
    row.refresh_from_db()
    assert row.status == "pending"
    drain()
    row.refresh_from_db()
    assert row.status == "done"


def test_without_zones_rows_wait_with_reason(photos):
    with capture_purges() as cf:
        upload("cat.jpg")
        report = drain()
    row = PurgeRequest.objects.get()
    assert report.waiting == 1 and cf.calls == []
    assert row.status == "pending" and row.error_kind == "unconfigured"
    assert "No CDN zone is configured" in row.last_error


@override_settings(CFPURGE={"BASE_URLS": [BASE], "ENABLED": False})
def test_disabled_rows_wait(cf):
    api.purge_urls([f"{BASE}/a.jpg"])
    drain()
    assert cf.calls == []
    assert PurgeRequest.objects.get().error_kind == "disabled"


def test_purge_everything_covers_other_rows_of_the_zone(cf):
    api.purge_urls([f"{BASE}/a.jpg"])
    api.purge_everything()
    drain()
    assert cf.everything == 1
    assert cf.urls == []
    assert set(PurgeRequest.objects.values_list("status", flat=True)) == {"done"}


def test_tags_prefixes_hosts(cf):
    api.purge_tags(["gallery"])
    api.purge_prefixes(["https://WWW.example.com/media/photos"])
    api.purge_hosts(["img.example.com"])
    drain()
    assert cf.items("tags") == ["gallery"]
    assert cf.items("prefixes") == ["www.example.com/media/photos"]
    assert cf.items("hosts") == ["img.example.com"]


def test_now_drains_in_process(cf):
    row = api.purge_urls([f"{BASE}/a.jpg"], now=True)
    assert row.status == "done"
    assert cf.urls == [f"{BASE}/a.jpg"]


def test_succeeded_signal_arguments(cf):
    seen = []
    purge_succeeded.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="t2")
    try:
        row = api.purge_urls([f"{BASE}/a.jpg"])
        drain()
    finally:
        purge_succeeded.disconnect(dispatch_uid="t2")
    (kw,) = seen
    assert kw["zone"].name == "example.com"
    assert [r.pk for r in kw["requests"]] == [row.pk]
    assert kw["targets"] == {"files": [f"{BASE}/a.jpg"]}
    assert kw["api_calls"] == 1


def test_suspend_purging_holds_then_releases(photos, cf, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks, api.suspend_purging():
        upload("a.jpg")
        upload("b.jpg")
        assert set(PurgeRequest.objects.values_list("status", flat=True)) == {"held"}
        drain()
        assert cf.calls == []
    assert len(callbacks) == 1  # one dispatch for the whole block
    drain()
    assert len(cf.urls) == 3  # two files and the gallery, once


def test_suspend_purging_discard_drops_and_says_so(photos, cf):
    @api.suspend_purging(discard=True)
    def migrate():
        upload("a.jpg")

    migrate()
    row = PurgeRequest.objects.get()
    assert row.status == "dropped"
    assert "discard=True" in row.last_error
    drain()
    assert cf.calls == []


def test_purge_queryset_for_bulk_updates(photos, cf):
    a, b = upload("a.jpg"), upload("b.jpg")
    drain()
    cf.clear()
    Photo.objects.update(is_public=False)  # sends no signal
    written = api.purge_queryset(Photo.objects.all())
    assert written == 2
    drain()
    assert set(cf.urls) == {url(a.image.name), url(b.image.name), f"{BASE}/gallery/"}


def test_unknown_callable_error_is_retried_not_lost(cf):
    def broken(change):
        raise RuntimeError("gallery lookup failed")

    with registry.override():
        registry.register(Photo, fields=["image"], urls=broken)
        upload("a.jpg")
        drain()
    row = PurgeRequest.objects.get()
    assert row.status == "pending"
    assert row.error_kind == "resolve"
    assert "gallery lookup failed" in row.last_error


def test_failed_after_an_outage_is_retried_when_the_zone_purges_again(cf):
    with override_settings(CFPURGE={"BASE_URLS": [BASE], "MAX_ATTEMPTS": 1}):
        cf.fail_next(ServerError("Cloudflare answered 503.", status_code=503))
        lost = api.purge_urls([f"{BASE}/outage.jpg"])
        drain()
        lost.refresh_from_db()
        assert lost.status == "failed" and lost.error_kind == "server"
        # Cloudflare answers again: the next purge of the zone brings the failed row back.
        api.purge_urls([f"{BASE}/later.jpg"])
        report = drain()
    lost.refresh_from_db()
    assert lost.status == "done"
    assert report.requeued == 1
    assert sorted(cf.urls) == [f"{BASE}/later.jpg", f"{BASE}/outage.jpg"]


def test_rejected_rows_are_not_retried_by_a_later_success(cf):
    from django_cfpurge.exceptions import RequestRejected

    cf.fail_next(RequestRejected("Cloudflare rejected the request.", status_code=400))
    bad = api.purge_urls([f"{BASE}/bad.jpg"])
    drain()
    api.purge_urls([f"{BASE}/good.jpg"])
    drain()
    bad.refresh_from_db()
    assert bad.status == "failed" and bad.error_kind == "rejected"
    assert cf.urls == [f"{BASE}/good.jpg"]


def test_a_retry_sends_only_what_an_interrupted_attempt_did_not(cf, settings):
    settings.CFPURGE = {"BASE_URLS": [BASE], "MAX_ITEMS_PER_REQUEST": 30}
    urls = [f"{BASE}/p{i:02}.jpg" for i in range(35)]  # two calls of 30 and 5
    cf.fail_next(None, ServerError("Cloudflare answered 502.", status_code=502))
    row = api.purge_urls(urls)
    drain()
    row.refresh_from_db()
    assert row.status == "pending"
    assert len(row.result["purged"]) == 30
    assert cf.urls == urls[:30]
    PurgeRequest.objects.update(next_attempt_at=timezone.now())
    drain()
    row.refresh_from_db()
    assert row.status == "done"
    assert cf.urls == urls  # the last five once, nothing twice


def test_rate_limiter_cache_outage_keeps_what_was_sent_and_waits_for_the_rest(
    cf, monkeypatch, settings
):
    from django_cfpurge import sender as sender_module

    settings.CFPURGE = {"BASE_URLS": [BASE], "MAX_ITEMS_PER_REQUEST": 30}
    from django_cfpurge.ratelimit import RateLimiter

    calls = {"n": 0}
    original = RateLimiter.acquire

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("cache down")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RateLimiter, "acquire", flaky)
    first = api.purge_urls([f"{BASE}/a{i:02}.jpg" for i in range(30)])
    second = api.purge_urls([f"{BASE}/b{i:02}.jpg" for i in range(30)])
    report = drain()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "done"
    assert second.status == "pending" and second.attempts == 0
    assert "cache is unavailable" in second.last_error
    wait = (second.next_attempt_at - timezone.now()).total_seconds()
    assert 0 < wait <= sender_module.LIMITER_UNAVAILABLE_DELAY
    assert report.api_calls == 1 and len(cf.urls) == 30


def test_retry_delay_grows_with_jitter_and_never_passes_the_cap(settings):
    from django_cfpurge.outbox.outcomes import retry_delay

    settings.CFPURGE = {"RETRY_BASE_SECONDS": 5, "RETRY_MAX_SECONDS": 60}
    assert 4.0 <= retry_delay(1) <= 6.0
    assert 16.0 <= retry_delay(3) <= 24.0
    assert all(retry_delay(n) <= 60 for n in range(1, 100) for _ in range(5))
    assert retry_delay(2, retry_after=300) == 300


def test_passes_fill_each_call_before_sending_a_partial_one(cf, settings):
    settings.CFPURGE = {"BASE_URLS": [BASE], "CLAIM_BATCH_SIZE": 40, "MAX_ITEMS_PER_REQUEST": 30}
    urls = [f"{BASE}/r{i:03}.jpg" for i in range(80)]
    rows = [api.purge_urls([u]) for u in urls]
    report = drain()
    assert report.passes == 3
    assert [len(c.items) for c in cf.calls] == [30, 30, 20]  # ⌈80 / 30⌉, not 2 + 2
    assert sorted(cf.urls) == urls
    assert PurgeRequest.objects.filter(pk__in=[r.pk for r in rows], status="done").count() == 80
    assert not PurgeRequest.objects.filter(claimed_until__isnull=False).exists()


def test_a_burst_on_the_same_objects_is_claimed_together(photos, cf, settings):
    settings.CFPURGE = {"BASE_URLS": [BASE], "CLAIM_BATCH_SIZE": 20}
    objects = [upload(f"p{i}.jpg") for i in range(10)]
    drain()
    cf.clear()
    for round_ in range(10):
        for photo in objects:
            photo.is_public = bool(round_ % 2)
            photo.save()
    assert PurgeChange.objects.count() == 100
    report = drain()
    # 20 rows claimed, with the other 80 rows of the same objects: every URL once.
    assert report.claimed == 100 and report.api_calls == 1
    file_urls = [u for u in cf.urls if "/media/" in u]
    assert sorted(file_urls) == sorted(url(p.image.name) for p in objects)
    assert PurgeRequest.objects.filter(status="done").count() == 110


def test_a_receiver_that_fails_after_the_purge_leaves_the_rows_purged(cf, caplog):
    """The CDN answered, the rows were recorded as purged, then a ``purge_succeeded``
    receiver raised: the rows stay purged, the call is on record, and the error is
    logged; nothing is sent again."""
    from django_cfpurge.models import PurgeCall

    def broken(**kwargs):
        raise RuntimeError("a receiver's bug")

    purge_succeeded.connect(broken, weak=False, dispatch_uid="broken")
    try:
        row = api.purge_urls(["https://www.example.com/a.jpg"])
        drain()
    finally:
        purge_succeeded.disconnect(dispatch_uid="broken")
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("done", "")
    assert list(PurgeCall.objects.values_list("outcome", flat=True)) == ["ok"]
    assert any("unexpected error purging zone" in r.getMessage() for r in caplog.records)
    assert cf.urls == ["https://www.example.com/a.jpg"]


def test_a_burst_recorded_but_not_yet_queued_is_claimed_together(photos, cf, settings):
    """Changes waiting as recorded rows are taken in the claim's whole window (a pass
    and its look-ahead), so the look-ahead finds every row of the same objects."""
    settings.CFPURGE = {"BASE_URLS": [BASE], "CLAIM_BATCH_SIZE": 50, "MAX_ITEMS_PER_REQUEST": 30}
    objects = [upload(f"q{i}.jpg") for i in range(40)]
    drain()
    cf.clear()
    for round_ in range(5):
        for photo in objects:
            photo.is_public = bool(round_ % 2)
            photo.save()
    assert PurgeChange.objects.count() == 200
    report = drain()
    file_urls = [u for u in cf.urls if "/media/" in u]
    # 40 distinct URLs, 30 per call: 2 calls, each URL once.
    assert sorted(file_urls) == sorted(url(p.image.name) for p in objects)
    assert report.claimed == 200 and report.api_calls == 2
