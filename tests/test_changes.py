"""What a save was (created, replaced, renamed, overwritten, a watched field changed, or
nothing), and the names a recorded change purges."""

from __future__ import annotations

import pytest

from django_cfpurge.changes import Change, classify_save, payload

FILES = ("image",)
TWO_FILES = ("original", "preview")
WATCH = ("is_public", "folder")


def classify(old, new, *, files=FILES, watch=WATCH, created=False, written=(), uploaded=()):
    return classify_save(
        files, watch, old, new, created=created, written=list(written), uploaded=list(uploaded)
    )


# -- classify_save -----------------------------------------------------------------
def test_created_records_the_new_files_and_every_watched_value():
    event, change = classify(
        {},
        {"original": "p/a.jpg", "preview": None, "is_public": True, "folder": 3},
        files=TWO_FILES,
        created=True,
        written=["original"],
        uploaded=["original"],
    )
    assert event == "created"
    assert change == {
        "files": {"original": [None, "p/a.jpg"]},
        "fields": {},
        "values": {"is_public": True, "folder": 3},
        "current": {"original": "p/a.jpg", "preview": None},
    }


def test_created_without_a_file_is_still_a_creation():
    event, change = classify({}, {"image": None, "is_public": False}, created=True)
    assert event == "created"
    assert change["files"] == {}
    assert change["values"] == {"is_public": False, "folder": None}


def test_new_content_under_a_new_name_is_a_replacement():
    event, change = classify(
        {"image": "p/a.jpg", "is_public": True},
        {"image": "p/b.jpg", "is_public": True},
        written=["image"],
        uploaded=["image"],
    )
    assert event == "replaced"
    assert change["files"] == {"image": ["p/a.jpg", "p/b.jpg"]}
    assert change["fields"] == {}
    assert change["current"] == {"image": "p/b.jpg"}


def test_a_new_name_without_new_content_is_a_rename():
    event, change = classify(
        {"image": "p/a.jpg"}, {"image": "p/moved/a.jpg"}, written=["image"], uploaded=[]
    )
    assert event == "renamed"
    assert change["files"] == {"image": ["p/a.jpg", "p/moved/a.jpg"]}


def test_the_same_name_written_again_is_an_overwrite():
    event, change = classify(
        {"image": "p/a.jpg"}, {"image": "p/a.jpg"}, written=["image"], uploaded=["image"]
    )
    assert event == "overwritten"
    assert change["files"] == {"image": ["p/a.jpg", "p/a.jpg"]}


def test_a_watched_field_change():
    event, change = classify(
        {"image": "p/a.jpg", "is_public": True, "folder": 1},
        {"image": "p/a.jpg", "is_public": False, "folder": 1},
    )
    assert event == "changed"
    assert change["files"] == {}
    assert change["fields"] == {"is_public": [True, False]}
    assert change["values"] == {"is_public": False, "folder": 1}
    assert change["current"] == {"image": "p/a.jpg"}


def test_a_save_that_changes_nothing_registered_is_none():
    same = {"image": "p/a.jpg", "is_public": True, "folder": 1}
    assert classify(dict(same), dict(same)) is None


def test_an_empty_name_and_no_name_are_the_same_nothing():
    assert classify({"image": ""}, {"image": None}) is None
    assert classify({"image": None}, {"image": ""}) is None
    assert classify({}, {"image": ""}) is None


def test_a_name_written_without_a_file_is_not_an_overwrite():
    assert classify({"image": None}, {"image": None}, written=["image"]) is None


def test_a_file_added_to_an_existing_object_is_a_replacement():
    event, change = classify({"image": None}, {"image": "p/a.jpg"}, written=["image"])
    assert event == "replaced"
    assert change["files"] == {"image": [None, "p/a.jpg"]}


def test_a_file_removed_from_an_existing_object_is_a_replacement():
    event, change = classify({"image": "p/a.jpg"}, {"image": None})
    assert event == "replaced"
    assert change["files"] == {"image": ["p/a.jpg", None]}


def test_replace_wins_over_rename_over_overwrite_across_fields():
    old = {"original": "p/a.jpg", "preview": "p/s.png"}
    renamed_and_overwritten = classify(
        old,
        {"original": "p/moved.jpg", "preview": "p/s.png"},
        files=TWO_FILES,
        written=["original", "preview"],
        uploaded=["preview"],
    )
    assert renamed_and_overwritten[0] == "renamed"
    assert renamed_and_overwritten[1]["files"] == {
        "original": ["p/a.jpg", "p/moved.jpg"],
        "preview": ["p/s.png", "p/s.png"],
    }
    replaced_and_renamed = classify(
        old,
        {"original": "p/moved.jpg", "preview": "p/t.png"},
        files=TWO_FILES,
        written=["original", "preview"],
        uploaded=["preview"],
    )
    assert replaced_and_renamed[0] == "replaced"


def test_a_file_event_with_a_watched_change_keeps_both():
    event, change = classify(
        {"image": "p/a.jpg", "is_public": True},
        {"image": "p/b.jpg", "is_public": False},
        uploaded=["image"],
    )
    assert event == "replaced"
    assert change["fields"] == {"is_public": [True, False]}


def test_a_watched_field_absent_after_the_save_is_not_a_change():
    # update_fields left it out: what is in memory was not written.
    assert classify({"image": "p/a.jpg", "is_public": True}, {"image": "p/a.jpg"}) is None


def test_a_watched_value_unknown_before_counts_as_changed():
    event, change = classify({"image": "p/a.jpg"}, {"image": "p/a.jpg", "folder": 2})
    assert event == "changed"
    assert change["fields"] == {"folder": [None, 2]}


# -- Change ------------------------------------------------------------------------
def change_of(event, **data) -> Change:
    return Change.from_payload(event, payload(**data), pk="1")


def test_names_of_a_replacement_are_old_then_new_without_untouched_fields():
    change = change_of(
        "replaced",
        files={"original": ["p/a.jpg", "p/b.jpg"]},
        current={"original": "p/b.jpg", "preview": "p/s.png"},
    )
    assert change.names_for("original") == ["p/a.jpg", "p/b.jpg"]
    assert change.names_for("preview") == []
    assert change.file_names == ["p/a.jpg", "p/b.jpg"]
    assert change.touches_every_file is False


def test_names_of_an_overwrite_are_the_one_name():
    change = change_of(
        "overwritten", files={"image": ["p/a.jpg", "p/a.jpg"]}, current={"image": "p/a.jpg"}
    )
    assert change.names_for("image") == ["p/a.jpg"]
    assert change.file_names == ["p/a.jpg"]


@pytest.mark.parametrize("event", ["changed", "bulk", "created"])
def test_changes_that_touch_every_file_name_every_current_file(event):
    change = change_of(event, current={"original": "p/a.jpg", "preview": "p/s.png"})
    assert change.touches_every_file is True
    assert change.names_for("original") == ["p/a.jpg"]
    assert change.names_for("preview") == ["p/s.png"]
    assert change.file_names == ["p/a.jpg", "p/s.png"]


def test_a_watched_change_in_a_replacement_touches_every_file():
    change = change_of(
        "replaced",
        files={"original": ["p/a.jpg", "p/b.jpg"]},
        fields={"is_public": [True, False]},
        current={"original": "p/b.jpg", "preview": "p/s.png"},
    )
    assert change.touches_every_file is True
    assert change.names_for("preview") == ["p/s.png"]
    assert change.file_names == ["p/a.jpg", "p/b.jpg", "p/s.png"]


def test_names_of_a_deletion_are_the_stored_names():
    change = change_of(
        "deleted", files={"original": ["p/a.jpg", None], "preview": ["p/s.png", None]}
    )
    assert change.touches_every_file is False
    assert change.names_for("original") == ["p/a.jpg"]
    assert change.file_names == ["p/a.jpg", "p/s.png"]


def test_from_payload_gives_pairs_as_tuples_and_tolerates_missing_keys():
    change = Change.from_payload(
        "changed", {"fields": {"folder": [1, 2]}}, pk="4", instance=None, model=None
    )
    assert change.fields == {"folder": (1, 2)}
    assert (change.files, change.values, change.current) == ({}, {}, {})
    assert change.file_names == []
    empty = Change.from_payload("deleted", {})
    assert empty.names_for("image") == []
