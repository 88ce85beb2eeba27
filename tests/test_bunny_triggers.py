"""What reaches bunny.net for each kind of change, through the public API: a registered
model changed as a site changes it, the outbox, then ``drain()``. The requests are
checked against bunny.net's contract; the mock records them."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import override_settings

from django_cfpurge import purge_prefixes, purge_queryset, purge_tags, purge_urls
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeCall, PurgeRequest, Zone
from django_cfpurge.registry import registry
from django_cfpurge.testing import capture_purges, make_zone
from tests.bunnyapi import ACCESS_KEY, PULL_ZONE_ID, BunnyAPIMock
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"
SETTINGS = {"BASE_URLS": [ORIGIN], "COALESCE_SECONDS": 0}


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    with override_settings(CFPURGE=SETTINGS), registry.override():
        registry.register(
            Photo, fields=["image"], watch=["is_public"], urls=["/gallery/"], private="!is_public"
        )
        yield


@pytest.fixture
def bunny_zone(db: None) -> Zone:
    return Zone.objects.create(
        name="cdn",
        backend="bunny",
        zone_id=str(PULL_ZONE_ID),
        api_key=ACCESS_KEY,
        hostnames="www.example.com",
    )


@pytest.fixture
def bunny(bunny_api: BunnyAPIMock, bunny_zone: Zone) -> BunnyAPIMock:
    bunny_api.add_purge_ok()
    bunny_api.add_purge_zone_ok()
    return bunny_api


def sent(bunny_api: BunnyAPIMock) -> list[str]:
    """Every request as ``METHOD path?query`` (``url`` decoded), in order; then forgotten."""
    out = []
    for request in bunny_api.sent_requests():
        parts = urlsplit(request.url or "")
        query = parse_qs(parts.query)
        line = f"{request.method} {parts.path}"
        if "url" in query:
            line += f" url={query['url'][0]}"
        if "exactPath" in query:
            line += f" exactPath={query['exactPath'][0]}"
        if request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            line += f" {body}"
        out.append(line)
    bunny_api.mock.calls.reset()
    return out


def new_photo(name: str = "a.jpg", **fields: object) -> Photo:
    photo = Photo(**fields)
    photo.image.save(name, ContentFile(b"x"))
    return photo


def url(name: str) -> str:
    return f"{ORIGIN}/media/{name}"


GALLERY = f"POST /purge url={ORIGIN}/gallery/ exactPath=true"


def test_create(bunny: BunnyAPIMock) -> None:
    photo = new_photo()
    drain()
    assert sent(bunny) == [f"POST /purge url={url(photo.image.name)}", GALLERY]
    row = PurgeRequest.objects.get()
    assert (row.status, row.event, row.zone.backend, row.api_calls) == (
        "done",
        "created",
        "bunny",
        2,
    )


def test_replace(bunny: BunnyAPIMock) -> None:
    photo = new_photo()
    old = photo.image.name
    drain()
    sent(bunny)
    photo.image.save("b.jpg", ContentFile(b"y"))
    drain()
    assert sent(bunny) == [
        f"POST /purge url={url(old)}",
        f"POST /purge url={url(photo.image.name)}",
        GALLERY,
    ]


def test_rename(bunny: BunnyAPIMock) -> None:
    photo = new_photo()
    old = photo.image.name
    drain()
    sent(bunny)
    photo.image.name = "photos/archive/a.jpg"
    photo.save()
    drain()
    assert PurgeRequest.objects.latest("id").event == "renamed"
    assert sent(bunny) == [
        f"POST /purge url={url(old)}",
        f"POST /purge url={url('photos/archive/a.jpg')}",
        GALLERY,
    ]


def test_delete(bunny: BunnyAPIMock) -> None:
    photo = new_photo()
    name = photo.image.name
    drain()
    sent(bunny)
    photo.delete()
    drain()
    assert sent(bunny) == [f"POST /purge url={url(name)}", GALLERY]


@pytest.mark.parametrize(("before", "after"), [(True, False), (False, True)])
def test_block_and_make_public(bunny: BunnyAPIMock, before: bool, after: bool) -> None:
    photo = new_photo(is_public=before)
    drain()
    sent(bunny)
    photo.is_public = after
    photo.save()
    drain()
    # bunny.net caches URLs: hiding or showing a file is purging its URL.
    assert sent(bunny) == [f"POST /purge url={url(photo.image.name)}", GALLERY]
    row = PurgeRequest.objects.latest("id")
    assert (row.event, row.status, row.skipped_targets) == ("changed", "done", [])


def test_queryset_update_then_purge_queryset(bunny: BunnyAPIMock) -> None:
    photos = [new_photo("a.jpg"), new_photo("b.jpg")]
    drain()
    sent(bunny)
    queryset = Photo.objects.filter(pk__in=[p.pk for p in photos])
    queryset.update(is_public=False)
    assert purge_queryset(queryset) == 2
    drain()
    assert sent(bunny) == [
        f"POST /purge url={url(photos[0].image.name)}",
        GALLERY,
        f"POST /purge url={url(photos[1].image.name)}",
    ]


def test_a_burst_of_changes_purges_each_url_once(bunny: BunnyAPIMock) -> None:
    photo = new_photo()
    for _ in range(5):
        photo.is_public = not photo.is_public
        photo.save()
    drain()
    assert sent(bunny) == [f"POST /purge url={url(photo.image.name)}", GALLERY]


def test_a_rolled_back_change_sends_nothing(bunny: BunnyAPIMock) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        new_photo()
        raise RuntimeError("roll back")
    drain()
    assert sent(bunny) == []
    assert not PurgeRequest.objects.exists()


def test_explicit_purges(bunny: BunnyAPIMock) -> None:
    purge_urls(["https://www.example.com/a.jpg", "https://www.example.com/b/"])
    purge_prefixes(["www.example.com/media/"])
    purge_tags(["gallery"])
    drain()
    assert sent(bunny) == [
        "POST /purge url=https://www.example.com/a.jpg",
        "POST /purge url=https://www.example.com/b/ exactPath=true",
        "POST /purge url=https://www.example.com/media/*",
        f'POST /pullzone/{PULL_ZONE_ID}/purgeCache {{"CacheTag": "gallery"}}',
    ]
    assert set(PurgeCall.objects.values_list("backend", flat=True)) == {"bunny"}


def test_hosts_are_one_purge_of_the_pull_zone(bunny: BunnyAPIMock) -> None:
    from django_cfpurge import purge_everything, purge_hosts

    purge_hosts(["www.example.com"])
    drain()
    purge_everything()
    drain()
    assert sent(bunny) == [
        f"POST /pullzone/{PULL_ZONE_ID}/purgeCache",
        f"POST /pullzone/{PULL_ZONE_ID}/purgeCache",
    ]


def test_a_refused_key_fails_the_row_with_the_sentence(
    bunny_api: BunnyAPIMock, bunny_zone: Zone
) -> None:
    bunny_api.add_unauthorized()
    new_photo()
    report = drain()
    row = PurgeRequest.objects.get()
    assert (row.status, row.error_kind, report.failed) == ("failed", "auth", 1)
    assert row.last_error.startswith("Zone “cdn”: bunny.net refused the API key (HTTP 401")
    assert ACCESS_KEY not in row.last_error


def test_a_429_waits_without_losing_the_purge(bunny_api: BunnyAPIMock, bunny_zone: Zone) -> None:
    bunny_api.add_rate_limited(retry_after=30)
    new_photo()
    drain()
    row = PurgeRequest.objects.get()
    assert (row.status, row.error_kind, row.attempts) == ("pending", "rate_limited", 0)
    assert "waiting 30 s before sending again" in row.last_error


def test_a_zone_learns_its_hostnames_before_test_connection(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok(hostnames=("www.example.com",))
    bunny_api.add_purge_ok()
    Zone.objects.create(name="cdn", backend="bunny", zone_id=str(PULL_ZONE_ID), api_key=ACCESS_KEY)
    photo = new_photo()
    drain()
    zone = Zone.objects.get()
    assert zone.remote_hostnames == ["example.b-cdn.net", "www.example.com"]
    assert bunny_api.purged_urls() == [url(photo.image.name), f"{ORIGIN}/gallery/"]


def test_a_zone_in_settings_only(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_purge_ok()
    settings = {
        **SETTINGS,
        "BACKEND": "bunny",
        "ZONE_ID": str(PULL_ZONE_ID),
        "API_KEY": ACCESS_KEY,
        "HOSTNAMES": ["www.example.com"],
    }
    with override_settings(CFPURGE=settings):
        photo = new_photo()
        drain()
    assert bunny_api.purged_urls() == [url(photo.image.name), f"{ORIGIN}/gallery/"]
    zone = Zone.objects.get()
    assert (zone.backend, zone.from_settings, zone.api_key) == ("bunny", True, "")


def test_capture_purges_records_bunny_calls() -> None:
    make_zone(
        "cdn",
        backend="bunny",
        zone_id=str(PULL_ZONE_ID),
        api_key=ACCESS_KEY,
        hostnames="www.example.com",
    )
    with capture_purges() as captured:
        photo = new_photo()
        drain()
    assert [(c.zone_id, c.kind, c.items) for c in captured.calls] == [
        (str(PULL_ZONE_ID), "files", (url(photo.image.name),)),
        (str(PULL_ZONE_ID), "files", (f"{ORIGIN}/gallery/",)),
    ]
