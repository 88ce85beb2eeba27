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


# -- hostname patterns -------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "*",
        "*.example.com",
        "http://evil/",
        "https://www.example.com",
        "a/b",
        ":8080",
        "www.example.com:8080",
        "-bad.example.com",
        "exa mple.com,*",
        ".",
    ],
)
def test_clean_hostnames_refuses_what_is_not_a_host_name(text):
    from django_cfpurge.zones import clean_hostnames

    with pytest.raises(InvalidCredentials) as info:
        clean_hostnames(text)
    assert info.value.field == "hostnames"
    bad = [part for part in text.replace(",", " ").split() if part not in ("exa", "mple.com")]
    assert f"“{bad[0]}”" in str(info.value)


def test_clean_hostnames_accepts_hosts_and_domains_lower_cased():
    from django_cfpurge.zones import clean_hostnames

    text = ".example.com\nwww.Example.com.\n  img.example.net, .EXAMPLE.com 192.0.2.7"
    assert clean_hostnames(text) == [
        ".example.com",
        "www.example.com",
        "img.example.net",
        "192.0.2.7",
    ]
    assert clean_hostnames("") == []


def zone(name, **fields):
    from django_cfpurge.testing import make_zone

    return make_zone(name, **fields)


def test_hostname_patterns_explicit_first():
    from django_cfpurge.zones import hostname_patterns

    z = zone(
        "example.com",
        hostnames="WWW.example.com, .img.example.com\nstatic.example.net",
        remote_hostnames=["cdn.example.com"],
        remote_name="example.org",
    )
    assert hostname_patterns(z) == ["www.example.com", ".img.example.com", "static.example.net"]


def test_hostname_patterns_then_what_the_cdn_reported():
    from django_cfpurge.zones import hostname_patterns

    z = zone("example.com", remote_hostnames=["CDN.example.com", ".assets.example.com"])
    assert hostname_patterns(z) == ["cdn.example.com", ".assets.example.com"]


def test_hostname_patterns_then_the_zones_own_domain():
    from django_cfpurge.zones import hostname_patterns

    assert hostname_patterns(zone("Example.com.")) == [".example.com"]
    assert hostname_patterns(zone("production", remote_name="example.org")) == [".example.org"]
    assert hostname_patterns(zone("shop.example.net", remote_name="example.net")) == [
        ".example.net",
        ".shop.example.net",
    ]
    assert hostname_patterns(zone("default")) == []


def test_router_most_specific_pattern_wins_exact_before_domain():
    from django_cfpurge.zones import ZoneRouter

    main = zone("example.com")  # .example.com
    images = zone("images", hostnames="img.example.com")
    cdn = zone("cdn", hostnames=".cdn.example.com")
    img_domain = zone("img-domain", hostnames=".img.example.com")
    router = ZoneRouter([main, images, cdn, img_domain])
    assert router.route("www.example.com") == main
    assert router.route("example.com") == main
    assert router.route("img.example.com") == images  # exact beats the longer domain
    assert router.route("IMG.Example.com.") == images
    assert router.route("a.img.example.com") == img_domain
    assert router.route("x.cdn.example.com") == cdn
    assert router.route("cdn.example.com") == cdn
    assert router.route("example.org") is None
    assert router.route("notexample.com") is None
    assert router.claims(images) == ["img.example.com"]
    assert router.claims(zone("unused", hostnames="")) == []


def test_router_order_of_the_zones_does_not_matter():
    from django_cfpurge.zones import ZoneRouter

    main = zone("example.com")
    deep = zone("deep", hostnames=".a.b.example.com")
    for zones in ([main, deep], [deep, main]):
        router = ZoneRouter(zones)
        assert router.route("x.a.b.example.com") == deep
        assert router.route("x.b.example.com") == main


# -- settings zones: a changed token requeues what waited for it -----------------------
OTHER_TOKEN = "Zq8wS6hCpXVc-DoRnPPY_UCWPgy8aea4Wy6kCe5T"


def waiting_rows(z):
    from datetime import timedelta

    from django.utils import timezone

    from django_cfpurge.models import PurgeRequest

    def make(**fields):
        return PurgeRequest.objects.create(
            source="api",
            event="manual",
            targets={"tags": ["t"]},
            zone=z,
            attempts=2,
            next_attempt_at=timezone.now() + timedelta(days=1),
            **fields,
        )

    return {
        "auth": make(status="failed", error_kind="auth", last_error="Token refused."),
        "server": make(status="failed", error_kind="server"),
        "done": make(status="done"),
    }


def test_a_changed_settings_token_requeues_rows_refused_for_auth(settings):
    from django_cfpurge.models import PurgeRequest
    from django_cfpurge.signals import purge_requested

    settings.CFPURGE = {"ZONE_NAME": "example.com", "ZONE_ID": ZONE_ID, "API_TOKEN": API_TOKEN}
    sync_settings_zones()
    z = Zone.objects.get(name="example.com")
    assert z.credentials_changed_at is None
    rows = waiting_rows(z)
    counts = []
    purge_requested.connect(
        lambda sender, count=0, **kw: counts.append(count), weak=False, dispatch_uid="tz"
    )
    try:
        settings.CFPURGE = {
            "ZONE_NAME": "example.com",
            "ZONE_ID": ZONE_ID,
            "API_TOKEN": OTHER_TOKEN,
        }
        reset_sync_cache()  # a restart
        sync_settings_zones()
    finally:
        purge_requested.disconnect(dispatch_uid="tz")
    assert counts == [1]
    auth = PurgeRequest.objects.get(pk=rows["auth"].pk)
    assert (auth.status, auth.attempts) == ("pending", 0)
    assert list(PurgeRequest.objects.claimable()) == [auth]  # due again, not tomorrow
    assert PurgeRequest.objects.get(pk=rows["server"].pk).status == "failed"
    assert PurgeRequest.objects.get(pk=rows["done"].pk).status == "done"
    z.refresh_from_db()
    assert z.credentials_changed_at is not None
    assert API_TOKEN not in z.settings_fingerprint
    assert OTHER_TOKEN not in z.settings_fingerprint
    assert z.api_token == ""  # the secret stays in settings


def test_an_unchanged_restart_requeues_nothing(settings):
    from django_cfpurge.models import PurgeRequest

    settings.CFPURGE = {"ZONE_NAME": "example.com", "ZONE_ID": ZONE_ID, "API_TOKEN": API_TOKEN}
    sync_settings_zones()
    z = Zone.objects.get(name="example.com")
    rows = waiting_rows(z)
    fingerprint = z.settings_fingerprint
    reset_sync_cache()
    sync_settings_zones()
    z.refresh_from_db()
    assert z.settings_fingerprint == fingerprint
    assert z.credentials_changed_at is None
    auth = PurgeRequest.objects.get(pk=rows["auth"].pk)
    assert (auth.status, auth.attempts, auth.error_kind) == ("failed", 2, "auth")


def test_a_changed_token_is_noticed_by_the_same_process(settings):
    from django_cfpurge.models import PurgeRequest

    settings.CFPURGE = {"ZONE_NAME": "example.com", "ZONE_ID": ZONE_ID, "API_TOKEN": API_TOKEN}
    sync_settings_zones()
    z = Zone.objects.get(name="example.com")
    rows = waiting_rows(z)
    settings.CFPURGE = {"ZONE_NAME": "example.com", "ZONE_ID": ZONE_ID, "API_TOKEN": OTHER_TOKEN}
    # The same process syncs again when the settings it sees differ.
    sync_settings_zones()
    assert PurgeRequest.objects.get(pk=rows["auth"].pk).status == "pending"


def test_settings_hostnames_are_normalised_like_the_admins(settings, caplog):
    import logging

    from django_cfpurge.zones import ZoneRouter

    settings.CFPURGE = {
        "ZONE_NAME": "example.com",
        "ZONE_ID": ZONE_ID,
        "API_TOKEN": API_TOKEN,
        "HOSTNAMES": ["WWW.Example.com.", ".Static.example.com", "https://img.example.com/"],
    }
    caplog.set_level(logging.WARNING, logger="django_cfpurge.zones")
    sync_settings_zones()
    z = Zone.objects.get(name="example.com")
    assert z.hostnames.split("\n") == [
        "www.example.com",
        ".static.example.com",
        "https://img.example.com/",  # kept as given: it shows in the admin
    ]
    router = ZoneRouter([z])
    assert router.route("www.example.com") == z
    assert router.route("a.static.example.com") == z
    assert router.route("img.example.com") is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert "CFPURGE['HOSTNAMES']" in message
    assert "“https://img.example.com/”" in message
