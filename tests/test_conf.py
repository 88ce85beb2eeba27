"""The settings reader: typed values that never raise (a wrong value is logged once and
the default used), what the system check reports, and a site with broken purge settings
that still saves."""

from __future__ import annotations

import logging

import pytest
from django.core.files.base import ContentFile

from django_cfpurge import conf, tasks
from django_cfpurge.conf import (
    DEFAULTS,
    get_bool,
    get_float,
    get_int,
    get_max_items,
    get_setting,
    get_str,
    parse_bool,
    parse_number,
    problems,
    unknown_keys,
)
from django_cfpurge.models import PurgeRequest
from django_cfpurge.outbox.ingest import ingest_all
from django_cfpurge.registry import registry
from tests.testapp.models import Photo


@pytest.fixture(autouse=True)
def _forget_warnings(monkeypatch):
    """Each test sees the reader's warnings afresh (they are logged once per process)."""
    monkeypatch.setattr(conf, "_warned", set())


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.WARNING, logger="django_cfpurge.conf")

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "django_cfpurge.conf"]

    return messages


# -- parse_bool, parse_number ------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("yes", True),
        ("YES", True),
        (" on ", True),
        ("true", True),
        ("1", True),
        ("0", False),
        ("off", False),
        ("no", False),
        ("False", False),
        ("", False),
    ],
)
def test_parse_bool_accepts_environment_strings(value, expected):
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["perhaps", "y", "2", 2, -1, None, 1.5, [], "enabled"])
def test_parse_bool_refuses_anything_else(value):
    with pytest.raises(ValueError, match="True or False"):
        parse_bool(value)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("abc", {}, "must be a number"),
        ([], {}, "must be a number"),
        (None, {}, "must be a number"),
        (True, {}, "not a boolean"),
        ("nan", {}, "finite"),
        (float("inf"), {}, "finite"),
        (-1, {}, "at least 0"),
        ("0.5", {"minimum": 1}, "at least 1"),
        (2.5, {"whole": True}, "whole number"),
        ("x", {"whole": True}, "whole number"),
    ],
)
def test_parse_number_says_what_is_wrong(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        parse_number(value, **kwargs)


def test_parse_number_accepts_strings_of_digits():
    assert parse_number(" 2.5 ") == 2.5
    assert parse_number("16", whole=True) == 16


# -- typed readers never raise -----------------------------------------------------
def test_typed_readers_read_good_values(settings):
    settings.CFPURGE = {
        "ENABLED": "off",
        "TIMEOUT": "12.5",
        "MAX_ATTEMPTS": "3",
        "TASK_QUEUE": "  purge  ",
        "PROBE_PURGE": 0,
    }
    assert get_bool("ENABLED") is False
    assert get_bool("PROBE_PURGE") is False
    assert get_float("TIMEOUT") == 12.5
    assert get_int("MAX_ATTEMPTS", minimum=1) == 3
    assert get_str("TASK_QUEUE") == "purge"


def test_a_wrong_value_logs_one_warning_and_gives_the_default(settings, warnings):
    settings.CFPURGE = {"COALESCE_SECONDS": "abc", "ENABLED": "perhaps", "MAX_ATTEMPTS": 2.5}
    for _ in range(3):
        assert get_float("COALESCE_SECONDS") == DEFAULTS["COALESCE_SECONDS"]
        assert get_bool("ENABLED") is True
        assert get_int("MAX_ATTEMPTS", minimum=1) == DEFAULTS["MAX_ATTEMPTS"]
    logged = warnings()
    assert len(logged) == 3
    assert logged[0] == (
        "django-cfpurge: CFPURGE['COALESCE_SECONDS'] must be a number (it is 'abc'); "
        "using the default, 1.0."
    )
    assert "CFPURGE['ENABLED'] must be True or False (it is 'perhaps')" in logged[1]
    assert "CFPURGE['MAX_ATTEMPTS'] must be a whole number (it is 2.5)" in logged[2]


def test_another_wrong_value_of_the_same_key_warns_again(settings, warnings):
    settings.CFPURGE = {"TIMEOUT": "abc"}
    get_float("TIMEOUT")
    settings.CFPURGE = {"TIMEOUT": -3}
    get_float("TIMEOUT")
    get_float("TIMEOUT")
    assert [("'abc'" in m, "-3" in m) for m in warnings()] == [(True, False), (False, True)]


def test_a_value_below_the_minimum_gives_the_default(settings, warnings):
    settings.CFPURGE = {"CLAIM_BATCH_SIZE": 0, "CLAIM_LEASE_SECONDS": "0.5"}
    assert get_int("CLAIM_BATCH_SIZE", minimum=1) == 500
    assert get_float("CLAIM_LEASE_SECONDS", minimum=1) == 300
    assert len(warnings()) == 2


@pytest.mark.parametrize("value", [[], {}, None, object()])
def test_values_of_the_wrong_type_give_the_default(settings, value):
    settings.CFPURGE = {"BROKER_BACKOFF_SECONDS": value, "ENABLED": value}
    assert get_float("BROKER_BACKOFF_SECONDS") == 30.0
    assert get_bool("ENABLED") is True


def test_a_cfpurge_setting_that_is_not_a_dict_reads_as_the_defaults(settings):
    settings.CFPURGE = ["ENABLED", False]
    assert get_bool("ENABLED") is True
    assert get_setting("BASE_URLS") == []
    assert problems() == []
    assert unknown_keys() == []


def test_no_cfpurge_setting_reads_as_the_defaults(settings):
    del settings.CFPURGE
    assert get_float("COALESCE_SECONDS") == 1.0
    assert get_setting("ZONE_ID") == ""


def test_get_setting_of_an_unknown_key_is_a_programming_error():
    with pytest.raises(KeyError):
        get_setting("NO_SUCH_KEY")
    assert get_setting("NO_SUCH_KEY", "fallback") == "fallback"


def test_get_str_of_none_is_empty(settings):
    settings.CFPURGE = {"TASK_QUEUE": None, "API_TOKEN": 12345}
    assert get_str("TASK_QUEUE") == ""
    assert get_str("API_TOKEN") == "12345"


# -- MAX_ITEMS_PER_REQUEST -------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), (30, 30), (100, 100), ("500", 500), (500.0, 500)],
)
def test_max_items_per_request(settings, value, expected):
    settings.CFPURGE = {"MAX_ITEMS_PER_REQUEST": value}
    assert get_max_items() == expected


@pytest.mark.parametrize("value", [50, 0, "abc", 30.5, True, 1000])
def test_other_max_items_give_the_cdns_own_limit(settings, warnings, value):
    settings.CFPURGE = {"MAX_ITEMS_PER_REQUEST": value}
    assert get_max_items() is None
    (message,) = warnings()
    assert "CFPURGE['MAX_ITEMS_PER_REQUEST']" in message


# -- problems, unknown keys -------------------------------------------------------
def test_problems_lists_exactly_the_wrong_keys(settings):
    settings.CFPURGE = {
        "ENABLED": "perhaps",
        "PROBE_PURGE": "yes",  # good
        "TIMEOUT": 0,
        "MAX_ATTEMPTS": "3",  # good
        "RETENTION_DAYS": 1.5,
        "RATE_LIMIT_SAFETY": 2,
        "MAX_ITEMS_PER_REQUEST": 50,
        "COALESCE_SECONDS": "0",  # good
        "BASE_URLS": "not checked here",
        "TYPO_KEY": 1,
    }
    found = dict(problems())
    assert sorted(found) == [
        "ENABLED",
        "MAX_ITEMS_PER_REQUEST",
        "RATE_LIMIT_SAFETY",
        "RETENTION_DAYS",
        "TIMEOUT",
    ]
    assert found["ENABLED"] == "CFPURGE['ENABLED'] must be True or False, not 'perhaps'."
    assert found["TIMEOUT"] == "CFPURGE['TIMEOUT'] must be at least 0.001, not 0."
    assert found["RATE_LIMIT_SAFETY"] == (
        "CFPURGE['RATE_LIMIT_SAFETY'] must be between 0.01 and 1, not 2."
    )


def test_no_problems_with_good_or_absent_values(settings):
    settings.CFPURGE = {"ENABLED": "no", "TIMEOUT": "30", "MAX_ITEMS_PER_REQUEST": None}
    assert problems() == []
    settings.CFPURGE = {}
    assert problems() == []


def test_unknown_keys_are_listed_sorted(settings):
    settings.CFPURGE = {"ZONE_ID": "x", "ZONEID": "x", "api_token": "t", "BASE_URL": "h"}
    assert unknown_keys() == ["BASE_URL", "ZONEID", "api_token"]


def test_the_readers_never_change_the_users_dict(settings):
    given = {"COALESCE_SECONDS": "abc", "ENABLED": "perhaps"}
    settings.CFPURGE = given
    get_float("COALESCE_SECONDS")
    get_bool("ENABLED")
    problems()
    assert given == {"COALESCE_SECONDS": "abc", "ENABLED": "perhaps"}


# -- a site with broken purge settings -----------------------------------------------
BROKEN = {
    "COALESCE_SECONDS": "abc",
    "RATE_LIMIT_CACHE": "nope",
    "BROKER_BACKOFF_SECONDS": [],
    "DRAIN_MAX_SECONDS": "soon",
    "DEADLINE": None,
    "TASK_QUEUE": None,
    "BASE_URLS": ["https://www.example.com"],
}


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.drain_outbox, "apply_async", lambda **kw: calls.append(kw))
    return calls


@pytest.fixture
def photos():
    with registry.override():
        registry.register(Photo, fields=["image"])
        yield


def save_photo() -> Photo:
    photo = Photo(title="Cat")
    photo.image.save("cat.jpg", ContentFile(b"x"), save=False)
    photo.save()
    return photo


def recorded() -> list[tuple[str, str]]:
    """(model, object) of every change recorded, once moved to the queue."""
    ingest_all()
    return list(PurgeRequest.objects.values_list("model_label", "object_pk"))


@pytest.mark.django_db
def test_a_save_with_broken_settings_succeeds_records_and_dispatches(
    settings, photos, sent, django_capture_on_commit_callbacks
):
    settings.CFPURGE = {**BROKEN, "ENABLED": "yes"}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        photo = save_photo()
    assert Photo.objects.filter(pk=photo.pk).exists()
    assert recorded() == [("testapp.Photo", str(photo.pk))]
    assert len(callbacks) == 1
    (call,) = sent
    assert call["countdown"] == DEFAULTS["COALESCE_SECONDS"]
    assert "queue" not in call


@pytest.mark.django_db
def test_enabled_no_records_but_never_dispatches(
    settings, photos, sent, django_capture_on_commit_callbacks
):
    settings.CFPURGE = {**BROKEN, "ENABLED": "no"}
    with django_capture_on_commit_callbacks(execute=True):
        photo = save_photo()
    assert recorded() == [("testapp.Photo", str(photo.pk))]
    assert sent == []


@pytest.mark.django_db
def test_a_broker_down_with_broken_backoff_still_saves(
    settings, photos, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(**kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.drain_outbox, "apply_async", refuse)
    settings.CFPURGE = {**BROKEN, "ENABLED": True}
    with django_capture_on_commit_callbacks(execute=True):
        photo = save_photo()
    assert recorded() == [("testapp.Photo", str(photo.pk))]


def test_a_cache_alias_that_names_no_cache_gives_the_default(settings, warnings):
    settings.CFPURGE = {"RATE_LIMIT_CACHE": "nope"}
    assert get_str("RATE_LIMIT_CACHE") == "default"
    assert get_str("RATE_LIMIT_CACHE") == "default"
    (message,) = warnings()
    assert "CFPURGE['RATE_LIMIT_CACHE'] must name a cache of CACHES (it is 'nope')" in message


def test_a_cache_alias_that_names_a_cache_is_kept(settings):
    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.CFPURGE = {"RATE_LIMIT_CACHE": " shared "}
    assert get_str("RATE_LIMIT_CACHE") == "shared"
    settings.CFPURGE = {"RATE_LIMIT_CACHE": None}
    assert get_str("RATE_LIMIT_CACHE") == ""
