"""Automatic cache tags: real pages rendered through the middleware (and the decorator)
carry the tags of what they showed, within each CDN's header limits, and a change of
an object purges every page that showed it, with no ``urls=`` declared."""

from __future__ import annotations

import logging

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from django_cfpurge import purge_queryset
from django_cfpurge.backends.base import TagHeader
from django_cfpurge.backends.bunny import BunnyBackend
from django_cfpurge.backends.cloudflare import CloudflareBackend
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest
from django_cfpurge.registry import registry
from django_cfpurge.tags import listing_tag, object_tag
from django_cfpurge.tags.collector import PageUse
from django_cfpurge.tags.headers import fit, page_tags
from django_cfpurge.testing import capture_purges, make_zone
from tests.testapp.models import Document, Photo, overwriting_storage

pytestmark = pytest.mark.django_db

MIDDLEWARE = "django_cfpurge.middleware.CacheTagsMiddleware"
LABEL = "testapp.Photo"
LISTING = "cfpurge-l-testapp.photo"
MODEL = "cfpurge-m-testapp.photo"


def obj(photo: Photo) -> str:
    return f"cfpurge-o-testapp.photo-{photo.pk}"


@pytest.fixture
def site(settings):
    """The photo site: its pages tagged by the middleware, ``Photo`` registered with no
    ``urls=``, one Cloudflare zone."""
    settings.ROOT_URLCONF = "tests.tagurls"
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]
    with registry.override():
        registry.register(Photo, fields=["image"], watch=["is_public", "title"])
        make_zone("example.com")
        yield Client()


def new_photo(title: str, *, is_public: bool = True) -> Photo:
    return Photo.objects.create(
        title=title, image=ContentFile(b"jpeg", name=f"{title}.jpg"), is_public=is_public
    )


def tags_of(response, header: str = "Cache-Tag") -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return set(response[header].split(",")) if response.has_header(header) else set()


# -- what pages carry -----------------------------------------------------------------


def test_a_listing_iterated_by_its_template_carries_its_objects_and_the_listing(site):
    a, b = new_photo("a"), new_photo("b")
    new_photo("hidden", is_public=False)
    assert tags_of(site.get("/gallery/")) == {LISTING, obj(a), obj(b)}
    # Rendered after the view returned (a TemplateResponse): the same.
    assert tags_of(site.get("/gallery-tr/")) == {LISTING, obj(a), obj(b)}


def test_an_empty_listing_carries_the_listing_tag(site):
    # Cached empty, it must go when the first photo is created.
    response = site.get("/gallery/")
    assert b"No photo yet." in response.content
    assert tags_of(response) == {LISTING}


def test_a_detail_page_carries_its_object(site):
    a, _b = new_photo("a"), new_photo("b")
    assert tags_of(site.get(f"/photos/{a.pk}/")) == {LISTING, obj(a)}


def test_a_view_reading_the_file_url_carries_its_object(site):
    a = new_photo("a")
    assert tags_of(site.get(f"/photos/{a.pk}/url/")) == {LISTING, obj(a)}


def test_an_object_from_a_cache_is_tagged_by_its_file(site):
    a = new_photo("a")
    first = site.get(f"/photos/{a.pk}/cached/")
    assert tags_of(first) == {LISTING, obj(a)}
    # The object comes from the cache (unpickled: no query, no post_init): its file
    # URL read in the view still tags the page.
    again = site.get(f"/photos/{a.pk}/cached/")
    assert again.json() == first.json()
    assert tags_of(again) == {obj(a)}


def test_a_count_carries_the_listing_tag_only(site):
    new_photo("a")
    assert tags_of(site.get("/count/")) == {LISTING}


def test_a_rest_framework_serializer_tags_every_object_it_serialises(site):
    a, b = new_photo("a"), new_photo("b")
    response = site.get("/api/photos/")
    assert [p["id"] for p in response.json()] == [a.pk, b.pk]
    assert tags_of(response) == {LISTING, obj(a), obj(b)}


def test_pages_of_unregistered_models_and_private_pages_carry_no_tags(site):
    Document.objects.create(title="d", file=ContentFile(b"x", name="d.txt"))
    new_photo("a")
    assert not site.get("/documents/").has_header("Cache-Tag")
    response = site.get("/private/")
    assert response.status_code == 200 and not response.has_header("Cache-Tag")


def test_the_decorator_tags_one_view_without_the_middleware(settings):
    settings.ROOT_URLCONF = "tests.tagurls"
    with registry.override():
        registry.register(Photo, fields=["image"], watch=["is_public"])
        make_zone("example.com")
        a = new_photo("a")
        client = Client()
        assert tags_of(client.get("/decorated/")) == {LISTING, obj(a)}
        assert not client.get("/gallery/").has_header("Cache-Tag")


def test_tags_are_per_request(site):
    a, b = new_photo("a"), new_photo("b")
    assert tags_of(site.get(f"/photos/{a.pk}/")) == {LISTING, obj(a)}
    assert tags_of(site.get(f"/photos/{b.pk}/")) == {LISTING, obj(b)}


def test_the_sites_own_tags_are_kept(site, monkeypatch):
    from tests import tagpages

    a = new_photo("a")
    original = tagpages.photo

    def photo_with_own_tag(request, pk):
        response = original(request, pk)
        response["Cache-Tag"] = "featured,homepage"
        return response

    monkeypatch.setattr(tagpages, "photo", photo_with_own_tag)
    from django.urls import clear_url_caches

    clear_url_caches()
    import importlib

    import tests.tagurls

    importlib.reload(tests.tagurls)
    try:
        assert tags_of(site.get(f"/photos/{a.pk}/")) == {"featured", "homepage", LISTING, obj(a)}
    finally:
        monkeypatch.undo()
        importlib.reload(tests.tagurls)
        clear_url_caches()


def test_a_bunny_zone_gets_its_own_header_in_its_own_form(site):
    make_zone("cdn", backend="bunny", hostnames="static.example.com")
    a = new_photo("a")
    response = site.get(f"/photos/{a.pk}/")
    assert set(response["Cache-Tag"].split(",")) == {LISTING, obj(a)}
    value = response["CDN-Tag"]
    assert value.startswith("~") and value.endswith("~")
    assert set(value.strip("~").split("~")) == {LISTING, obj(a)}


def test_a_zone_of_a_cdn_without_tags_adds_no_header(settings):
    settings.ROOT_URLCONF = "tests.tagurls"
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]
    with registry.override():
        registry.register(Photo, fields=["image"])
        make_zone("images", backend="cloudflare_images")
        new_photo("a")
        response = Client().get("/gallery/")
        assert not response.has_header("Cache-Tag") and not response.has_header("CDN-Tag")


# -- header limits ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 25, 26, 200, 999, 1000, 1500])
@pytest.mark.parametrize("header", [CloudflareBackend.tag_header, BunnyBackend.tag_header])
def test_the_header_never_exceeds_its_limits(header: TagHeader, n: int):
    use = PageUse(objects={LABEL: {str(10_000 + i) for i in range(n)}}, models={LABEL})
    fixed, by_model = page_tags(use)
    tags, coarse = fit(header, fixed, by_model)
    assert tags is not None
    value = header.value(tags)
    assert len(value.encode()) <= header.max_bytes
    assert header.max_tags is None or len(tags) <= header.max_tags
    assert all(len(t) <= header.max_tag_chars and t.isascii() and " " not in t for t in tags)
    if coarse:
        # The object tags gave way to the model's tag, never silently dropped.
        assert coarse == [LABEL] and tags == [LISTING, MODEL]
    else:
        assert len(tags) == n + 1


def test_a_page_too_big_for_its_objects_carries_the_model_tag_and_says_so_once(site, caplog):
    make_zone("cdn", backend="bunny", hostnames="static.example.com")
    for i in range(40):  # 40 object tags are more than bunny.net's 1,024 bytes
        new_photo(f"p{i}")
    with caplog.at_level(logging.WARNING, logger="django_cfpurge.tags.headers"):
        response = site.get("/gallery/")
        site.get("/gallery/")
    assert response["CDN-Tag"] == f"~{LISTING}~{MODEL}~"
    assert len(response["Cache-Tag"].split(",")) == 41  # Cloudflare takes them all
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "testapp.Photo on gallery do not fit in CDN-Tag" in warnings[0]


# -- what changes purge -------------------------------------------------------------------


def page_tags_purged(action) -> set[str]:
    """The tags purged for what ``action`` changes (earlier changes drained first)."""
    with capture_purges() as captured:
        drain()
        captured.clear()
        action()
        drain()
    return set(captured.items("tags"))


def test_a_change_purges_every_page_that_showed_the_object_without_urls(site):
    a, b = new_photo("a"), new_photo("b")
    gallery, page_a, page_b = (
        tags_of(site.get(p)) for p in ("/gallery/", f"/photos/{a.pk}/", f"/photos/{b.pk}/")
    )

    def retitle():
        a.title = "a, retitled"
        a.save()

    purged = page_tags_purged(retitle)
    assert purged == {obj(a), MODEL, LISTING}  # a watched field: the listings too
    assert purged & gallery and purged & page_a
    assert purged & page_b == {LISTING}  # b's page by its listing tag only (it queried)


def test_a_file_replaced_in_place_purges_its_pages_but_no_listing(site):
    a, b = new_photo("a"), new_photo("b")
    field = Photo._meta.get_field("image")
    storage = field.storage
    field.storage = overwriting_storage()
    try:
        a.refresh_from_db()
        name = a.image.name
        page_b = tags_of(site.get(f"/photos/{b.pk}/"))
        page_a = tags_of(site.get(f"/photos/{a.pk}/"))
        purged = page_tags_purged(lambda: a.image.save(name.split("/")[-1], ContentFile(b"new")))
        a.refresh_from_db()
        assert a.image.name == name  # the same name: replaced in place
    finally:
        field.storage = storage
    assert purged == {obj(a), MODEL}
    assert purged & page_a
    assert not purged & page_b  # photo b's page did not show a


def test_a_creation_purges_the_listings_that_could_show_it(site):
    empty_gallery = tags_of(site.get("/gallery/"))
    purged = page_tags_purged(lambda: new_photo("first"))
    assert LISTING in purged and empty_gallery <= purged


def test_a_delete_and_a_bulk_change_purge_object_and_listing(site):
    a = new_photo("a")
    assert page_tags_purged(a.delete) >= {LISTING, MODEL}
    b = new_photo("b")

    def bulk():
        Photo.objects.filter(pk=b.pk).update(is_public=False)
        purge_queryset(Photo.objects.filter(pk=b.pk))

    assert page_tags_purged(bulk) == {obj(b), MODEL, LISTING}


def test_without_page_tags_nothing_is_tagged_or_purged_by_tag(settings):
    # No middleware, PAGE_TAGS unset: no tag purge (they would spend the tag rate limit).
    with registry.override():
        registry.register(Photo, fields=["image"], watch=["is_public"])
        make_zone("example.com")
        assert page_tags_purged(lambda: new_photo("a")) == set()


def test_page_tags_on_a_cdn_without_tags_are_left_out_quietly(site):
    make_zone("images", backend="cloudflare_images", hostnames="imagedelivery.net")
    new_photo("a")
    with capture_purges() as captured:
        drain()
    row = PurgeRequest.objects.get()
    assert {c.zone_id for c in captured.calls if c.kind == "tags"} == {make_zone().zone_id}
    assert row.status == "done"
    assert row.skipped_targets == []


def test_bunny_purges_page_tags_with_wildcards(settings, site):
    from django_cfpurge.backends.bunny import tag_purge_value

    assert tag_purge_value(obj(Photo(pk=3))) == "*~cfpurge-o-testapp.photo-3~*"
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE]
    assert tag_purge_value("gallery") == "gallery"


def test_tag_names():
    assert object_tag("Gallery.Image", 42) == "cfpurge-o-gallery.image-42"
    assert listing_tag("gallery.Image") == "cfpurge-l-gallery.image"
    hashed = object_tag("gallery.Image", "Ünïcode key, with spaces")
    assert hashed.startswith("cfpurge-o-gallery.image-h") and hashed.isascii()
    assert object_tag("gallery.Image", "ABC") != object_tag("gallery.Image", "abc")


def test_the_middleware_tags_under_asgi_too(site):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    a, b = new_photo("a"), new_photo("b")
    client = AsyncClient()
    gallery = async_to_sync(client.get)("/gallery/")
    assert tags_of(gallery) == {LISTING, obj(a), obj(b)}
    # An async view (decorated as well: the tags are written once).
    counted = async_to_sync(client.get)("/async-count/")
    assert counted.content == b"2 photos"
    assert tags_of(counted) == {LISTING}
    assert counted["Cache-Tag"].count(LISTING) == 1
