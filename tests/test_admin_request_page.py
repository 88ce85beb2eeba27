"""A purge request's page and the purge log's columns, read by a view-only staff user.

Rows come from what a site does (a photo renamed, a field changed, a purge asked in
code) and from real drains against the CDN's wire contract (``cf_api``, ``bunny_api``):
the CDN's answers (a 400 with a code, a 429 with Retry-After) are the mocks', not
values this test wrote into the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from django.core.files.base import ContentFile
from django.test import Client, override_settings
from django.urls import reverse

from django_cfpurge import purge_urls
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeCall, PurgeRequest, Zone
from django_cfpurge.registry import registry
from django_cfpurge.signals import purge_succeeded
from django_cfpurge.testing import make_zone
from tests.bunnyapi import ACCESS_KEY, PULL_ZONE_ID
from tests.cfapi import API_TOKEN, ZONE_ID
from tests.staff import page_text, staff_client
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"
SETTINGS = {"BASE_URLS": [ORIGIN], "COALESCE_SECONDS": 0}
LOG = "/admin/django_cfpurge/purgerequest/"


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    with override_settings(CFPURGE=SETTINGS), registry.override():
        registry.register(Photo, fields=["image"], watch=["is_public"], urls=["/gallery/"])
        yield


@pytest.fixture
def zone() -> Zone:
    return make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN, plan="free")


@pytest.fixture
def viewer() -> Client:
    """A staff user who may only read zones and the log."""
    return staff_client("view_zone", "view_purgerequest")


def page(client: Client, row: PurgeRequest) -> str:
    response = client.get(reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk]))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, element_id: str) -> str:
    """The text of the element ``element_id``."""
    match = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    return page_text(match.group(2))


def calls_table(html: str) -> list[dict[str, str]]:
    """The rows of the API calls table, cell class → text."""
    body = re.search(r'<table class="cfpurge-calls">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, "no calls table"
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r'<td class="([\w-]+)">(.*?)</td>', tr, re.S)
        rows.append({name: page_text(text) for name, text in cells})
    return rows


def new_photo(name: str = "a.jpg", **fields: object) -> Photo:
    photo = Photo(**fields)
    photo.image.save(name, ContentFile(b"x"))
    return photo


def latest() -> PurgeRequest:
    return PurgeRequest.objects.latest("id")


# -- the change, as sentences --------------------------------------------------------


def test_a_rename_reads_as_a_rename_not_a_replacement(viewer, zone, cf_api):
    photo = new_photo("a.jpg")
    old = photo.image.name
    cf_api.add_purge_ok()
    drain()
    photo.image.name = "photos/archive/a.jpg"  # moved, no new content
    photo.save()
    cf_api.add_purge_ok()
    drain()
    row = latest()
    assert row.event == "renamed"
    html = page(viewer, row)
    assert section(html, "cfpurge-change") == (
        f"What changed image: file renamed from “{old}” to “photos/archive/a.jpg”"
    )
    assert "file replaced" not in section(html, "cfpurge-change")


def test_a_new_upload_reads_as_a_replacement(viewer, zone, cf_api):
    photo = new_photo("a.jpg")
    old = photo.image.name
    cf_api.add_purge_ok()
    drain()
    photo.image.save("b.jpg", ContentFile(b"new"))
    cf_api.add_purge_ok()
    drain()
    html = page(viewer, latest())
    assert f"image: file replaced, “{old}” by “{photo.image.name}”" in section(
        html, "cfpurge-change"
    )


def test_a_watched_field_reads_old_arrow_new(viewer, zone, cf_api):
    photo = new_photo(is_public=False)
    cf_api.add_purge_ok()
    drain()
    photo.is_public = True
    photo.save()
    cf_api.add_purge_ok()
    drain()
    assert "is_public: false → true" in section(page(viewer, latest()), "cfpurge-change")


def test_a_delete_and_an_explicit_purge(viewer, zone, cf_api):
    photo = new_photo("gone.jpg")
    name = photo.image.name
    cf_api.add_purge_ok()
    drain()
    photo.delete()
    purge_urls(["/extra.jpg"])
    cf_api.add_purge_ok()
    drain()
    deleted = PurgeRequest.objects.get(event="deleted")
    explicit = PurgeRequest.objects.get(source="api")
    text = section(page(viewer, deleted), "cfpurge-change")
    assert text.startswith("What changed photo ")
    assert "was deleted." in text
    assert f"image: file “{name}” no longer used" in text
    assert section(page(viewer, explicit), "cfpurge-change") == (
        "What changed Purged by code (purge_urls, purge_tags…)."
    )


# -- every API call, failures included ----------------------------------------------------


def test_a_refused_call_is_on_the_page_with_its_status_codes_and_message(viewer, zone, cf_api):
    row = purge_urls(["/a.jpg", "/b.jpg"])
    cf_api.add_purge_error(status=400, code=1012, message="Request failed")
    assert drain().failed == 1
    row.refresh_from_db()
    assert row.status == "failed"
    assert row.api_calls == 0  # the field counts accepted calls only: the page does not use it
    html = page(viewer, row)
    assert section(html, "cfpurge-calls-summary") == "1 API call: 1 failed."
    (call,) = calls_table(html)
    assert call["items"].startswith("2 URLs")
    assert call["outcome"] == "✘ failed"
    assert call["status"] == "400"
    assert call["codes"] == "1012"
    assert "HTTP 400: Request failed [code 1012]" in call["message"]
    assert call["retry-after"] == "—"
    # The row's error, in full, and its status.
    assert section(html, "cfpurge-row-status").startswith("✘ failed")
    assert "Cloudflare rejected the purge request of 2 item(s)" in section(
        html, "cfpurge-row-error"
    )


def test_a_rate_limited_call_shows_retry_after(viewer, zone, cf_api):
    row = purge_urls(["/a.jpg"])
    cf_api.add_rate_limited(retry_after=30)
    drain()
    row.refresh_from_db()
    assert row.status == "pending"
    (call,) = calls_table(page(viewer, row))
    assert call["outcome"] == "◷ rate limited"
    assert (call["status"], call["codes"], call["retry-after"]) == ("429", "1134", "30 s")
    assert "rate-limiting purge requests" in call["message"]


def test_calls_of_several_passes_are_all_listed_in_order(viewer, zone, cf_api):
    row = purge_urls(["/a.jpg"])
    cf_api.add_purge_error(status=500, code=10000, message="Internal error")
    drain()
    PurgeRequest.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
    cf_api.add_purge_ok(result_id="f" * 32)
    drain()
    row.refresh_from_db()
    assert row.status == "done"
    html = page(viewer, row)
    assert section(html, "cfpurge-calls-summary") == "2 API calls: 1 will be retried, 1 accepted."
    first, second = calls_table(html)
    assert (first["outcome"], first["status"]) == ("↻ will be retried", "500")
    assert (second["outcome"], second["status"]) == ("✔ accepted", "200")
    assert second["message"] == f"receipt {'f' * 32}"


def test_an_answered_call_is_recorded_even_if_a_receiver_raises(viewer, zone, cf_api):
    """A ``purge_succeeded`` receiver that raises must not lose the record of the call
    the CDN accepted (the drain saved the call log last, after the signal)."""
    row = purge_urls(["/a.jpg"])
    cf_api.add_purge_ok()

    def broken(**kwargs: object) -> None:
        raise RuntimeError("receiver bug")

    purge_succeeded.connect(broken)
    try:
        drain()
    finally:
        purge_succeeded.disconnect(broken)
    assert [c.outcome for c in PurgeCall.objects.all()] == ["ok"]
    assert list(PurgeCall.objects.get().requests.all()) == [row]
    (call,) = calls_table(page(viewer, row))
    assert call["outcome"] == "✔ accepted"


def test_a_row_never_sent_says_so(viewer, zone):
    row = purge_urls(["/a.jpg"])
    html = page(viewer, row)
    assert section(html, "cfpurge-calls-summary") == "No API call was made for this request."
    assert 'class="cfpurge-calls"' not in html


# -- the targets: purged, left, skipped ---------------------------------------------------


@override_settings(CFPURGE={**SETTINGS, "MAX_ITEMS_PER_REQUEST": 30})
def test_targets_purged_left_and_skipped_with_the_reason(viewer, zone, cf_api):
    # 40 URLs, 30 per call: the second call fails on a server error.
    urls = [f"/p/{i:02d}.jpg" for i in range(40)]
    row = purge_urls([*urls, "https://elsewhere.example.net/x.jpg"])
    cf_api.add_purge_ok()
    cf_api.add_purge_error(status=502, code=10001, message="Bad gateway")
    drain()
    row.refresh_from_db()
    assert row.status == "pending"
    html = page(viewer, row)
    assert section(html, "cfpurge-target-counts") == "30 purged, 10 left to send, 1 skipped."
    items = re.findall(r'<li class="cfpurge-(purged|left)">.*?</span>\s*(.*?)</li>', html, re.S)
    states = {unescape(re.sub(r"<[^>]+>", "", text)).split(": ", 1)[1]: s for s, text in items}
    assert len(states) == 40
    assert sorted(u for u, s in states.items() if s == "left") == [
        f"{ORIGIN}{u}" for u in urls[30:]
    ]
    # What is left comes first.
    assert [s for s, _ in items][:10] == ["left"] * 10
    skipped = section(html, "cfpurge-skipped")
    assert "https://elsewhere.example.net/x.jpg" in skipped
    assert "No configured zone serves the host “elsewhere.example.net”." in skipped


def test_a_row_not_worked_out_yet_says_so(viewer, zone):
    photo = new_photo("a.jpg")
    assert photo.pk
    from django_cfpurge.outbox.ingest import ingest_all

    ingest_all()
    row = latest()
    assert not row.resolved
    assert "Not worked out yet" in section(page(viewer, row), "cfpurge-targets")


# -- the CDN by its name ------------------------------------------------------------------


def test_a_bunny_row_names_bunny_net_not_cloudflare(viewer, bunny_api):
    Zone.objects.create(
        name="cdn",
        backend="bunny",
        zone_id=str(PULL_ZONE_ID),
        api_key=ACCESS_KEY,
        hostnames="www.example.com",
    )
    bunny_api.add_unauthorized()
    row = purge_urls(["/a.jpg"])
    drain()
    html = page(viewer, row)
    main = html[html.index('id="content-main"') :]
    assert "Cloudflare" not in main
    assert section(html, "cfpurge-row-zone") == "cdn (bunny.net)"
    (call,) = calls_table(html)
    assert call["status"] == "401"
    log = viewer.get(LOG).content.decode()
    assert re.search(r'class="field-zone_cdn">cdn <span class="cfpurge-quiet">bunny.net', log)


# -- the log's columns --------------------------------------------------------------------


def test_the_log_lists_what_an_operator_scans(viewer, zone, cf_api):
    photo = new_photo("a.jpg", title="Harbour")
    cf_api.add_purge_ok()
    drain()
    photo.image.name = "photos/moved.jpg"
    photo.save()
    cf_api.add_purge_error(status=400, code=1012, message="Request failed " + "x" * 200)
    drain()
    row = latest()
    html = viewer.get(LOG).content.decode()
    cells = dict(
        re.findall(
            r'<t[dh] class="field-(\w+)">(.*?)</t[dh]>',
            re.search(rf"<tr>(?:(?!</tr>).)*?/{row.pk}/change/.*?</tr>", html, re.S).group(0),
            re.S,
        )
    )
    text = {k: page_text(v) for k, v in cells.items()}
    assert set(text) == {
        "when",
        "what",
        "event",
        "row_status",
        "url_count",
        "zone_cdn",
        "error_short",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", text["when"])
    assert text["what"] == f"Harbour testapp.Photo #{photo.pk} · request #{row.pk}"
    assert text["event"] == "file renamed or moved"
    assert text["row_status"] == "✘ failed"
    assert text["url_count"] == "3"  # the old URL, the new one, the gallery
    assert text["zone_cdn"] == "example.com Cloudflare"
    # The error in short, the whole of it on hover.
    assert text["error_short"].endswith("…") and len(text["error_short"]) <= 90
    title = re.search(r'class="cfpurge-error-text" title="([^"]*)"', cells["error_short"])
    assert "x" * 200 in unescape(title.group(1))
    # A viewer has no action to run: no checkbox, no action menu.
    assert 'name="_selected_action"' not in html and 'name="action"' not in html


def test_the_request_page_shows_no_secret_and_no_save(viewer, zone, cf_api):
    row = purge_urls(["/a.jpg"])
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    drain()
    html = page(viewer, row)
    assert API_TOKEN not in html and API_TOKEN[-4:] not in html
    assert 'name="_save"' not in html and "deletelink" not in html
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert f"| Purge request #{row.pk} |" in title
