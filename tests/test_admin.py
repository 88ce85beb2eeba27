"""The admin through Django's test client: zones, Test connection, purge log, manual purge."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import override_settings
from django.urls import reverse

from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.testing import make_zone
from django_cfpurge.zones import hostname_patterns
from tests.cfapi import ACCOUNT_ID, API_TOKEN, GLOBAL_API_KEY, ZONE_ID
from tests.staff import zone_post

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/django_cfpurge/zone/add/"


def zone_form(**overrides: str) -> dict[str, str]:
    """A zone form with a token pasted and no plan chosen."""
    return zone_post(**{"api_token": API_TOKEN, "plan": "", **overrides})


def test_add_zone_trims_pasted_values(admin_client):
    response = admin_client.post(
        ADD_URL, zone_form(api_token=API_TOKEN + "\n", zone_id=f" {ZONE_ID.upper()}\n")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    zone = Zone.objects.get()
    assert zone.api_token == API_TOKEN
    assert zone.zone_id == ZONE_ID


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_token": GLOBAL_API_KEY}, "This is a Global API Key, not an API token"),
        ({"zone_id": "example.com"}, "looks like a domain name"),
        ({"zone_id": ACCOUNT_ID, "account_id": ACCOUNT_ID}, "Account ID was probably pasted"),
        (
            {
                "auth_kind": "global_key",
                "api_token": "",
                "email": "a@example.com",
                "api_key": API_TOKEN,
            },
            "This is an API token, not a Global API Key",
        ),
        ({"api_token": API_TOKEN[:12] + " " + API_TOKEN[12:]}, "space or line break inside it"),
        ({"api_token": ""}, "Enter the API token."),
    ],
)
def test_add_zone_mistakes_are_named(admin_client, overrides, message):
    response = admin_client.post(ADD_URL, zone_form(**overrides))
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html.replace("&#x27;", "'")
    assert Zone.objects.count() == 0
    for secret in (API_TOKEN, GLOBAL_API_KEY):
        assert secret not in html


def test_change_form_never_renders_stored_secret_and_blank_keeps_it(admin_client):
    zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)
    url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    html = admin_client.get(url).content.decode()
    assert API_TOKEN not in html
    assert f"Set, ends in …{API_TOKEN[-4:]}. Leave blank to keep it" in html
    assert 'name="api_token"' in html
    response = admin_client.post(url, zone_form(api_token=""))
    assert response.status_code == 302
    zone.refresh_from_db()
    assert zone.api_token == API_TOKEN
    new_token = "N" * 40
    admin_client.post(url, zone_form(api_token=new_token))
    zone.refresh_from_db()
    assert zone.api_token == new_token


def test_changelist_and_log_never_show_secrets(admin_client):
    make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)
    make_zone(
        "legacy.example",
        zone_id="1" * 32,
        auth_kind="global_key",
        api_token="",
        email="owner@example.com",
        api_key=GLOBAL_API_KEY,
    )
    for url in (
        "/admin/django_cfpurge/zone/",
        "/admin/django_cfpurge/purgerequest/",
        "/admin/",
    ):
        html = admin_client.get(url).content.decode()
        assert API_TOKEN not in html and GLOBAL_API_KEY not in html


@override_settings(
    CFPURGE={
        "BASE_URLS": ["https://www.example.com"],
        "ZONE_NAME": "production",
        "ZONE_ID": ZONE_ID,
        "API_TOKEN": API_TOKEN,
        "HOSTNAMES": ["www.example.com", ".cdn.example.com"],
    }
)
def test_zone_from_environment_is_read_only(admin_client):
    from django_cfpurge.zones import reset_sync_cache

    reset_sync_cache()
    html = admin_client.get("/admin/django_cfpurge/zone/").content.decode()
    assert "production" in html and "set by the environment" in html
    zone = Zone.objects.get(name="production")
    assert zone.from_settings and zone.api_token == ""  # never copied to the database
    assert hostname_patterns(zone) == ["www.example.com", ".cdn.example.com"]
    url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    html = admin_client.get(url).content.decode()
    assert "set by the environment" in html
    assert 'name="zone_id"' not in html and 'name="api_token"' not in html
    assert API_TOKEN not in html
    admin_client.post(url, zone_form(name="production", zone_id="f" * 32, enabled="on"))
    zone.refresh_from_db()
    assert zone.zone_id == ZONE_ID
    reset_sync_cache()


def test_test_connection_button(admin_client, cf_api):
    zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    url = reverse("admin:django_cfpurge_zone_test", args=[zone.pk])
    response = admin_client.post(url, follow=True)
    html = response.content.decode()
    assert "needs Zone → Cache Purge → Purge on this zone" in html
    assert "✘" in html  # the stored per-step result on the change page
    zone.refresh_from_db()
    assert zone.last_test_ok is False
    assert [s["status"] for s in zone.last_test_steps] == ["ok", "ok", "ok", "error"]


def test_test_connection_get_does_nothing(admin_client, cf_api):
    zone = make_zone("example.com")
    url = reverse("admin:django_cfpurge_zone_test", args=[zone.pk])
    assert admin_client.get(url).status_code == 302
    assert cf_api.calls == []


def test_test_connection_action(admin_client, cf_api):
    zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)
    cf_api.add_verify_ok()
    cf_api.add_zone_ok(plan="business")
    cf_api.add_purge_ok()
    response = admin_client.post(
        "/admin/django_cfpurge/zone/",
        {"action": "test_connection_action", "_selected_action": [zone.pk]},
        follow=True,
    )
    expected = "Zone example.com: Connected to zone example.com, plan business."
    assert expected in response.content.decode()


def test_banner_when_purges_fail(admin_client):
    zone = make_zone("example.com")
    PurgeRequest.objects.create(
        source="api", event="manual", status="failed", zone=zone, last_error="x"
    )
    html = admin_client.get("/admin/django_cfpurge/zone/").content.decode()
    assert 'id="cfpurge-health-banner"' in html
    assert "1 failed, 0 waiting" in html


def test_purge_log_chart_retry_and_ignore(admin_client):
    zone = make_zone("example.com")
    failed = PurgeRequest.objects.create(
        source="api",
        event="manual",
        status="failed",
        zone=zone,
        targets={"files": ["https://www.example.com/a.jpg"]},
        last_error="boom",
    )
    other = PurgeRequest.objects.create(source="api", event="manual", status="failed", zone=zone)
    html = admin_client.get("/admin/django_cfpurge/purgerequest/").content.decode()
    assert html.count('class="bar"') == 48
    assert 'data-failed="2"' in html
    found = admin_client.get("/admin/django_cfpurge/purgerequest/?q=a.jpg").content.decode()
    assert f"/admin/django_cfpurge/purgerequest/{failed.pk}/change/" in found
    assert f"/admin/django_cfpurge/purgerequest/{other.pk}/change/" not in found
    admin_client.post(
        "/admin/django_cfpurge/purgerequest/",
        {"action": "retry_now", "_selected_action": [failed.pk]},
    )
    admin_client.post(
        "/admin/django_cfpurge/purgerequest/",
        {"action": "ignore", "_selected_action": [other.pk]},
    )
    failed.refresh_from_db()
    other.refresh_from_db()
    assert failed.status == "pending"
    assert other.status == "ignored"


def test_purge_log_entry_is_a_page_to_read(admin_client):
    row = PurgeRequest.objects.create(
        source="manual", event="manual", targets={"files": ["https://www.example.com/a.jpg"]}
    )
    url = f"/admin/django_cfpurge/purgerequest/{row.pk}/change/"
    html = admin_client.get(url).content.decode()
    assert f"Manual purge #{row.pk}" in html
    assert "manual: manual" not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "deletelink" not in html
    delete = admin_client.post(f"/admin/django_cfpurge/purgerequest/{row.pk}/delete/")
    assert delete.status_code == 403
    assert PurgeRequest.objects.filter(pk=row.pk).exists()


def test_viewers_cannot_retry_or_ignore(client):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_purgerequest"))
    client.force_login(user)
    row = PurgeRequest.objects.create(source="api", event="manual", status="failed")
    html = client.get("/admin/django_cfpurge/purgerequest/").content.decode()
    assert "retry_now" not in html
    client.post(
        "/admin/django_cfpurge/purgerequest/",
        {"action": "retry_now", "_selected_action": [row.pk]},
    )
    row.refresh_from_db()
    assert row.status == "failed"


def test_manual_purge_needs_permission(client):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_purgerequest"))
    client.force_login(user)
    assert client.get("/admin/django_cfpurge/purgerequest/purge/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="purge_cache"))
    user = User.objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get("/admin/django_cfpurge/purgerequest/purge/").status_code == 200


def test_manual_purge_of_urls(admin_client):
    make_zone("example.com")
    response = admin_client.post(
        "/admin/django_cfpurge/purgerequest/purge/",
        {"kind": "files", "items": "/a.jpg\n\nhttps://www.example.com/b.jpg\n"},
    )
    assert response.status_code == 302
    row = PurgeRequest.objects.get()
    assert row.source == "manual"
    assert row.requested_by.username == "admin"
    # Checked and made absolute before anything was written.
    assert row.targets == {
        "files": ["https://www.example.com/a.jpg", "https://www.example.com/b.jpg"]
    }


def test_purge_everything_needs_confirmation_and_cools_down(admin_client):
    make_zone("example.com")
    url = "/admin/django_cfpurge/purgerequest/purge/"
    response = admin_client.post(url, {"kind": "everything"})
    assert response.status_code == 200
    assert 'id="cfpurge-confirm-everything"' in response.content.decode()
    assert PurgeRequest.objects.count() == 0
    response = admin_client.post(url, {"kind": "everything", "confirmed": "yes"})
    assert response.status_code == 302
    assert PurgeRequest.objects.get().targets == {"everything": [True]}
    response = admin_client.post(url, {"kind": "everything", "confirmed": "yes"}, follow=True)
    assert "Everything was purged less than 60 seconds ago" in response.content.decode()
    assert PurgeRequest.objects.count() == 1


# -- manual purge input, on every face: the admin page, the command, the Python API ----

BAD_TARGETS = [
    ("files", "ftp://www.example.com/x", "Only http:// and https:// URLs"),
    ("files", "javascript:alert(1)", "Only http:// and https:// URLs"),
    ("files", "https://[::1/x", "is not a valid URL"),
    ("tags", "two words", "is not a valid cache tag"),
    ("tags", "a,b", "is not a valid cache tag"),
    ("tags", "t" * 1100, "is not a valid cache tag"),
    ("hosts", "*", "is not a host name"),
    ("hosts", "http://evil/", "is not a host name"),
    ("hosts", "localhost", "is not a host name"),
    ("hosts", "203.0.113.7", "is not a host name"),
    ("hosts", "https://[2001:db8::1]/", "is not a host name"),
    ("prefixes", "http://localhost/media/", "is not a URL prefix"),
    ("prefixes", "203.0.113.7/media/", "is not a URL prefix"),
    ("hosts", "www.example.com/path", "is not a host name"),
    ("prefixes", "*/media", "is not a URL prefix"),
]


def _ids(cases):
    return [f"{kind}:{item[:30]}" for kind, item, _ in cases]


@pytest.mark.parametrize(("kind", "item", "message"), BAD_TARGETS, ids=_ids(BAD_TARGETS))
def test_manual_purge_page_refuses_bad_items(admin_client, kind, item, message):
    make_zone("example.com")
    response = admin_client.post(
        "/admin/django_cfpurge/purgerequest/purge/",
        {"kind": kind, "items": f"https://www.example.com/ok.jpg\n{item}"},
    )
    assert response.status_code == 200
    html = response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert 'class="errorlist' in html
    assert message in html
    assert PurgeRequest.objects.count() == 0


@pytest.mark.parametrize(("kind", "item", "message"), BAD_TARGETS, ids=_ids(BAD_TARGETS))
def test_cfpurge_command_refuses_bad_items(kind, item, message):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    make_zone("example.com")
    command = {"files": "urls"}.get(kind, kind)
    with pytest.raises(CommandError) as caught:
        call_command("cfpurge", command, item, stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.returncode == 2
    assert message in str(caught.value)
    assert PurgeRequest.objects.count() == 0


@pytest.mark.parametrize(("kind", "item", "message"), BAD_TARGETS, ids=_ids(BAD_TARGETS))
def test_python_api_refuses_bad_items(kind, item, message):
    import django_cfpurge
    from django_cfpurge.exceptions import InvalidTarget

    make_zone("example.com")
    function = getattr(django_cfpurge, f"purge_{'urls' if kind == 'files' else kind}")
    with pytest.raises(InvalidTarget, match=message.replace("*", r"\*")):
        function(["https://www.example.com/ok.jpg" if kind == "files" else "ok", item])
    assert PurgeRequest.objects.count() == 0


@pytest.mark.parametrize(
    "hostnames",
    ["*", "*.example.com", "http://evil/", "www.example.com/path", "example.com:8080", "a_b.com"],
)
def test_zone_hostnames_are_host_names_or_suffixes(admin_client, hostnames):
    response = admin_client.post(ADD_URL + "?backend=cloudflare", zone_form(hostnames=hostnames))
    assert response.status_code == 200
    assert "is not a host name" in response.content.decode()
    assert Zone.objects.count() == 0


def test_zone_hostnames_accept_names_and_suffixes(admin_client):
    response = admin_client.post(
        ADD_URL + "?backend=cloudflare",
        zone_form(hostnames="WWW.example.com\n.cdn.example.com, img.example.com."),
    )
    assert response.status_code == 302
    zone = Zone.objects.get()
    assert zone.hostnames.split() == ["www.example.com", ".cdn.example.com", "img.example.com"]
