"""Three CDNs at once: a Cloudflare zone for the pages, a bunny.net pull zone for the
thumbnails, Cloudflare Images for the images. One change is split by host into one row
per zone; each zone gets only what its CDN does, and nothing it cannot do is reported as
skipped noise. The Cloudflare purge bodies are the ones a Cloudflare-only site sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings

from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.registry import registry
from tests.bunnyapi import ACCESS_KEY, PULL_ZONE_ID, BunnyAPIMock
from tests.cfapi import ACCOUNT_ID, API_TOKEN, ZONE_ID, CloudflareAPIMock
from tests.imagesapi import ImagesAPIMock, envelope, image_body
from tests.imagestorage import ImagesStorage, delivery_url
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"
THUMBS = "https://thumbs.example.net"
SETTINGS = {"BASE_URLS": [ORIGIN], "COALESCE_SECONDS": 0}
#: The test app's own storage (files under MEDIA_URL on www.example.com).
FILE_STORAGE = Photo._meta.get_field("image").storage


def pages(change: object) -> list[str]:
    pk = change.pk  # type: ignore[attr-defined]
    return ["/gallery/", f"{THUMBS}/photos/{pk}.jpg"]


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(Photo._meta.get_field("image"), "storage", ImagesStorage())
    with override_settings(CFPURGE=SETTINGS), registry.override():
        registry.register(Photo, fields=["image"], urls=pages, private="!is_public")
        yield


class CDNs:
    """The three mocked APIs, on one ``responses`` mock, and what each received."""

    def __init__(self, cf_api: CloudflareAPIMock) -> None:
        mock = cf_api.mock
        self.mock = mock
        cf_api.add_purge_ok()
        self.bunny = BunnyAPIMock(mock)
        self.bunny.add_purge_ok()
        self.images = ImagesAPIMock(mock)
        image = re.compile(re.escape(self.images.base_url + "/images/v1/") + r"[^/]+$")
        mock.add("DELETE", image, json=envelope({}))
        mock.add("PATCH", image, json=envelope(image_body()))
        Zone.objects.create(
            name="example.com",
            zone_id=ZONE_ID,
            api_token=API_TOKEN,
            plan="pro",
            hostnames=".example.com",
        )
        Zone.objects.create(
            name="thumbs",
            backend="bunny",
            zone_id=str(PULL_ZONE_ID),
            api_key=ACCESS_KEY,
            hostnames="thumbs.example.net",
        )
        Zone.objects.create(
            name="images",
            backend="cloudflare_images",
            zone_id=ACCOUNT_ID,
            api_token=API_TOKEN,
            hostnames="imagedelivery.net",
        )

    def sent(self) -> list[str]:
        """``CDN: what`` of every request, in order; then forgotten."""
        out = []
        for call in self.mock.calls:
            request = call.request
            parts = urlsplit(request.url)
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            if parts.hostname == "api.bunny.net":
                out.append(f"bunny: {request.method} {parse_qs(parts.query)['url'][0]}")
            elif "/images/v1/" in parts.path:
                image_id = parts.path.rsplit("/", 1)[1]
                out.append(f"images: {request.method} {image_id} {body or ''}".rstrip())
            else:
                out.append(f"cloudflare: {request.method} {body}")
        self.mock.calls.reset()
        return out


@pytest.fixture
def cdns(cf_api: CloudflareAPIMock) -> CDNs:
    return CDNs(cf_api)


def cloudflare_body(*urls: str) -> str:
    return "cloudflare: POST " + json.dumps({"files": list(urls)})


def test_a_change_reaches_each_cdn_once_as_that_cdn_needs(cdns: CDNs) -> None:
    photo = Photo()
    photo.image.save("cat.jpg", ContentFile(b"x"))
    image = photo.image.name
    drain()
    thumb = f"{THUMBS}/photos/{photo.pk}.jpg"
    # Created: the page and the thumbnail are purged; the new image needs nothing.
    assert cdns.sent() == [cloudflare_body(f"{ORIGIN}/gallery/"), f"bunny: POST {thumb}"]
    rows = PurgeRequest.objects.order_by("id")
    assert [(r.zone.name, r.zone.backend, r.status, r.skipped_targets) for r in rows] == [
        ("example.com", "cloudflare", "done", []),
        ("thumbs", "bunny", "done", []),
    ]

    photo.is_public = False
    photo.save()
    drain()
    assert cdns.sent() == [
        cloudflare_body(f"{ORIGIN}/gallery/"),
        f"bunny: POST {thumb}",
        f'images: PATCH {image} {{"requireSignedURLs": true}}',
    ]

    photo.delete()
    drain()
    assert cdns.sent() == [
        cloudflare_body(f"{ORIGIN}/gallery/"),
        f"bunny: POST {thumb}",
        f"images: DELETE {image}",
    ]
    last = PurgeRequest.objects.filter(event="deleted")
    assert sorted((r.zone.backend, r.targets_kinds) for r in _with_kinds(last)) == [
        ("bunny", ["files"]),
        ("cloudflare", ["files"]),
        ("cloudflare_images", ["gone"]),
    ]
    assert all(r.skipped_targets == [] for r in PurgeRequest.objects.all())


def _with_kinds(rows: object) -> list[PurgeRequest]:
    out = []
    for row in rows:  # type: ignore[attr-defined]
        row.targets_kinds = sorted(row.targets)
        out.append(row)
    return out


def test_status_and_test_say_which_cdn_each_zone_is(cdns: CDNs) -> None:
    import io

    out = io.StringIO()
    call_command("cfpurge", "status", "--json", stdout=out)
    zones = {z["name"]: z["backend"] for z in json.loads(out.getvalue())["zones"]}
    assert zones == {"example.com": "cloudflare", "images": "cloudflare_images", "thumbs": "bunny"}
    out = io.StringIO()
    call_command("cfpurge", "status", stdout=out)
    text = out.getvalue()
    assert "example.com [Cloudflare] (023e105f4ecef8ad9ca31a8372d0c353)" in text
    assert "thumbs [bunny.net] (1234567)" in text
    assert f"images [Cloudflare Images] ({ACCOUNT_ID})" in text
    cdns.bunny.add_pull_zone_ok(hostnames=("thumbs.example.net",))
    out = io.StringIO()
    call_command("cfpurge", "test", "--zone", "thumbs", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Zone thumbs (bunny.net):"
    assert lines[2] == (
        "  [OK  ] Pull zone: Pull zone example (1234567), serving example.b-cdn.net, "
        "thumbs.example.net."
    )


def test_a_cloudflare_only_site_sends_what_it_always_sent(
    cf_api: CloudflareAPIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files on the site's own storage: each change's file states (gone, hide, show) are
    # URLs its "files" list has too, which Cloudflare purges; none is reported skipped.
    monkeypatch.setattr(Photo._meta.get_field("image"), "storage", FILE_STORAGE)
    Zone.objects.create(
        name="example.com",
        zone_id=ZONE_ID,
        api_token=API_TOKEN,
        plan="pro",
        hostnames=".example.com",
    )
    cf_api.add_purge_ok()
    photo = Photo()
    photo.image.save("a.jpg", ContentFile(b"x"))
    first = photo.image.name
    photo.is_public = False
    photo.save()
    drain()
    photo.image.save("b.jpg", ContentFile(b"y"))
    drain()
    photo.is_public = True
    photo.save()
    drain()
    photo.delete()
    drain()
    media = f"{ORIGIN}/media/"
    second = photo.image.name
    assert [json.loads(c.request.body) for c in cf_api.mock.calls] == [
        {"files": [media + first, f"{ORIGIN}/gallery/"]},
        {"files": [media + first, media + second, f"{ORIGIN}/gallery/"]},
        {"files": [media + second, f"{ORIGIN}/gallery/"]},
        {"files": [media + second, f"{ORIGIN}/gallery/"]},
    ]
    rows = PurgeRequest.objects.order_by("id")
    thumbs = "No configured zone serves the host “thumbs.example.net”."
    assert [(r.event, r.status) for r in rows] == [
        ("created", "done"),
        ("changed", "done"),
        ("replaced", "done"),
        ("changed", "done"),
        ("deleted", "done"),
    ]
    # Only the thumbnail, on a host no zone serves, is skipped: once per row.
    assert {json.dumps([s["reason"] for s in r.skipped_targets]) for r in rows} == {
        json.dumps([thumbs])
    }
    assert all(set(r.targets) == {"files"} for r in rows)


def test_no_zone_for_the_images_means_the_url_is_skipped_once(cf_api: CloudflareAPIMock) -> None:
    Zone.objects.create(
        name="example.com",
        zone_id=ZONE_ID,
        api_token=API_TOKEN,
        plan="pro",
        hostnames=".example.com",
    )
    cf_api.add_purge_ok()
    photo = Photo()
    photo.image.save("cat.jpg", ContentFile(b"x"))
    drain()
    pk = photo.pk
    photo.delete()
    drain()
    row = PurgeRequest.objects.get(event="deleted")
    # One skipped entry for the image's URL (its "gone" state adds none).
    assert row.skipped_targets == [
        {
            "target": delivery_url(photo.image.name),
            "reason": "No configured zone serves the host “imagedelivery.net”.",
        },
        {
            "target": f"{THUMBS}/photos/{pk}.jpg",
            "reason": "No configured zone serves the host “thumbs.example.net”.",
        },
    ]
    assert row.status == "done"  # the page and the thumbnail's host: the page was purged
