"""Change capture: which saves and deletes write which outbox rows."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction

from django_cfpurge.exceptions import AlreadyRegistered, CfPurgeConfigurationError
from django_cfpurge.models import PurgeChange, PurgeRequest
from django_cfpurge.outbox.ingest import ingest_all
from django_cfpurge.registry import registry
from tests.testapp.models import Document, Folder, Photo, Poster, PublicPhoto

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos():
    with registry.override():
        registry.register(
            Photo,
            fields=["image"],
            watch=["is_public", "folder"],
            urls=lambda change: ["/gallery/"],
        )
        yield


def rows():
    """The purge requests recorded so far (moved from the request path's change rows)."""
    ingest_all()
    return list(PurgeRequest.objects.order_by("id"))


def new_photo(name="a.jpg", **kwargs):
    photo = Photo(**kwargs)
    photo.image.save(name, ContentFile(b"v1"), save=False)
    photo.save()
    return photo


def test_create_records_the_new_file(photos):
    photo = new_photo("cat.jpg")
    (row,) = rows()
    assert row.event == "created"
    assert row.model_label == "testapp.Photo"
    assert row.object_pk == str(photo.pk)
    assert row.change["files"] == {"image": [None, photo.image.name]}
    assert row.status == "pending"


def test_replace_with_new_name_records_old_and_new(photos):
    photo = new_photo("cat.jpg")
    old = photo.image.name
    photo = Photo.objects.get(pk=photo.pk)
    photo.image.save("dog.jpg", ContentFile(b"v2"), save=True)
    row = rows()[-1]
    assert row.event == "replaced"
    assert row.change["files"] == {"image": [old, photo.image.name]}
    assert old != photo.image.name


class OverwritingStorage(FileSystemStorage):
    """A storage that writes over an existing name (like S3 with file_overwrite)."""

    def get_available_name(self, name, max_length=None):
        if self.exists(name):
            self.delete(name)
        return name


def test_same_name_overwrite_is_recorded(photos, monkeypatch):
    storage = OverwritingStorage()
    monkeypatch.setattr(Photo._meta.get_field("image"), "storage", storage)
    photo = new_photo("same.jpg")
    name = photo.image.name
    photo = Photo.objects.get(pk=photo.pk)
    # What a form or the admin does: assign the upload, then save the model.
    photo.image = ContentFile(b"v2", name="same.jpg")
    photo.save()
    assert photo.image.name == name
    row = rows()[-1]
    assert row.event == "overwritten"
    assert row.change["files"] == {"image": [name, name]}


def test_rename_records_old_and_new_path(photos):
    photo = new_photo("cat.jpg")
    old = photo.image.name
    photo = Photo.objects.get(pk=photo.pk)
    photo.image.name = "photos/moved/cat.jpg"
    photo.save()
    row = rows()[-1]
    assert row.event == "renamed"
    assert row.change["files"] == {"image": [old, "photos/moved/cat.jpg"]}


def test_new_content_under_a_new_name_is_a_replacement(photos):
    photo = Photo.objects.get(pk=new_photo("cat.jpg").pk)
    old = photo.image.name
    photo.image.save("dog.jpg", ContentFile(b"other bytes"))
    row = rows()[-1]
    assert row.event == "replaced"
    assert row.change["files"] == {"image": [old, photo.image.name]}


def test_delete_records_the_stored_name(photos):
    photo = new_photo("cat.jpg")
    name = photo.image.name
    Photo.objects.get(pk=photo.pk).delete()
    row = rows()[-1]
    assert row.event == "deleted"
    assert row.change["files"] == {"image": [name, None]}
    assert row.change["values"]["is_public"] is True


def test_watched_field_change(photos):
    photo = new_photo("cat.jpg")
    photo = Photo.objects.get(pk=photo.pk)
    photo.is_public = False
    photo.save()
    row = rows()[-1]
    assert row.event == "changed"
    assert row.change["fields"] == {"is_public": [True, False]}
    assert row.change["current"] == {"image": photo.image.name}


def test_foreign_key_move_is_a_watched_change(photos):
    a, b = Folder.objects.create(slug="a"), Folder.objects.create(slug="b")
    photo = new_photo("cat.jpg", folder=a)
    photo = Photo.objects.get(pk=photo.pk)
    photo.folder = b
    photo.save()
    assert rows()[-1].change["fields"] == {"folder": [a.pk, b.pk]}


def test_saves_that_change_nothing_registered_write_nothing(photos):
    photo = new_photo("cat.jpg")
    count = len(rows())
    photo = Photo.objects.get(pk=photo.pk)
    photo.title = "renamed title"
    photo.views += 1
    photo.save()
    photo.save()
    assert len(rows()) == count


def test_update_fields_without_registered_fields_write_nothing(photos):
    photo = new_photo("cat.jpg")
    count = len(rows())
    photo.is_public = False  # changed in memory, but not saved by update_fields
    photo.views = 7
    photo.save(update_fields=["views"])
    assert len(rows()) == count
    photo.save(update_fields=["is_public"])
    assert len(rows()) == count + 1


def test_raw_saves_write_nothing(photos):
    from django.db.models.signals import post_save, pre_save

    photo = Photo(image="photos/x.jpg")
    pre_save.send(sender=Photo, instance=photo, raw=True)
    photo.save_base(raw=True)
    post_save.send(sender=Photo, instance=photo, created=True, raw=True)
    assert len(rows()) == 0


def test_deferred_file_field_reads_old_name_from_database(photos):
    photo = new_photo("cat.jpg")
    old = photo.image.name
    deferred = Photo.objects.defer("image").get(pk=photo.pk)
    deferred.image = "photos/other.jpg"
    deferred.save()
    assert rows()[-1].change["files"] == {"image": [old, "photos/other.jpg"]}


def test_unregistered_models_write_nothing(photos):
    doc = Document(title="x")
    doc.file.save("d.pdf", ContentFile(b"x"))
    doc.delete()
    assert len(rows()) == 0


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_leaves_no_row(photos):
    with pytest.raises(RuntimeError), transaction.atomic():
        new_photo("cat.jpg")
        assert len(rows()) == 1
        raise RuntimeError("rollback")
    assert len(rows()) == 0


def test_one_dispatch_per_transaction(photos, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("django_cfpurge.dispatch.dispatch_drain", lambda: sent.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for i in range(5):
            new_photo(f"p{i}.jpg")
    assert len(rows()) == 5
    assert len(callbacks) == 1


def test_snapshot_holds_names_not_file_objects(photos):
    photo = new_photo("cat.jpg")
    loaded = Photo.objects.get(pk=photo.pk)
    snap = loaded.__dict__["_cfpurge_snapshot"]
    assert snap == {"image": photo.image.name, "is_public": True, "folder": None}
    assert all(isinstance(v, str | bool | type(None)) for v in snap.values())


def test_registration_errors_are_clear():
    with registry.override():
        with pytest.raises(CfPurgeConfigurationError, match="no field 'nope'"):
            registry.register(Photo, fields=["nope"])
        with pytest.raises(CfPurgeConfigurationError, match="not a FileField"):
            registry.register(Photo, fields=["title"])
        with pytest.raises(CfPurgeConfigurationError, match="no such model"):
            registry.register("testapp.Nope")
        registry.register(Photo)
        with pytest.raises(AlreadyRegistered):
            registry.register(Photo)
    assert Photo not in registry


def test_saves_through_a_proxy_model_are_captured(photos):
    photo = PublicPhoto()
    photo.image.save("proxy.jpg", ContentFile(b"v1"), save=True)
    PublicPhoto.objects.get(pk=photo.pk).delete()
    assert [(r.event, r.model_label) for r in rows()] == [
        ("created", "testapp.Photo"),
        ("deleted", "testapp.Photo"),
    ]
    assert rows()[-1].change["files"] == {"image": [photo.image.name, None]}


def test_replacing_one_file_while_hiding_the_object_reaches_every_file():
    from django_cfpurge.resolvers import change_for

    with registry.override():
        registry.register(Poster, watch=["is_public"])
        poster = Poster()
        poster.original.save("big.jpg", ContentFile(b"v1"), save=False)
        poster.preview.save("small.jpg", ContentFile(b"p1"), save=False)
        poster.save()
        poster = Poster.objects.get(pk=poster.pk)
        old_original = poster.original.name
        poster.original.save("big2.jpg", ContentFile(b"v2"), save=False)
        poster.is_public = False
        poster.save()
        row = rows()[-1]
        change = change_for(row, registry.get(Poster))
    assert row.event == "replaced"
    # The unchanged preview is hidden too: it must leave the cache with the original.
    assert change.file_names == [old_original, poster.original.name, poster.preview.name]
    assert change.names_for("preview") == [poster.preview.name]


def test_a_host_name_is_a_literal_target_not_a_dotted_path():
    with registry.override():
        registration = registry.register(
            Photo, urls="https://www.example.com/gallery/", prefixes="www.example.com"
        )
    assert registration.prefixes == ("www.example.com",)
    assert registration.urls == ("https://www.example.com/gallery/",)


def test_a_dotted_path_to_a_missing_callable_is_an_error():
    with registry.override(), pytest.raises(CfPurgeConfigurationError, match="cannot import"):
        registry.register(Photo, urls="tests.testapp.models.no_such_function")


def test_a_recorded_change_becomes_the_purge_request_it_describes(photos):
    photo = new_photo("é.jpg", is_public=False)
    (change,) = PurgeChange.objects.all()
    assert change.created_at is not None
    (row,) = rows()
    assert not PurgeChange.objects.exists()  # moved, not copied
    assert (row.source, row.event, row.model_label, row.object_pk) == (
        "model",
        "created",
        "testapp.Photo",
        str(photo.pk),
    )
    assert row.object_repr == str(photo)
    assert row.change["files"] == {"image": [None, photo.image.name]}
    assert row.change["values"] == {"is_public": False, "folder": None}
    assert (row.status, row.created_at, row.next_attempt_at) == (
        "pending",
        change.created_at,
        change.created_at,
    )


def test_a_registered_save_costs_one_insert_and_nothing_else(photos, django_assert_num_queries):
    photo = new_photo("cat.jpg")
    photo = Photo.objects.get(pk=photo.pk)
    photo.is_public = not photo.is_public
    # The save's UPDATE and the change's INSERT: no SELECT, no id read back.
    with django_assert_num_queries(2) as captured:
        photo.save()
    assert captured.captured_queries[1]["sql"].startswith(
        'INSERT INTO "django_cfpurge_purgechange"'
    )


def test_changes_recorded_while_suspended_are_held(photos):
    from django_cfpurge import suspend_purging

    with suspend_purging():
        new_photo("held.jpg")
        (held,) = rows()
        assert held.status == "held" and held.batch
    (row,) = rows()
    assert row.status == "pending" and row.event == "created"


def test_changes_recorded_while_suspended_with_discard_are_logged_as_dropped(photos):
    from django_cfpurge import suspend_purging

    with suspend_purging(discard=True):
        new_photo("dropped.jpg")
    assert not PurgeChange.objects.exists()
    (row,) = PurgeRequest.objects.all()
    assert row.status == "dropped" and "discard=True" in row.last_error
