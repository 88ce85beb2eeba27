"""A file written again under its own name is purged, however it was written.

On a storage that overwrites (``FileSystemStorage(allow_overwrite=True)``, django-storages'
``S3Storage`` by default) the name does not change, so only the write itself tells that
the URL now serves other bytes. Each test writes the way a site does, then checks the
outbox row and the URLs a drain purges; the S3 tests do it against a real S3 API server.
"""

from __future__ import annotations

import io
import pickle

import pytest
from django import forms
from django.contrib.admin import AdminSite
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.fields.files import FieldFile, FileDescriptor, ImageFieldFile
from django.urls import path, reverse
from PIL import Image

from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest
from django_cfpurge.outbox.ingest import ingest_all
from django_cfpurge.registry import registry
from django_cfpurge.testing import capture_purges, make_zone
from tests.testapp.models import Banner, Photo, PublicPhoto

pytestmark = pytest.mark.django_db

BASE = "https://www.example.com"
#: The registration's extra URL, purged with every change of a banner.
BANNERS_PAGE = f"{BASE}/banners/"
GALLERY_PAGE = f"{BASE}/gallery/"
#: Banner's two file fields: an ImageField and a FileField, written by different code paths.
FILE_FIELDS = ["image", "leaflet"]


def png(color: str) -> bytes:
    """A valid one-pixel PNG (the admin checks that an ImageField upload is an image)."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1), color).save(out, "PNG")
    return out.getvalue()


OLD, NEW = png("red"), png("blue")


# -- an admin site of its own, so the test app's models stay out of the project's admin --

site = AdminSite(name="replace_admin")
site.register(Banner)
urlpatterns = [path("admin/", site.urls)]


class BannerForm(forms.ModelForm):
    class Meta:
        model = Banner
        fields = ["title", "image", "leaflet"]


# -- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def banners():
    with registry.override():
        registry.register(Banner, urls=["/banners/"])
        yield


@pytest.fixture
def cf():
    """Drains record their purges; one zone serves the site and the S3 endpoint."""
    make_zone("example.com", hostnames="www.example.com\n127.0.0.1")
    with capture_purges() as recorder:
        yield recorder


def last_row() -> PurgeRequest:
    ingest_all()
    return PurgeRequest.objects.latest("id")


def row_count() -> int:
    """Purge requests recorded so far (the request path's changes moved in first)."""
    ingest_all()
    return PurgeRequest.objects.count()


def stored_banner(cf) -> Banner:
    """A banner with both files, saved and purged already, loaded as a view would."""
    banner = Banner(title="spring")
    banner.image.save("a.png", ContentFile(OLD), save=False)
    banner.leaflet.save("a.pdf", ContentFile(OLD), save=False)
    banner.save()
    drain()
    cf.clear()
    return Banner.objects.get(pk=banner.pk)


def file_name_for(field: str) -> str:
    """The name a new upload takes in ``field`` (same as the stored one: nothing renames)."""
    return {"image": "a.png", "leaflet": "a.pdf"}[field]


def assert_overwrite_purged(cf, banner: Banner, field: str, count_before: int) -> None:
    """One ``overwritten`` row for ``field``, whose drain purges its URL and the extras."""
    banner = Banner.objects.get(pk=banner.pk)
    name = getattr(banner, field).name
    names = {"image": banner.image.name, "leaflet": banner.leaflet.name}
    assert row_count() == count_before + 1
    row = last_row()
    assert row.event == "overwritten"
    assert row.change == {
        "files": {field: [name, name]},
        "fields": {},
        "values": {},
        "current": names,
    }
    with getattr(banner, field).open("rb") as stored:
        assert stored.read() == NEW  # the same name now holds the new bytes
    drain()
    assert set(cf.urls) == {f"{BASE}/media/{name}", BANNERS_PAGE}


# -- every way of writing a file again under its own name --------------------------------


@pytest.mark.parametrize("field", FILE_FIELDS)
def test_field_file_save(banners, cf, field):
    banner = stored_banner(cf)
    before = row_count()
    getattr(banner, field).save(file_name_for(field), ContentFile(NEW))
    assert_overwrite_purged(cf, banner, field, before)


@pytest.mark.parametrize("field", FILE_FIELDS)
def test_field_file_save_without_saving_then_model_save(banners, cf, field):
    banner = stored_banner(cf)
    before = row_count()
    getattr(banner, field).save(file_name_for(field), ContentFile(NEW), save=False)
    assert row_count() == before
    banner.save()
    assert_overwrite_purged(cf, banner, field, before)


@pytest.mark.parametrize("field", FILE_FIELDS)
def test_model_form_upload(banners, cf, field):
    banner = stored_banner(cf)
    before = row_count()
    upload = SimpleUploadedFile(file_name_for(field), NEW)
    form = BannerForm({"title": banner.title}, {field: upload}, instance=banner)
    assert form.is_valid(), form.errors
    form.save()
    assert_overwrite_purged(cf, banner, field, before)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("field", FILE_FIELDS)
def test_admin_upload(banners, cf, admin_client, field):
    banner = stored_banner(cf)
    before = row_count()
    url = reverse("replace_admin:testapp_banner_change", args=[banner.pk])
    upload = SimpleUploadedFile(file_name_for(field), NEW)
    response = admin_client.post(url, {"title": banner.title, field: upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_overwrite_purged(cf, banner, field, before)


@pytest.mark.parametrize("field", FILE_FIELDS)
@pytest.mark.parametrize(
    "make_file", [ContentFile, lambda data, name: File(io.BytesIO(data), name)]
)
def test_assigning_a_file_then_saving(banners, cf, field, make_file):
    banner = stored_banner(cf)
    before = row_count()
    setattr(banner, field, make_file(NEW, name=file_name_for(field)))
    banner.save()
    assert_overwrite_purged(cf, banner, field, before)


@pytest.mark.parametrize("field", FILE_FIELDS)
@pytest.mark.parametrize("assign", ["field", "field.name"])
def test_writing_to_the_storage_then_assigning_the_name(banners, cf, field, assign):
    banner = stored_banner(cf)
    name = getattr(banner, field).name
    before = row_count()
    storage = Banner._meta.get_field(field).storage
    assert storage.save(name, ContentFile(NEW)) == name
    if assign == "field":
        setattr(banner, field, name)
    else:
        getattr(banner, field).name = name
    banner.save()
    assert_overwrite_purged(cf, banner, field, before)


def test_two_files_overwritten_in_one_save(banners, cf):
    banner = stored_banner(cf)
    banner.image.save("a.png", ContentFile(NEW), save=False)
    banner.leaflet.save("a.pdf", ContentFile(NEW), save=False)
    banner.save()
    row = last_row()
    names = [banner.image.name, banner.leaflet.name]
    assert row.event == "overwritten"
    assert row.change["files"] == {"image": [names[0]] * 2, "leaflet": [names[1]] * 2}
    drain()
    assert set(cf.urls) == {f"{BASE}/media/{n}" for n in names} | {BANNERS_PAGE}


def test_an_overwrite_costs_the_save_and_one_row(banners, cf, django_assert_num_queries):
    banner = stored_banner(cf)
    with django_assert_num_queries(2) as queries:  # the UPDATE and the outbox INSERT
        banner.image.save("a.png", ContentFile(NEW))
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE", "INSERT"]


def test_an_overwrite_is_purged_once(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    banner.image.save("a.png", ContentFile(NEW))
    banner.save()  # nothing written since the last save
    banner.title = "summer"
    banner.save()
    assert row_count() == before + 1


def test_a_name_assigned_through_a_proxy_model(cf):
    with registry.override():
        registry.register(Photo, fields=["image"], urls=["/gallery/"])
        photo = PublicPhoto(title="harbour")
        photo.image.save("a.jpg", ContentFile(b"old bytes"))
        drain()
        cf.clear()
        before = row_count()
        photo = PublicPhoto.objects.get(pk=photo.pk)
        name = photo.image.name
        photo.image = name
        photo.save()
        assert row_count() == before + 1
        row = last_row()
        assert (row.event, row.change["files"]) == ("overwritten", {"image": [name] * 2})
        drain()
        assert set(cf.urls) == {f"{BASE}/media/{name}", GALLERY_PAGE}


# -- every way of removing a file ---------------------------------------------------------


def assert_removed_purged(cf, banner: Banner, field: str, name: str, count_before: int) -> None:
    """One ``replaced`` row from ``name`` to no file, whose drain purges the old URL."""
    assert not getattr(Banner.objects.get(pk=banner.pk), field)
    assert row_count() == count_before + 1
    row = last_row()
    assert (row.event, row.change["files"]) == ("replaced", {field: [name, None]})
    drain()
    assert set(cf.urls) == {f"{BASE}/media/{name}", BANNERS_PAGE}


@pytest.mark.parametrize("field", FILE_FIELDS)
def test_field_file_delete(banners, cf, field):
    banner = stored_banner(cf)
    name, before = getattr(banner, field).name, row_count()
    getattr(banner, field).delete()  # removes the file from the storage, then saves
    assert not Banner._meta.get_field(field).storage.exists(name)
    assert_removed_purged(cf, banner, field, name, before)


@pytest.mark.parametrize("field", FILE_FIELDS)
def test_field_file_delete_without_saving_then_model_save(banners, cf, field):
    banner = stored_banner(cf)
    name, before = getattr(banner, field).name, row_count()
    getattr(banner, field).delete(save=False)
    assert row_count() == before
    banner.save()
    assert_removed_purged(cf, banner, field, name, before)


def test_model_form_clear_checkbox(banners, cf):
    field = "leaflet"  # the form offers "Clear" for a field that may be blank only
    banner = stored_banner(cf)
    name, before = getattr(banner, field).name, row_count()
    form = BannerForm({"title": banner.title, f"{field}-clear": "on"}, {}, instance=banner)
    assert form.is_valid(), form.errors
    form.save()
    assert_removed_purged(cf, banner, field, name, before)


@pytest.mark.parametrize("field", FILE_FIELDS)
@pytest.mark.parametrize("empty", [None, ""])
def test_assigning_no_file_then_saving(banners, cf, field, empty):
    banner = stored_banner(cf)
    name, before = getattr(banner, field).name, row_count()
    setattr(banner, field, empty)
    banner.save()
    assert_removed_purged(cf, banner, field, name, before)


# -- what is not a write purges nothing ----------------------------------------------------


@pytest.mark.urls(__name__)
def test_admin_save_that_leaves_the_files_alone(banners, cf, admin_client):
    banner = stored_banner(cf)
    before = row_count()
    url = reverse("replace_admin:testapp_banner_change", args=[banner.pk])
    response = admin_client.post(url, {"title": "summer"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Banner.objects.get(pk=banner.pk).title == "summer"
    assert row_count() == before


def test_model_form_save_that_leaves_the_files_alone(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    form = BannerForm({"title": "summer"}, {}, instance=banner)
    assert form.is_valid(), form.errors
    form.save()
    assert row_count() == before


def test_reading_urls_then_saving(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    assert banner.image.url == f"/media/{banner.image.name}"
    assert banner.leaflet.url == f"/media/{banner.leaflet.name}"
    assert banner.image.size == len(OLD)
    banner.save()
    assert row_count() == before


def test_update_fields_without_a_file_field(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    banner.title = "summer"
    banner.save(update_fields=["title"])
    assert row_count() == before


def test_an_overwrite_left_out_of_update_fields_is_purged_by_the_save_that_names_it(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    banner.image.save("a.png", ContentFile(NEW), save=False)
    banner.save(update_fields=["title"])
    assert row_count() == before
    banner.save(update_fields=["image"])
    assert last_row().event == "overwritten"
    assert last_row().change["files"] == {"image": [banner.image.name] * 2}


def test_loading_objects_then_saving(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    for loaded in [*Banner.objects.all(), Banner.objects.get(pk=banner.pk)]:
        loaded.save()
    list(Banner.objects.only("title"))
    assert row_count() == before


def test_refresh_from_db_then_saving(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    banner.refresh_from_db()
    banner.save()
    banner.refresh_from_db(fields=["image"])
    banner.save()
    assert row_count() == before


def test_a_write_undone_by_refresh_from_db(banners, cf):
    banner = stored_banner(cf)
    before = row_count()
    banner.image.save("b.png", ContentFile(NEW), save=False)  # another name: not saved
    banner.refresh_from_db()
    banner.save()
    assert row_count() == before


def test_new_name_on_an_overwriting_storage_is_a_replacement(banners, cf):
    banner = stored_banner(cf)
    old = banner.image.name
    banner.image.save("b.png", ContentFile(NEW))
    row = last_row()
    assert row.event == "replaced"
    assert row.change["files"] == {"image": [old, banner.image.name]}


# -- tracking follows the registration -------------------------------------------------------


def test_tracking_is_removed_with_the_registration(cf):
    field = Banner._meta.get_field("leaflet")
    with registry.override():
        registry.register(Banner, urls=["/banners/"])
        assert type(vars(Banner)["leaflet"]) is not FileDescriptor
        assert field.attr_class is not FieldFile
        banner = stored_banner(cf)
    assert type(vars(Banner)["leaflet"]) is FileDescriptor
    assert field.attr_class is FieldFile
    assert Banner._meta.get_field("image").attr_class is ImageFieldFile
    before = row_count()
    Banner.objects.get(pk=banner.pk).leaflet.save("a.pdf", ContentFile(NEW))
    assert row_count() == before


def test_only_registered_fields_are_tracked(cf):
    with registry.override():
        registry.register(Banner, fields=["image"])
        assert Banner._meta.get_field("leaflet").attr_class is FieldFile
        assert type(vars(Banner)["leaflet"]) is FileDescriptor


def test_instances_with_written_files_pickle_as_plain_django_objects(banners, cf):
    """Sites cache model instances: their files must not pickle as classes of this app."""
    banner = stored_banner(cf)
    banner.leaflet.save("a.pdf", ContentFile(NEW), save=False)
    assert banner.image.url and banner.leaflet.url  # as a rendered template does
    data = pickle.dumps(banner)
    assert b"django_cfpurge.receivers" not in data
    copy = pickle.loads(data)  # noqa: S301  (bytes this test just made)
    assert type(copy.__dict__["image"]) is ImageFieldFile
    assert type(copy.__dict__["leaflet"]) is FieldFile
    assert copy.image.name == banner.image.name
    assert copy.leaflet.name == banner.leaflet.name


# -- against a real S3 API server, with django-storages' S3Storage defaults ----------------


@pytest.fixture
def photos():
    with registry.override():
        registry.register(Photo, fields=["image"], urls=["/gallery/"])
        yield


def stored_photo(cf) -> Photo:
    photo = Photo(title="harbour")
    photo.image.save("a.jpg", ContentFile(b"old bytes"))
    drain()
    cf.clear()
    return Photo.objects.get(pk=photo.pk)


def assert_s3_overwrite_purged(cf, s3_media, photo: Photo, count_before: int) -> None:
    photo = Photo.objects.get(pk=photo.pk)
    name = photo.image.name
    assert name == "photos/a.jpg"
    assert row_count() == count_before + 1
    row = last_row()
    assert row.event == "overwritten"
    assert row.change == {
        "files": {"image": [name, name]},
        "fields": {},
        "values": {},
        "current": {"image": name},
    }
    with photo.image.open("rb") as stored:
        assert stored.read() == b"new bytes"
    # What the storage hands out is signed; what is purged is the bare URL.
    assert "Signature=" in photo.image.url
    drain()
    assert set(cf.urls) == {s3_media.url(name), GALLERY_PAGE}


@pytest.mark.slow
def test_s3_field_file_save(photos, cf, s3_media):
    photo = stored_photo(cf)
    before = row_count()
    photo.image.save("a.jpg", ContentFile(b"new bytes"))
    assert_s3_overwrite_purged(cf, s3_media, photo, before)


@pytest.mark.slow
def test_s3_field_file_save_without_saving_then_model_save(photos, cf, s3_media):
    photo = stored_photo(cf)
    before = row_count()
    photo.image.save("a.jpg", ContentFile(b"new bytes"), save=False)
    photo.save()
    assert_s3_overwrite_purged(cf, s3_media, photo, before)


@pytest.mark.slow
def test_s3_assigning_a_file_then_saving(photos, cf, s3_media):
    photo = stored_photo(cf)
    before = row_count()
    photo.image = ContentFile(b"new bytes", name="a.jpg")
    photo.save()
    assert_s3_overwrite_purged(cf, s3_media, photo, before)


@pytest.mark.slow
@pytest.mark.parametrize("assign", ["field", "field.name"])
def test_s3_writing_to_the_storage_then_assigning_the_name(photos, cf, s3_media, assign):
    photo = stored_photo(cf)
    before = row_count()
    assert default_storage.save("photos/a.jpg", ContentFile(b"new bytes")) == "photos/a.jpg"
    if assign == "field":
        photo.image = "photos/a.jpg"
    else:
        photo.image.name = "photos/a.jpg"
    photo.save()
    assert_s3_overwrite_purged(cf, s3_media, photo, before)


@pytest.mark.slow
def test_s3_saves_that_write_nothing(photos, cf, s3_media):
    photo = stored_photo(cf)
    before = row_count()
    assert photo.image.url
    photo.save()
    photo.refresh_from_db()
    photo.save()
    assert row_count() == before


@pytest.mark.slow
def test_s3_sigv4_signed_url_is_purged_bare(photos, cf, s3_media, settings):
    settings.AWS_S3_SIGNATURE_VERSION = "s3v4"
    settings.STORAGES = {**settings.STORAGES}  # a new default storage with that setting
    photo = stored_photo(cf)
    assert "X-Amz-Signature=" in photo.image.url
    photo.image.save("a.jpg", ContentFile(b"new bytes"))
    drain()
    assert set(cf.urls) == {s3_media.url("photos/a.jpg"), GALLERY_PAGE}
