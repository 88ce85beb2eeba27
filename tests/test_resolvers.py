"""Resolving recorded changes to what is purged: file URLs from each field's storage,
the registration's extras (lists or callables), relative URLs made absolute, and what
cannot be purged skipped with the reason."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile

from django_cfpurge.changes import Change, payload
from django_cfpurge.exceptions import CfPurgeConfigurationError, InvalidTarget
from django_cfpurge.models import PurgeRequest
from django_cfpurge.registry import registry
from django_cfpurge.resolvers import resolve_change, resolve_row
from tests.testapp.models import Photo, Poster

pytestmark = pytest.mark.django_db

WWW = "https://www.example.com"
CDN = "https://cdn.example.net"


@pytest.fixture(autouse=True)
def origins(settings):
    settings.CFPURGE = {"BASE_URLS": [WWW, CDN]}


@pytest.fixture
def reg():
    """Register a model inside ``registry.override()``; undone after the test."""
    with registry.override():
        yield registry.register


def model_row(model, event, change, pk="1") -> PurgeRequest:
    return PurgeRequest(
        source="model",
        event=event,
        model_label=model._meta.label,
        object_pk=str(pk),
        change=change,
    )


def both(path: str) -> list[str]:
    return [f"{WWW}{path}", f"{CDN}{path}"]


# -- files -----------------------------------------------------------------------
def test_files_on_two_fields_old_and_new_with_every_origin(reg):
    registration = reg(Poster, fields=["original", "preview"])
    change = Change.from_payload(
        "replaced",
        payload(
            files={
                "original": ["posters/old.jpg", "posters/new.jpg"],
                "preview": [None, "posters/previews/new.png"],
            },
            current={"original": "posters/new.jpg", "preview": "posters/previews/new.png"},
        ),
        model=Poster,
        pk="1",
    )
    result = resolve_change(registration, change)
    assert result.targets == {
        "files": [
            *both("/media/posters/old.jpg"),
            *both("/media/posters/new.jpg"),
            *both("/media/posters/previews/new.png"),
        ]
    }
    assert result.skipped == []


def test_a_watched_field_change_purges_every_current_file(reg):
    registration = reg(Poster, fields=["original", "preview"], watch=["is_public"])
    change = Change.from_payload(
        "changed",
        payload(
            fields={"is_public": [True, False]},
            current={"original": "posters/a.jpg", "preview": ""},
        ),
        model=Poster,
        pk="1",
    )
    assert resolve_change(registration, change).targets == {"files": both("/media/posters/a.jpg")}


def test_file_names_are_encoded_as_the_storage_serves_them(reg):
    registration = reg(Photo, fields=["image"])
    change = Change.from_payload(
        "deleted", payload(files={"image": ["photos/été à Paris.jpg", None]}), model=Photo
    )
    assert resolve_change(registration, change).targets["files"] == both(
        "/media/photos/%C3%A9t%C3%A9%20%C3%A0%20Paris.jpg"
    )


def test_a_storage_url_that_cannot_be_purged_raises(reg, settings):
    settings.CFPURGE = {"BASE_URLS": []}  # MEDIA_URL is relative: nothing to join it with
    registration = reg(Photo, fields=["image"])
    change = Change.from_payload("deleted", payload(files={"image": ["photos/a.jpg", None]}))
    with pytest.raises(InvalidTarget, match=re.escape("'/media/photos/a.jpg'")):
        resolve_change(registration, change)


# -- extras: lists and callables -------------------------------------------------
def test_urls_tags_and_prefixes_given_as_lists(reg):
    registration = reg(
        Photo,
        fields=["image"],
        urls=["/gallery/", f"{WWW}/feed.xml"],
        tags=["photos", "gallery"],
        prefixes=["www.example.com/thumbs/"],
    )
    change = Change.from_payload("deleted", payload(files={"image": ["photos/a.jpg", None]}))
    result = resolve_change(registration, change)
    assert result.targets == {
        "files": [*both("/media/photos/a.jpg"), *both("/gallery/"), f"{WWW}/feed.xml"],
        "tags": ["photos", "gallery"],
        "prefixes": ["www.example.com/thumbs/"],
    }


def test_callables_receive_the_change(reg):
    seen = []

    def urls(change):
        seen.append(("urls", change.event, change.pk, change.fields, change.values))
        return [f"/gallery/{change.values['folder']}/"]

    def tags(change):
        seen.append(("tags", change.event, change.pk, change.fields, change.values))
        return [f"photo-{change.pk}"]

    def prefixes(change):
        seen.append(("prefixes", change.event, change.pk, change.fields, change.values))
        return [f"www.example.com/photos/{change.pk}/"]

    registration = reg(
        Photo, fields=["image"], watch=["folder"], urls=urls, tags=tags, prefixes=prefixes
    )
    change = Change.from_payload(
        "changed",
        payload(fields={"folder": [1, 2]}, values={"folder": 2}, current={"image": "p/a.jpg"}),
        model=Photo,
        pk="9",
    )
    result = resolve_change(registration, change)
    assert result.targets == {
        "files": [*both("/media/p/a.jpg"), *both("/gallery/2/")],
        "tags": ["photo-9"],
        "prefixes": ["www.example.com/photos/9/"],
    }
    expected = ("changed", "9", {"folder": (1, 2)}, {"folder": 2})
    assert seen == [(kind, *expected) for kind in ("urls", "tags", "prefixes")]


def test_a_bad_item_from_a_callable_is_skipped_with_the_reason_others_kept(reg):
    registration = reg(
        Photo,
        fields=["image"],
        urls=lambda change: ["ftp://files.example.com/a.jpg", "/gallery/", "javascript:x()"],
        tags=lambda change: ["ok", "not ok", "a,b"],
        prefixes=lambda change: ["www.example.com/a?b", "www.example.com/photos/"],
    )
    change = Change.from_payload("deleted", payload(files={"image": ["photos/a.jpg", None]}))
    result = resolve_change(registration, change)
    assert result.targets == {
        "files": [*both("/media/photos/a.jpg"), *both("/gallery/")],
        "tags": ["ok"],
        "prefixes": ["www.example.com/photos/"],
    }
    assert [s["target"] for s in result.skipped] == [
        "ftp://files.example.com/a.jpg",
        "javascript:x()",
        "not ok",
        "a,b",
        "www.example.com/a?b",
    ]
    reasons = {s["target"]: s["reason"] for s in result.skipped}
    assert "http://" in reasons["ftp://files.example.com/a.jpg"]
    assert "'ftp://files.example.com/a.jpg'" in reasons["ftp://files.example.com/a.jpg"]
    assert "spaces or commas" in reasons["not ok"]
    assert "“?”" in reasons["www.example.com/a?b"]


def test_a_callable_returning_one_string_means_that_url(reg):
    registration = reg(Photo, fields=["image"], urls=lambda change: "/gallery/")
    change = Change.from_payload("changed", payload(current={"image": ""}), model=Photo)
    assert resolve_change(registration, change).targets == {"files": both("/gallery/")}


def test_empty_and_none_values_from_callables_are_ignored(reg):
    registration = reg(
        Photo,
        fields=["image"],
        urls=lambda change: None,
        tags=lambda change: ["", None, "t"],
        prefixes=lambda change: [],
    )
    change = Change.from_payload("changed", payload(current={"image": ""}), model=Photo)
    result = resolve_change(registration, change)
    assert result.targets == {"tags": ["t"]}
    assert result.skipped == []


def test_repeats_across_fields_and_extras_are_sent_once(reg):
    registration = reg(Photo, fields=["image"], urls=["/media/photos/a.jpg", "/media/photos/a.jpg"])
    change = Change.from_payload(
        "overwritten", payload(files={"image": ["photos/a.jpg", "photos/a.jpg"]})
    )
    assert resolve_change(registration, change).targets == {"files": both("/media/photos/a.jpg")}


def test_absolute_storage_urls_are_kept_as_they_are(reg, settings, monkeypatch):
    registration = reg(Photo, fields=["image"])
    storage = Photo._meta.get_field("image").storage
    monkeypatch.setattr(storage, "url", lambda name: f"https://media.example.org/{name}")
    change = Change.from_payload("deleted", payload(files={"image": ["photos/a.jpg", None]}))
    assert resolve_change(registration, change).targets == {
        "files": ["https://media.example.org/photos/a.jpg"]
    }


# -- rows ------------------------------------------------------------------------
def test_resolve_row_loads_the_instance_for_the_callables(reg):
    photo = Photo(title="Cat")
    photo.image.save("cat.jpg", ContentFile(b"x"), save=False)
    photo.save()
    got = []

    def urls(change):
        got.append(change.instance)
        return [f"/photos/{change.instance.title.lower()}/"]

    reg(Photo, fields=["image"], urls=urls)
    row = model_row(Photo, "changed", payload(current={"image": photo.image.name}), pk=photo.pk)
    result = resolve_row(row)
    assert got == [photo]
    assert result.targets["files"] == [
        *both(f"/media/{photo.image.name}"),
        *both("/photos/cat/"),
    ]


def test_resolve_row_of_a_deleted_object_gives_no_instance(reg):
    got = []
    reg(Photo, fields=["image"], urls=lambda change: got.append(change.instance) or ["/x/"])
    row = model_row(Photo, "deleted", payload(files={"image": ["photos/a.jpg", None]}), pk=5)
    assert resolve_row(row).targets["files"] == [*both("/media/photos/a.jpg"), *both("/x/")]
    assert got == [None]


def test_a_model_no_longer_registered_is_a_configuration_error(reg):
    row = model_row(Poster, "deleted", payload(files={"original": ["posters/a.jpg", None]}))
    with pytest.raises(CfPurgeConfigurationError, match=r"testapp\.Poster is no longer registered"):
        resolve_row(row)


def test_a_model_label_that_names_no_model_is_a_configuration_error(reg):
    row = PurgeRequest(source="model", event="deleted", model_label="gone.Model", change={})
    with pytest.raises(CfPurgeConfigurationError, match=r"gone\.Model"):
        resolve_row(row)


def test_explicit_rows_are_returned_as_written(reg):
    targets = {
        "files": [
            "https://www.example.com/a.jpg",
            {"url": "https://www.example.com/b.jpg", "headers": {"CF-Device-Type": "mobile"}},
        ],
        "tags": ["t1", "t2"],
        "prefixes": ["www.example.com/p/"],
        "hosts": ["img.example.com"],
    }
    row = PurgeRequest(source="api", event="manual", targets=targets)
    result = resolve_row(row)
    assert result.targets == targets
    assert result.skipped == []


def test_an_explicit_purge_everything_row(reg):
    row = PurgeRequest(source="manual", event="manual", targets={"everything": [True]})
    assert resolve_row(row).targets == {"everything": [True]}
