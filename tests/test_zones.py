"""Zones given in settings: mirrored rows, the auth kind they ask for, and renames."""

from __future__ import annotations

import pytest

from django_cfpurge.backends.cloudflare.credentials import AUTH_GLOBAL_KEY, AUTH_TOKEN
from django_cfpurge.exceptions import InvalidCredentials
from django_cfpurge.models import Zone
from django_cfpurge.zones import backend_for, reset_sync_cache, sync_settings_zones
from tests.cfapi import API_TOKEN, GLOBAL_API_KEY, ZONE_ID

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_sync():
    reset_sync_cache()
    yield
    reset_sync_cache()


def test_zone_id_without_secret_asks_for_an_api_token(settings):
    settings.CFPURGE = {"ZONE_NAME": "production", "ZONE_ID": ZONE_ID}
    sync_settings_zones()
    zone = Zone.objects.get(name="production")
    assert zone.auth_kind == AUTH_TOKEN
    with pytest.raises(InvalidCredentials, match="API token"):
        backend_for(zone)


def test_global_key_in_settings_makes_a_global_key_zone(settings):
    settings.CFPURGE = {
        "ZONE_ID": ZONE_ID,
        "EMAIL": "ops@example.com",
        "API_KEY": GLOBAL_API_KEY,
    }
    sync_settings_zones()
    zone = Zone.objects.get(name="default")
    assert zone.auth_kind == AUTH_GLOBAL_KEY
    assert zone.api_key == ""  # the secret stays in settings
    assert backend_for(zone).credentials.api_key == GLOBAL_API_KEY


def test_renamed_settings_zone_disables_the_old_row(settings):
    settings.CFPURGE = {"ZONE_NAME": "old", "ZONE_ID": ZONE_ID, "API_TOKEN": API_TOKEN}
    sync_settings_zones()
    settings.CFPURGE = {"ZONE_NAME": "new", "ZONE_ID": ZONE_ID, "API_TOKEN": API_TOKEN}
    sync_settings_zones()
    old = Zone.objects.get(name="old")
    new = Zone.objects.get(name="new")
    assert (old.from_settings, old.enabled) == (False, False)
    assert (new.from_settings, new.enabled) == (True, True)
