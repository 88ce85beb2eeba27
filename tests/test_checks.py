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
        found = cf_checks.check_settings()
    assert ids(found) == ["cfpurge.E002", "cfpurge.E003", "cfpurge.E004"]
    e002 = next(m for m in found if m.id == "cfpurge.E002")
    assert "MEDIA_URL ('/media/') is relative" in e002.msg
    assert "BASE_URLS" in e002.hint


@override_settings(CFPURGE={"API_URL": "http://127.0.0.1:8787/client/v4", "BASE_URLS": ["x"]})
def test_loopback_http_is_allowed_and_bad_origin_reported():
    assert ids(cf_checks.check_settings()) == ["cfpurge.E006"]


@override_settings(CFPURGE={"ENABLED": False})
def test_disabled_warns():
    assert ids(cf_checks.check_settings()) == ["cfpurge.W005"]


@override_settings(CFPURGE={"ZONE_ID": "example.com", "API_TOKEN": API_TOKEN})
def test_bad_settings_zone():
    (error,) = cf_checks.check_settings_zones()
    assert error.id == "cfpurge.E005"
    assert "looks like a domain name" in error.msg
    assert API_TOKEN not in error.msg + error.hint


@override_settings(CFPURGE={"ZONE_ID": ZONE_ID, "API_TOKEN": GLOBAL_API_KEY})
def test_global_key_in_settings_token():
    (error,) = cf_checks.check_settings_zones()
    assert "This is a Global API Key, not an API token" in error.msg


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
        found = cf_checks.check_settings()
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
