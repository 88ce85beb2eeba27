"""Zone health in the admin, read by a view-only staff user: the list at a glance (last
purge, queue, 24-hour success, last test and its age, token expiry), a zone's page (the
same, and the last error), "not tested since the change", and overlapping zones warned
of on the page as by the system check.

The zones are tested and purged through the admin and real drains against Cloudflare's
wire contract (``cf_api``); their state is what that made, not set by hand.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from django_cfpurge import checks, purge_urls
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.testing import make_zone
from django_cfpurge.zones import reset_sync_cache
from tests.cfapi import API_TOKEN, OTHER_ZONE_ID, ZONE_ID
from tests.staff import page_text, staff_client

pytestmark = pytest.mark.django_db

ZONES = "/admin/django_cfpurge/zone/"
SETTINGS = {"BASE_URLS": ["https://www.example.com"], "COALESCE_SECONDS": 0}
NEW_TOKEN = "N" * 40


@pytest.fixture
def viewer() -> Client:
    return staff_client("view_zone", "view_purgerequest")


def zone_row(html: str, zone: Zone) -> dict[str, str]:
    """The zone list's cells of ``zone``: column → text (``<column>:html`` → HTML)."""
    change = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    row = re.search(rf"<tr>(?:(?!</tr>).)*?{re.escape(change)}.*?</tr>", html, re.S)
    assert row, f"{zone.name} is not listed"
    cells = re.findall(r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', row.group(0), re.S)
    found = {name: page_text(cell) for name, cell in cells}
    found.update({f"{name}:html": cell for name, cell in cells})
    return found


def section(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    return page_text(match.group(2))


def test_connection(client: Client, zone: Zone) -> None:
    response = client.post(reverse("admin:django_cfpurge_zone_test", args=[zone.pk]))
    assert response.status_code == 302


test_connection.__test__ = False  # type: ignore[attr-defined]


# -- "not tested since the change" ------------------------------------------------------------


@override_settings(CFPURGE=SETTINGS)
def test_a_result_older_than_the_credentials_is_not_shown_as_theirs(viewer, cf_api):
    zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN, plan="free")
    admin = staff_client(superuser=True)
    cf_api.add_verify_ok(expires_on="2020-01-01T00:00:00Z")
    test_connection(admin, zone)
    before = zone_row(viewer.get(ZONES).content.decode(), zone)
    assert before["test_status"].startswith("✘ Credentials: The API token expired on 2020-01-01")
    assert before["token_expiry"] == "✘ expired on 2020-01-01"

    # The token is replaced through the admin form.
    change = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    form = {
        "name": "example.com",
        "zone_id": ZONE_ID,
        "account_id": "",
        "hostnames": "",
        "auth_kind": "token",
        "api_token": NEW_TOKEN,
        "email": "",
        "api_key": "",
        "plan": "free",
        "enabled": "on",
    }
    assert admin.post(change, form).status_code == 302

    after = zone_row(viewer.get(ZONES).content.decode(), zone)
    assert after["test_status"] == "⚠ not tested since the change"
    assert after["token_expiry"] == "unknown until tested again"
    page = viewer.get(change).content.decode()
    # The old result is kept, collapsed, as the previous credentials'; nothing else says
    # the (replaced) token expired.
    outside = re.sub(r"<details>.*?</details>", "", page, flags=re.S)
    assert "expired" not in outside
    assert "expired on 2020-01-01" in page
    assert section(page, "cfpurge-health-test") == "⚠ not tested since the change"
    result = re.search(r'<p class="cfpurge-stale">(.*?)</details>', page, re.S)
    assert result and page_text(result.group(1)).startswith(
        "⚠ not tested since the change The credentials changed on "
    )
    assert "Result of the previous credentials" in result.group(1)

    # Tested again: the new result is the one shown.
    cf_api.add_verify_ok(expires_on="2099-01-01T00:00:00Z")
    cf_api.add_zone_ok(plan="free")
    cf_api.add_purge_ok()
    test_connection(admin, zone)
    tested = zone_row(viewer.get(ZONES).content.decode(), zone)
    assert tested["test_status"] == "✔ passed just now"
    assert tested["token_expiry"] == "2099-01-01"


def test_a_zone_changed_in_the_environment_is_not_tested_since_either(viewer, settings):
    settings.CFPURGE = {**SETTINGS, "ZONE_NAME": "production", "ZONE_ID": ZONE_ID}
    settings.CFPURGE["API_TOKEN"] = API_TOKEN
    reset_sync_cache()
    viewer.get(ZONES)
    zone = Zone.objects.get(name="production")
    Zone.objects.filter(pk=zone.pk).update(
        last_test_at=zone.created_at, last_test_ok=True, last_test_steps=[]
    )
    assert zone_row(viewer.get(ZONES).content.decode(), zone)["test_status"].startswith("✔ passed")
    settings.CFPURGE = {**settings.CFPURGE, "API_TOKEN": NEW_TOKEN}
    try:
        row = zone_row(viewer.get(ZONES).content.decode(), zone)
    finally:
        reset_sync_cache()
    assert row["test_status"] == "⚠ not tested since the change"


# -- health from real drains ------------------------------------------------------------------


@override_settings(CFPURGE=SETTINGS)
def test_the_list_and_the_page_show_each_zones_health(viewer, cf_api):
    zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN, plan="free")
    other = make_zone("other.example", zone_id=OTHER_ZONE_ID, hostnames="www.other.example")
    purge_urls(["/ok.jpg"])
    cf_api.add_purge_ok()
    drain()
    failed = purge_urls(["/refused.jpg"])
    cf_api.add_purge_error(status=400, code=1012, message="Request failed")
    drain()
    waiting = purge_urls(["/later.jpg"])
    PurgeRequest.objects.filter(pk=waiting.pk).update(
        next_attempt_at=waiting.created_at.replace(year=2999)
    )
    PurgeRequest.objects.filter(pk=waiting.pk).update(zone=zone)
    elsewhere = PurgeRequest.objects.create(
        source="api", event="manual", status="failed", zone=other, last_error="x"
    )

    html = viewer.get(ZONES).content.decode()
    row = zone_row(html, zone)
    assert row["cdn"] == "Cloudflare"
    assert row["last_purge"] == "just now"
    assert row["queue"] == "1 waiting 1 failed"
    assert row["success_24h"] == "50 % of 2 calls"
    assert zone_row(html, other)["queue"] == "0 waiting 1 failed"
    assert zone_row(html, other)["success_24h"] == "no calls"
    assert zone_row(html, other)["last_purge"] == "never"

    # The failed count leads to exactly that zone's failed rows.
    href = unescape(re.search(r'<a href="([^"]+)">1 failed</a>', row["queue:html"]).group(1))
    listed = viewer.get(href).content.decode()
    ids = {int(i) for i in re.findall(r"/purgerequest/(\d+)/change/", listed)}
    assert ids == {failed.pk}
    assert elsewhere.pk not in ids

    page = viewer.get(reverse("admin:django_cfpurge_zone_change", args=[zone.pk])).content.decode()
    assert section(page, "cfpurge-health-last-purge").endswith("(0 minutes ago)")
    assert section(page, "cfpurge-health-queue").startswith("1 waiting")
    assert "HTTP 400: Request failed [code 1012]" in section(page, "cfpurge-health-last-error")
    assert section(page, "cfpurge-health-success") == "50 % (1 of 2 API calls accepted)"
    assert API_TOKEN not in page and API_TOKEN not in html


def test_a_zone_viewer_without_the_log_gets_counts_without_links(cf_api):
    zone = make_zone("example.com")
    PurgeRequest.objects.create(source="api", event="manual", status="failed", zone=zone)
    client = staff_client("view_zone")
    row = zone_row(client.get(ZONES).content.decode(), zone)
    assert row["queue"] == "0 waiting 1 failed"
    assert "<a " not in row["queue:html"]
    assert "See failed purges" not in client.get(ZONES).content.decode()


# -- overlapping zones ----------------------------------------------------------------------


def test_overlapping_zones_are_warned_of_on_the_page_as_by_the_check(viewer):
    a = make_zone("a.example", zone_id=ZONE_ID, hostnames="img.example.com\nwww.a.example")
    b = make_zone("b.example", zone_id=ZONE_ID, hostnames="www.b.example")
    c = make_zone("c.example", zone_id=OTHER_ZONE_ID, hostnames="img.example.com")
    make_zone("off.example", zone_id=OTHER_ZONE_ID, hostnames="img.example.com", enabled=False)
    alone = make_zone("alone.example", zone_id="e" * 32, hostnames="alone.example")

    warning = section(viewer.get(ZONES).content.decode(), "cfpurge-overlap-warning")
    assert "The zones a.example, b.example have the same Zone ID " + ZONE_ID in warning
    assert "The zones a.example, c.example all claim the hostname img.example.com" in warning
    assert "off.example" not in warning  # disabled: it takes no purge
    found = [m.msg for m in checks.check_zones() if m.id == "cfpurge.W016"]
    assert found == [
        f"The zones a.example, b.example have the same zone id {ZONE_ID}.",
        "The zones a.example, c.example all claim the hostname img.example.com; URLs on it "
        "go to one of them only.",
    ]

    def page_warning(zone: Zone) -> str:
        page = viewer.get(reverse("admin:django_cfpurge_zone_change", args=[zone.pk]))
        html = page.content.decode()
        return section(html, "cfpurge-overlap-warning") if "cfpurge-overlap-warning" in html else ""

    assert "same Zone ID" in page_warning(b) and "img.example.com" not in page_warning(b)
    assert "img.example.com" in page_warning(c) and "same Zone ID" not in page_warning(c)
    assert page_warning(a).count("The zones") == 2
    assert page_warning(alone) == ""


def test_no_overlap_no_warning(viewer):
    make_zone("a.example", zone_id=ZONE_ID, hostnames="www.a.example")
    make_zone("b.example", zone_id=OTHER_ZONE_ID, hostnames="www.b.example")
    assert "cfpurge-overlap-warning" not in viewer.get(ZONES).content.decode()
    assert [m for m in checks.check_zones() if m.id == "cfpurge.W016"] == []


# -- filters --------------------------------------------------------------------------------


def test_the_filters_sit_above_the_lists_and_name_each_cdn(viewer):
    cf = make_zone("example.com", zone_id=ZONE_ID)
    bunny = make_zone("cdn.example.org", backend="bunny", hostnames="cdn.example.org")
    on_cf = PurgeRequest.objects.create(source="api", event="manual", zone=cf)
    on_bunny = PurgeRequest.objects.create(source="api", event="manual", zone=bunny)
    for url, shown, hidden in [
        (f"{ZONES}?cdn=bunny", f"/zone/{bunny.pk}/change/", f"/zone/{cf.pk}/change/"),
        (
            "/admin/django_cfpurge/purgerequest/?cdn=bunny",
            f"/purgerequest/{on_bunny.pk}/change/",
            f"/purgerequest/{on_cf.pk}/change/",
        ),
    ]:
        html = viewer.get(url).content.decode()
        assert shown in html and hidden not in html, url
        # Above the list, open while a filter is active; no side column.
        bar = re.search(r'<details class="cfpurge-filter-bar" id="cfpurge-filters" open>', html)
        assert bar, url
        assert 'id="changelist-filter"' not in html
        cdn = re.search(r'data-filter-title="CDN".*?</details>', html, re.S).group(0)
        assert re.findall(r'<a href="[^"]*">([^<]+)</a>', cdn) == ["All", "Cloudflare", "bunny.net"]
    html = viewer.get(ZONES).content.decode()
    assert '<details class="cfpurge-filter-bar" id="cfpurge-filters">' in html  # closed
