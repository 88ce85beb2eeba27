"""System checks: stable ids, messages and hints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.test import override_settings
from django.utils import timezone

from django_cfpurge import checks as cf_checks
from django_cfpurge.registry import registry
from django_cfpurge.testing import make_zone
from tests.cfapi import API_TOKEN, GLOBAL_API_KEY, ZONE_ID
from tests.testapp.models import Photo


def ids(messages):
    return sorted(m.id for m in messages)


def run_all():
    return [m for m in checks.run_checks() if m.id.startswith("cfpurge.")]


@override_settings(CFPURGE={"BASE_URLS": ["https://www.example.com"], "ZONE_IDD": "x"})
def test_unknown_key():
    (error,) = cf_checks.check_settings()
    assert error == checks.Error(
        "Unknown CFPURGE keys: ZONE_IDD.",
        hint="Check the spelling against the settings reference.",
        obj="CFPURGE",
        id="cfpurge.E001",
    )


@override_settings(CFPURGE=["not", "a", "dict"])
def test_not_a_dict():
    assert ids(cf_checks.check_settings()) == ["cfpurge.E001"]


@override_settings(
    CFPURGE={"BASE_URLS": [], "MAX_ITEMS_PER_REQUEST": 50, "API_URL": "http://api.example"}
)
def test_relative_media_url_items_and_https():
    with registry.override():
        registry.register(Photo)
        found = [*cf_checks.check_settings(), *cf_checks.check_urls()]
    assert ids(found) == ["cfpurge.E003", "cfpurge.W008", "cfpurge.W010"]
    w008 = next(m for m in found if m.id == "cfpurge.W008")
    assert w008.level == checks.WARNING
    assert "MEDIA_URL ('/media/') is relative" in w008.msg
    assert "BASE_URLS" in w008.hint
    w010 = next(m for m in found if m.id == "cfpurge.W010")
    assert w010.level == checks.WARNING and "must use https" in w010.msg


@override_settings(CFPURGE={"API_URL": "http://127.0.0.1:8787/client/v4", "BASE_URLS": ["x"]})
def test_loopback_http_is_allowed_and_bad_origin_reported():
    assert ids(cf_checks.check_urls()) == ["cfpurge.W014"]


@override_settings(CFPURGE={"ENABLED": False})
def test_disabled_warns():
    assert ids(cf_checks.check_settings()) == ["cfpurge.W005"]


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("COALESCE_SECONDS", "abc", "cfpurge.E010"),
        ("ENABLED", "perhaps", "cfpurge.E010"),
        ("MAX_ATTEMPTS", 2.5, "cfpurge.E010"),
        ("TIMEOUT", -1, "cfpurge.E010"),
        ("RATE_LIMIT_SAFETY", 3, "cfpurge.E010"),
        ("RATE_LIMIT_CACHE", "nope", "cfpurge.E011"),
        ("TASK_QUEUE", 5, "cfpurge.E012"),
        ("BACKENDS", {"cdn": "no.such.Backend"}, "cfpurge.E013"),
    ],
)
def test_wrong_typed_settings_are_errors(name, value, check_id):
    with override_settings(CFPURGE={"BASE_URLS": ["https://www.example.com"], name: value}):
        found = cf_checks.check_settings()
    assert ids(found) == [check_id]
    assert found[0].level == checks.ERROR
    assert name in found[0].msg


@override_settings(CFPURGE={"ZONE_ID": "example.com", "API_TOKEN": API_TOKEN})
@pytest.mark.django_db
def test_bad_settings_zone_is_a_warning():
    found = [m for m in cf_checks.check_zones() if m.id == "cfpurge.W012"]
    (warning,) = found
    assert warning.level == checks.WARNING
    assert "looks like a domain name" in warning.msg
    assert API_TOKEN not in warning.msg + warning.hint


@override_settings(CFPURGE={"ZONE_ID": ZONE_ID, "API_TOKEN": GLOBAL_API_KEY})
@pytest.mark.django_db
def test_global_key_in_settings_token():
    (warning,) = [m for m in cf_checks.check_zones() if m.id == "cfpurge.W012"]
    assert "This is a Global API Key, not an API token" in warning.msg
    assert GLOBAL_API_KEY not in warning.msg + warning.hint


@pytest.mark.parametrize(
    "cfpurge",
    [
        None,  # no CFPURGE at all, MEDIA_URL relative, a model registered
        {"ZONE_ID": ZONE_ID},  # a half-set environment: no token yet
        {"ZONE_ID": ZONE_ID, "API_TOKEN": GLOBAL_API_KEY},
        {"ZONE_ID": ZONE_ID, "API_TOKEN": "cfat_" + "A" * 48},
        {"ZONE_ID": "example.com", "API_TOKEN": API_TOKEN, "BASE_URLS": ["nope"]},
        {"ZONE_ID": ZONE_ID, "API_TOKEN": API_TOKEN, "API_URL": "http://api.example/v4"},
        {"ZONES": [{"NAME": "a"}]},
    ],
)
@pytest.mark.django_db
def test_deploys_never_fail_for_purge_settings(cfpurge, settings):
    """``migrate``, ``runserver`` and every command run the checks: only programming
    mistakes may stop them."""
    from django.core.management import call_command

    from django_cfpurge.zones import reset_sync_cache

    if cfpurge is None:
        del settings.CFPURGE
    else:
        settings.CFPURGE = cfpurge
    reset_sync_cache()
    with registry.override():
        registry.register(Photo)
        found = run_all()
        errors = [m for m in found if m.level >= checks.ERROR]
        assert errors == []
        assert found  # each case is reported, as a warning
        call_command("check", fail_level="ERROR")
        call_command("migrate", verbosity=0)
    reset_sync_cache()


@override_settings(CELERY_BROKER_URL=None)
def test_no_broker(monkeypatch):
    from celery import current_app

    monkeypatch.setattr(current_app.conf, "broker_url", None)
    assert ids(cf_checks.check_celery()) == ["cfpurge.W002"]


@pytest.mark.django_db
def test_no_zone_warns_once():
    found = [m for m in run_all() if m.id == "cfpurge.W001"]
    assert len(found) == 1
    assert "nothing is purged" in found[0].msg


@pytest.mark.django_db
def test_legacy_key_and_expiry_warnings():
    make_zone(
        "legacy.example",
        zone_id="1" * 32,
        auth_kind="global_key",
        api_token="",
        email="o@example.com",
        api_key=GLOBAL_API_KEY,
    )
    make_zone("soon.example", token_expires_on=timezone.now() + timedelta(days=5))
    make_zone("gone.example", zone_id="2" * 32, token_expires_on=timezone.now() - timedelta(days=1))
    found = cf_checks.check_zones()
    assert ids(found) == ["cfpurge.W003", "cfpurge.W004", "cfpurge.W004"]
    messages = " ".join(m.msg for m in found)
    assert "“soon.example” expires soon" in messages
    assert "“gone.example” has expired" in messages
    assert GLOBAL_API_KEY not in messages


@pytest.mark.django_db
def test_no_expiry_warning_for_a_token_replaced_since_the_test():
    tested = timezone.now() - timedelta(hours=2)
    zone = make_zone(
        "example.com", token_expires_on=timezone.now() - timedelta(days=1), last_test_at=tested
    )
    assert [m.id for m in cf_checks.check_zones()] == ["cfpurge.W004"]
    # A new token was saved after that test: the old token's expiry no longer applies.
    zone.credentials_changed_at = timezone.now() - timedelta(hours=1)
    zone.save()
    assert [m.id for m in cf_checks.check_zones()] == []


@pytest.mark.django_db
def test_clean_configuration_has_no_messages():
    make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)
    assert run_all() == []


@override_settings(
    CFPURGE={
        "BASE_URLS": ["https://www.example.com"],
        "MODELS": {
            "testapp.Nope": {},
            "testapp.Photo": {"fields": ["imagee"]},
            "testapp.Document": {"fields": ["file"]},
        },
    }
)
def test_bad_models_entries_are_reported_and_the_good_ones_registered():
    with registry.override():
        registry.load_from_settings(collect_errors=True)
        found = cf_checks.check_models()
        registered = [r.label for r in registry]
    assert ids(found) == ["cfpurge.E007", "cfpurge.E007"]
    assert "CFPURGE['MODELS']['testapp.Nope']: Cannot register 'testapp.Nope'" in found[0].msg
    assert "testapp.Photo has no field 'imagee'" in found[1].msg
    assert registered == ["testapp.Document"]
    assert registry.settings_errors == []  # override() restores them


@override_settings(CFPURGE={"MODELS": {"testapp.Photo": {"fields": ["imagee"]}}})
def test_bad_models_entry_raises_when_not_collecting():
    from django_cfpurge.exceptions import CfPurgeConfigurationError

    with (
        registry.override(),
        pytest.raises(
            CfPurgeConfigurationError, match=r"CFPURGE\['MODELS'\]\['testapp.Photo'\]: .*imagee"
        ),
    ):
        registry.load_from_settings()


@override_settings(CFPURGE={"CLAIM_LEASE_SECONDS": 20})
def test_short_lease_warns():
    (warning,) = cf_checks.check_settings()
    assert warning.id == "cfpurge.W007"
    assert warning.level == checks.WARNING
    assert "purge them twice" in warning.msg


@override_settings(CFPURGE={"MODELS": {"testapp.Photo": {"fields": ["image"]}}})
def test_a_model_registered_in_code_and_in_models_is_reported():
    with registry.override():
        registry.register(Photo, fields=["image"])
        registry.load_from_settings(collect_errors=True)
        (warning,) = cf_checks.check_models()
    assert warning.id == "cfpurge.W011"
    assert "testapp.Photo is registered in code and in CFPURGE['MODELS']" in warning.msg


@pytest.mark.django_db
def test_sqlite_without_immediate_transactions_warns(settings):
    from django.db import connection

    found = cf_checks.check_sqlite(databases=["default"])
    assert ids(found) == ["cfpurge.W015"]
    connection.settings_dict.setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
    try:
        assert cf_checks.check_sqlite(databases=["default"]) == []
    finally:
        del connection.settings_dict["OPTIONS"]["transaction_mode"]


@pytest.mark.django_db
def test_two_zones_on_one_zone_id_or_hostname_warn():
    make_zone("a.example", zone_id=ZONE_ID, hostnames="img.example.com")
    make_zone("b.example", zone_id=ZONE_ID, hostnames="img.example.com")
    found = [m for m in cf_checks.check_zones() if m.id == "cfpurge.W016"]
    assert len(found) == 2
    assert "same zone id" in found[0].msg and "img.example.com" in found[1].msg


@override_settings(CFPURGE={"BUNNY_API_URL": "http://api.bunny.example"})
def test_a_clear_text_bunny_api_url_is_a_warning_too():
    (warning,) = [m for m in cf_checks.check_urls() if m.id == "cfpurge.W010"]
    assert warning.level == checks.WARNING
    assert "BUNNY_API_URL" in warning.msg
    assert "https://api.bunny.net" in warning.hint
