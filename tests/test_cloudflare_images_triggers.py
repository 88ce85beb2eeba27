"""What reaches Cloudflare Images for each kind of change, through the public API: a
registered model whose images live on Cloudflare Images (its storage gives
``imagedelivery.net`` URLs; the name is the image id), changed as a site changes it, then
``drain()``. Requests are checked against the Images API's contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import override_settings

from django_cfpurge import purge_queryset, purge_urls
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeCall, PurgeRequest, Zone
from django_cfpurge.registry import registry
from django_cfpurge.testing import capture_purges, make_zone
from tests.cfapi import ACCOUNT_ID, API_TOKEN
from tests.imagesapi import ImagesAPIMock, envelope, image_body
from tests.imagestorage import ImagesStorage, delivery_url
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db
SETTINGS = {"BASE_URLS": ["https://www.example.com"], "COALESCE_SECONDS": 0}
BASE = f"/accounts/{ACCOUNT_ID}/images/v1"


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(Photo._meta.get_field("image"), "storage", ImagesStorage())
    with override_settings(CFPURGE=SETTINGS), registry.override():
        registry.register(Photo, fields=["image"], private="!is_public")
        yield


@pytest.fixture
def images_zone(db: None) -> Zone:
    return Zone.objects.create(
        name="images",
        backend="cloudflare_images",
        zone_id=ACCOUNT_ID,
        api_token=API_TOKEN,
        hostnames="imagedelivery.net",
    )


class AnyImage:
    """Answers every delete and patch of any image id (``responses`` matches by regex)."""

    def __init__(self, images_api: ImagesAPIMock) -> None:
        import re

        self.api = images_api
        path = re.compile(re.escape(images_api.base_url + "/images/v1/") + r"[^/]+$")
        images_api.mock.add("DELETE", path, json=envelope({}))
        images_api.mock.add("PATCH", path, json=envelope(image_body()))

    def sent(self) -> list[str]:
        """``METHOD /images/v1/<id> [body]`` of every request; then forgotten."""
        out = []
        for request in self.api.sent_requests():
            path = urlsplit(request.url).path.split(f"/accounts/{ACCOUNT_ID}", 1)[1]
            line = f"{request.method} {path}"
            if request.body:
                line += f" {json.loads(request.body)}"
            out.append(line)
        self.api.mock.calls.reset()
        return out


@pytest.fixture
def images(images_api: ImagesAPIMock, images_zone: Zone) -> AnyImage:
    return AnyImage(images_api)


def new_photo(**fields: object) -> Photo:
    photo = Photo(**fields)
    photo.image.save("cat.jpg", ContentFile(b"x"))
    return photo


HIDE = {"requireSignedURLs": True}
SHOW = {"requireSignedURLs": False}


def test_create_needs_nothing(images: AnyImage) -> None:
    new_photo()
    report = drain()
    assert images.sent() == []
    row = PurgeRequest.objects.get()
    assert (row.status, row.zone.backend, row.api_calls, row.skipped_targets) == (
        "done",
        "cloudflare_images",
        0,
        [],
    )
    assert (report.done, report.skipped, report.api_calls) == (1, 0, 0)


def test_create_of_a_private_object_hides_its_image(images: AnyImage) -> None:
    photo = new_photo(is_public=False)
    drain()
    assert images.sent() == [f"PATCH /images/v1/{photo.image.name} {HIDE}"]
    assert PurgeRequest.objects.get().targets == {"hide": [delivery_url(photo.image.name)]}


def test_replace_deletes_the_old_image(images: AnyImage) -> None:
    photo = new_photo()
    old = photo.image.name
    drain()
    photo.image.save("dog.jpg", ContentFile(b"y"))
    drain()
    assert photo.image.name != old
    assert images.sent() == [f"DELETE /images/v1/{old}"]
    row = PurgeRequest.objects.latest("id")
    assert (row.event, row.status, row.targets) == (
        "replaced",
        "done",
        {"gone": [delivery_url(old)]},
    )


def test_rename_deletes_the_old_image(images: AnyImage) -> None:
    photo = new_photo()
    old = photo.image.name
    drain()
    photo.image.name = "f00dcafe" * 4  # another image id, uploaded elsewhere
    photo.save()
    drain()
    assert PurgeRequest.objects.latest("id").event == "renamed"
    assert images.sent() == [f"DELETE /images/v1/{old}"]


def test_replace_of_a_private_object_hides_the_new_image(images: AnyImage) -> None:
    photo = new_photo(is_public=False)
    old = photo.image.name
    drain()
    images.sent()
    photo.image.save("dog.jpg", ContentFile(b"y"))
    drain()
    assert images.sent() == [
        f"DELETE /images/v1/{old}",
        f"PATCH /images/v1/{photo.image.name} {HIDE}",
    ]


def test_delete_deletes_the_image(images: AnyImage) -> None:
    photo = new_photo()
    image_id = photo.image.name
    drain()
    photo.delete()
    drain()
    assert images.sent() == [f"DELETE /images/v1/{image_id}"]


def test_block_makes_the_image_private(images: AnyImage) -> None:
    photo = new_photo()
    drain()
    photo.is_public = False
    photo.save()
    drain()
    assert images.sent() == [f"PATCH /images/v1/{photo.image.name} {HIDE}"]


def test_making_it_public_again_clears_signed_urls(images: AnyImage) -> None:
    photo = new_photo(is_public=False)
    drain()
    images.sent()
    photo.is_public = True
    photo.save()
    drain()
    assert images.sent() == [f"PATCH /images/v1/{photo.image.name} {SHOW}"]


def test_a_save_that_changes_no_visibility_sends_nothing(images: AnyImage) -> None:
    photo = new_photo(is_public=False)
    drain()
    images.sent()
    photo.title = "renamed"
    photo.save()  # nothing registered changed: no row at all
    Photo.objects.filter(pk=photo.pk).update(title="x")
    drain()
    assert images.sent() == []


def test_queryset_update_then_purge_queryset_says_what_each_image_is_now(
    images: AnyImage,
) -> None:
    hidden, shown = new_photo(), new_photo()
    drain()
    Photo.objects.filter(pk=hidden.pk).update(is_public=False)
    purge_queryset(Photo.objects.filter(pk__in=[hidden.pk, shown.pk]).order_by("pk"))
    drain()
    assert images.sent() == [
        f"PATCH /images/v1/{hidden.image.name} {HIDE}",
        f"PATCH /images/v1/{shown.image.name} {SHOW}",
    ]


def test_hidden_then_shown_while_waiting_sends_only_the_last(
    images_api: ImagesAPIMock, images_zone: Zone
) -> None:
    photo = new_photo()
    for public in (False, True, False, True):
        photo.is_public = public
        photo.save()
    images = AnyImage(images_api)
    drain()
    # Four rows, one batch: only the newest state is sent; every row is done.
    assert images.sent() == [f"PATCH /images/v1/{photo.image.name} {SHOW}"]
    assert set(PurgeRequest.objects.values_list("status", flat=True)) == {"done"}
    photo.is_public = False
    photo.save()
    photo.is_public = True
    photo.save()
    photo.is_public = False
    photo.save()
    drain()
    assert images.sent() == [f"PATCH /images/v1/{photo.image.name} {HIDE}"]


def test_hidden_then_deleted_is_deleted_only(images: AnyImage) -> None:
    photo = new_photo()
    drain()
    image_id = photo.image.name
    photo.is_public = False
    photo.save()
    photo.delete()
    drain()
    assert images.sent() == [f"DELETE /images/v1/{image_id}"]


def test_a_rolled_back_replace_deletes_nothing(images: AnyImage) -> None:
    photo = new_photo()
    old = photo.image.name
    drain()
    rows = PurgeRequest.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        photo.image.save("dog.jpg", ContentFile(b"y"))
        Photo.objects.get(pk=photo.pk).delete()
        raise RuntimeError("roll back")
    drain()
    assert images.sent() == []
    assert PurgeRequest.objects.count() == rows
    assert Photo.objects.get(pk=photo.pk).image.name == old


def test_an_image_deleted_already_is_done(images_api: ImagesAPIMock, images_zone: Zone) -> None:
    photo = new_photo()
    drain()
    images_api.add_error("DELETE", f"/images/v1/{photo.image.name}")
    photo.delete()
    drain()
    row = PurgeRequest.objects.latest("id")
    assert (row.status, row.api_calls) == ("done", 1)


def test_a_token_without_edit_fails_the_row(images_api: ImagesAPIMock, images_zone: Zone) -> None:
    photo = new_photo()
    drain()
    images_api.add_error(
        "DELETE",
        f"/images/v1/{photo.image.name}",
        status=403,
        code=10000,
        message="Authentication error",
    )
    photo.delete()
    drain()
    row = PurgeRequest.objects.latest("id")
    assert (row.status, row.error_kind) == ("failed", "auth")
    assert row.last_error.startswith(
        "Zone “images”: The API token may not change Cloudflare Images on account"
    )
    call = PurgeCall.objects.get()
    assert (call.backend, call.kind, call.outcome) == ("cloudflare_images", "gone", "failed")


def test_the_zone_learns_it_serves_imagedelivery_net(images_api: ImagesAPIMock) -> None:
    images_api.add_stats_ok()
    AnyImage(images_api)
    Zone.objects.create(
        name="images", backend="cloudflare_images", zone_id=ACCOUNT_ID, api_token=API_TOKEN
    )
    photo = new_photo()
    drain()
    photo.delete()
    drain()
    zone = Zone.objects.get()
    assert zone.remote_hostnames == ["imagedelivery.net"]
    assert [r.method for r in images_api.sent_requests()] == ["GET", "DELETE"]


def test_an_explicit_url_purge_is_skipped_with_the_reason(images: AnyImage) -> None:
    row = purge_urls([delivery_url("abc")])
    drain()
    row.refresh_from_db()
    assert row.status == "skipped"
    assert row.skipped_targets == [
        {
            "target": delivery_url("abc"),
            "reason": "Cloudflare Images cannot purge URLs (zone “images”).",
        }
    ]
    assert images.sent() == []


def test_capture_purges_records_images_calls() -> None:
    make_zone("images", backend="cloudflare_images", zone_id=ACCOUNT_ID, api_token=API_TOKEN)
    with capture_purges() as captured:
        photo = new_photo(is_public=False)
        drain()
        photo.delete()
        drain()
    url = delivery_url(photo.image.name)
    assert [(c.kind, c.items) for c in captured.calls] == [("hide", (url,)), ("gone", (url,))]
    assert captured.items("gone") == [url]


def test_an_older_state_retried_after_a_newer_one_is_not_sent(
    images_api: ImagesAPIMock, images_zone: Zone
) -> None:
    photo = new_photo(is_public=False)
    drain()
    path = f"/images/v1/{photo.image.name}"
    # Made public: Cloudflare is down, the row waits for its retry...
    images_api.add_error("PATCH", path, status=503, code=5503, message="Server Unavailable")
    photo.is_public = True
    photo.save()
    drain()
    shown = PurgeRequest.objects.latest("id")
    assert (shown.status, shown.error_kind) == ("pending", "server")
    # ...then blocked again, and this one goes through first.
    images_api.mock.replace("PATCH", images_api.base_url + path, json=envelope(image_body()))
    images_api.mock.calls.reset()
    photo.is_public = False
    photo.save()
    drain()  # the waiting row is not due yet (its backoff)
    assert [json.loads(c.request.body) for c in images_api.mock.calls] == [HIDE]
    images_api.mock.calls.reset()
    # The older "make public" retried now would make a blocked image public: not sent.
    PurgeRequest.objects.filter(pk=shown.pk).update(next_attempt_at=shown.created_at)
    drain()
    assert len(images_api.mock.calls) == 0
    shown.refresh_from_db()
    assert (shown.status, shown.api_calls) == ("done", 0)
