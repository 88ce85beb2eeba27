"""The file states behind the Cloudflare Images backend, in the core: the registration's
``private=``, what the resolver says of each file URL (``gone``, ``hide``, ``show``),
which zones get them, and one pass's hide/show of one URL agreeing with its newest row."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from django_cfpurge import api
from django_cfpurge.changes import Change, payload
from django_cfpurge.enums import EXPLICIT_KINDS, FILE_STATE_KINDS, HOST_KINDS, Kind
from django_cfpurge.exceptions import CfPurgeConfigurationError, InvalidTarget
from django_cfpurge.file_states import latest_visibility
from django_cfpurge.registry import FieldFlag, registry
from django_cfpurge.resolvers import resolve_change
from django_cfpurge.routes import covered
from django_cfpurge.targets import host_of
from tests.testapp.models import Photo, Poster

pytestmark = pytest.mark.django_db

WWW = "https://www.example.com"


@pytest.fixture(autouse=True)
def origins(settings: Any) -> None:
    settings.CFPURGE = {"BASE_URLS": [WWW]}


@pytest.fixture
def reg() -> Any:
    with registry.override():
        yield registry.register


def url(name: str) -> str:
    return f"{WWW}/media/{name}"


def states(registration: Any, event: str, **data: Any) -> dict[str, list[str]]:
    return resolve_change(registration, Change.from_payload(event, payload(**data))).states


def hidden_when_blocked(change: Change) -> bool:
    return bool(change.values.get("is_public") is False)


# -- the vocabulary --------------------------------------------------------------------


def test_file_states_are_kinds_nobody_asks_for_by_hand() -> None:
    assert {"gone", "hide", "show"} == FILE_STATE_KINDS
    assert not FILE_STATE_KINDS & set(EXPLICIT_KINDS)
    assert FILE_STATE_KINDS <= HOST_KINDS
    assert host_of(Kind.GONE, "https://IMG.example.com/a.jpg") == "img.example.com"
    with pytest.raises(InvalidTarget, match="Unknown purge kind 'gone'"):
        api.purge("gone", ["https://www.example.com/a.jpg"])


# -- private= ---------------------------------------------------------------------------


def test_private_by_field_name_is_watched(reg: Any) -> None:
    registration = reg(Photo, fields=["image"], private="!is_public")
    assert registration.private == FieldFlag("is_public", negate=True)
    assert str(registration.private) == "!is_public"
    assert registration.watch == ("is_public",)
    on = Change.from_payload("changed", payload(values={"is_public": False}))
    assert registration.is_private(on) is True
    assert registration.is_private(Change.from_payload("changed", payload())) is True


def test_private_by_a_field_already_watched(reg: Any) -> None:
    registration = reg(Photo, fields=["image"], watch=["is_public", "folder"], private="is_public")
    assert registration.watch == ("is_public", "folder")
    assert registration.private == FieldFlag("is_public")


def test_private_by_callable_or_dotted_path(reg: Any) -> None:
    registration = reg(Photo, fields=["image"], watch=["is_public"], private=hidden_when_blocked)
    assert registration.private is hidden_when_blocked
    registry.unregister(Photo)
    path = f"{__name__}.hidden_when_blocked"
    assert reg(Photo, fields=["image"], private=path).private is hidden_when_blocked
    assert registry.get(Photo).is_private(Change.from_payload("x", payload())) is False


def test_no_private_says_nothing(reg: Any) -> None:
    assert reg(Photo, fields=["image"]).is_private(Change("changed", Photo, "1")) is None


@pytest.mark.parametrize(
    ("private", "message"),
    [
        ("is_hidden", "has no field 'is_hidden' (in private=)"),
        ("!gallery.nope.func", "has no field 'gallery.nope.func' (in private=)"),
        (42, "private must be a field name or a callable, not int"),
    ],
)
def test_a_bad_private_is_a_configuration_error(reg: Any, private: Any, message: str) -> None:
    with pytest.raises(CfPurgeConfigurationError) as caught:
        reg(Photo, fields=["image"], private=private)
    assert message in str(caught.value)


def test_private_in_settings(settings: Any) -> None:
    settings.CFPURGE = {"MODELS": {"testapp.Photo": {"fields": ["image"], "private": "!is_public"}}}
    with registry.override():
        registry.load_from_settings()
        assert registry.get(Photo).private == FieldFlag("is_public", negate=True)


# -- what the resolver says of each file ----------------------------------------------------


def test_states_per_event(reg: Any) -> None:
    r = reg(Photo, fields=["image"], private="!is_public")
    public, private = {"is_public": True}, {"is_public": False}
    a, b = "photos/a.jpg", "photos/b.jpg"
    # created: a new upload is public, so only a private object's file is hidden
    assert (
        states(r, "created", files={"image": [None, a]}, values=public, current={"image": a}) == {}
    )
    assert states(
        r, "created", files={"image": [None, a]}, values=private, current={"image": a}
    ) == {"hide": [url(a)]}
    # replaced / renamed: the old file is gone; a private object's new file is hidden
    assert states(r, "replaced", files={"image": [a, b]}, values=public, current={"image": b}) == {
        "gone": [url(a)]
    }
    assert states(r, "renamed", files={"image": [a, b]}, values=private, current={"image": b}) == {
        "gone": [url(a)],
        "hide": [url(b)],
    }
    # overwritten under the same name: still used, nothing changes
    assert (
        states(r, "overwritten", files={"image": [a, a]}, values=private, current={"image": a})
        == {}
    )
    # cleared: the old file is gone
    assert states(
        r, "replaced", files={"image": [a, None]}, values=public, current={"image": None}
    ) == {"gone": [url(a)]}
    # deleted: every file is gone, whatever its privacy
    assert states(r, "deleted", files={"image": [a, None]}, values=private) == {"gone": [url(a)]}
    # a watched field flips: hide or show
    blocked = {"is_public": [True, False]}
    shown = {"is_public": [False, True]}
    assert states(r, "changed", fields=blocked, values=private, current={"image": a}) == {
        "hide": [url(a)]
    }
    assert states(r, "changed", fields=shown, values=public, current={"image": a}) == {
        "show": [url(a)]
    }
    # another watched change, privacy unchanged: nothing
    assert states(r, "changed", fields={}, values=private, current={"image": a}) == {}
    # the bulk helper says what the object is now
    assert states(r, "bulk", values=private, current={"image": a}) == {"hide": [url(a)]}
    assert states(r, "bulk", values=public, current={"image": a}) == {"show": [url(a)]}


def test_without_private_only_gone_files_are_said(reg: Any) -> None:
    r = reg(Photo, fields=["image"], watch=["is_public"])
    blocked = {"is_public": [True, False]}
    assert states(r, "changed", fields=blocked, current={"image": "photos/a.jpg"}) == {}
    assert states(r, "deleted", files={"image": ["photos/a.jpg", None]}) == {
        "gone": [url("photos/a.jpg")]
    }


def test_a_file_moved_to_another_field_is_not_gone(reg: Any) -> None:
    r = reg(Poster, fields=["original", "preview"])
    moved = states(
        r,
        "replaced",
        files={"original": ["posters/a.jpg", "posters/b.jpg"], "preview": [None, "posters/a.jpg"]},
        current={"original": "posters/b.jpg", "preview": "posters/a.jpg"},
    )
    assert moved == {}


def test_states_never_change_the_targets(reg: Any) -> None:
    r = reg(Photo, fields=["image"], private="!is_public")
    change = Change.from_payload(
        "replaced",
        payload(
            files={"image": ["photos/a.jpg", "photos/b.jpg"]},
            values={"is_public": False},
            current={"image": "photos/b.jpg"},
        ),
    )
    result = resolve_change(r, change)
    assert result.targets == {"files": [url("photos/a.jpg"), url("photos/b.jpg")]}
    assert result.all_targets()[-2:] == [
        ("gone", [url("photos/a.jpg")]),
        ("hide", [url("photos/b.jpg")]),
    ]


def test_the_change_seen_from_before() -> None:
    change = Change(
        "changed",
        Photo,
        "1",
        instance=Photo(),
        fields={"is_public": (True, False)},
        values={"is_public": False, "folder": 3},
    )
    before = change.before()
    assert before.values == {"is_public": True, "folder": 3}
    assert before.instance is None and change.values["is_public"] is False


# -- which zones get them -------------------------------------------------------------------


def test_what_a_cdn_needs_nothing_more_for() -> None:
    urls = ("files", "prefixes", "hosts", "tags", "everything")
    states_only = ("gone", "hide", "show")
    for state in ("gone", "hide", "show"):
        # files lists the same URL: a CDN that purges URLs takes that.
        assert covered(state, urls, model_change=True)
    # A model change's files on a CDN that takes file states: the states say it all...
    assert covered("files", states_only, model_change=True)
    # ...but a URL someone asked to purge is not something it can do.
    assert not covered("files", states_only, model_change=False)
    assert not covered("prefixes", states_only, model_change=True)
    assert not covered("files", ("tags",), model_change=True)


def row(pk: int, minutes: int, **targets: list[str]) -> Any:
    when = timezone.now() + timedelta(minutes=minutes)
    return SimpleNamespace(pk=pk, created_at=when, targets=dict(targets))


def test_the_newest_hide_or_show_of_a_url_wins() -> None:
    rows = [
        row(1, 0, hide=["u", "v"]),
        row(2, 1, show=["u"]),
        row(3, 2, hide=["u"], gone=["w"]),
        row(4, 3, show=["v", "w"]),
    ]
    latest_visibility(rows)
    assert [r.targets for r in rows] == [
        {"hide": ["u"]},
        {},
        {"hide": ["u"], "gone": ["w"]},
        {"show": ["v"]},
    ]


def test_age_decides_not_the_order_of_the_rows() -> None:
    rows = [row(2, 5, show=["u"]), row(1, 0, hide=["u"])]
    latest_visibility(rows)
    assert [r.targets for r in rows] == [{"show": ["u"]}, {}]
