"""Hostile text is shown as text on every console page.

What the console shows comes from people and systems the operator does not control: an
object's ``__str__`` (a title typed by a site's user), file names, a zone's name typed by
a staff user who may change zones, the CDN's error message. Each is given markup here,
through the APIs a site uses and a real drain against the CDN's wire contract, and every
page a view-only user can open must show it escaped, never as markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile
from django.test import Client, override_settings
from django.urls import reverse

from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.registry import registry
from django_cfpurge.testing import make_zone
from tests.cfapi import API_TOKEN, ZONE_ID
from tests.staff import staff_client
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"
#: Each payload, as it must never appear in a page (raw markup that would run).
TITLE = '<script>alert("title")</script>'
FILE_NAME = "photos/<svg onload=alert(1)>.jpg"
ZONE_NAME = "<img src=x onerror=alert(2)>"
CDN_MESSAGE = "<script>alert('cdn')</script>"
PAYLOADS = [TITLE, "<svg onload=alert(1)>", ZONE_NAME, CDN_MESSAGE]


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    settings = {"BASE_URLS": [ORIGIN], "COALESCE_SECONDS": 0}
    with override_settings(CFPURGE=settings), registry.override():
        registry.register(Photo, fields=["image"], watch=["is_public"], urls=["/gallery/"])
        yield


@pytest.fixture
def viewer() -> Client:
    """A staff user who may only read zones and the log."""
    return staff_client("view_zone", "view_purgerequest")


@pytest.fixture
def hostile_history(cf_api) -> PurgeRequest:
    """A zone named with markup; a photo titled with markup, moved to a name with markup,
    whose purge the CDN refuses with a message carrying markup."""
    make_zone(
        ZONE_NAME, zone_id=ZONE_ID, api_token=API_TOKEN, plan="free", hostnames="www.example.com"
    )
    photo = Photo(title=TITLE)
    photo.image.save("a.jpg", ContentFile(b"x"))
    cf_api.add_purge_ok()
    drain()
    photo.image.name = FILE_NAME
    photo.save()
    cf_api.add_purge_error(status=400, code=1012, message=CDN_MESSAGE)
    drain()
    row = PurgeRequest.objects.latest("id")
    assert (row.event, row.status) == ("renamed", "failed")
    return row


def pages(row: PurgeRequest) -> dict[str, str]:
    zone = Zone.objects.get()
    return {
        "log": reverse("admin:django_cfpurge_purgerequest_changelist"),
        "log, failed": reverse("admin:django_cfpurge_purgerequest_changelist")
        + "?status__exact=failed",
        "request": reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk]),
        "zones": reverse("admin:django_cfpurge_zone_changelist"),
        "zone": reverse("admin:django_cfpurge_zone_change", args=[zone.pk]),
        "zone history": reverse("admin:django_cfpurge_zone_history", args=[zone.pk]),
        "index": reverse("admin:index"),
    }


def test_every_page_shows_hostile_text_as_text(viewer, hostile_history):
    for name, url in pages(hostile_history).items():
        response = viewer.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        for payload in PAYLOADS:
            assert payload not in html, f"{name}: {payload!r} is markup in the page"
        # Escaped text is not hidden markup that a browser would rebuild.
        assert not re.search(r"<(script|svg|img)[^>]*(alert|onload|onerror)", html), name


def test_the_hostile_text_is_really_shown(viewer, hostile_history):
    """The test above must not pass because nothing was shown."""
    urls = pages(hostile_history)
    request_page = viewer.get(urls["request"]).content.decode()
    assert "&lt;script&gt;alert(&#x27;cdn&#x27;)&lt;/script&gt;" in request_page
    assert "&lt;svg" in request_page  # the new file name, in the change's sentence
    assert "&lt;script&gt;alert(&quot;title&quot;)" in viewer.get(urls["log"]).content.decode()
    assert "&lt;img src=x onerror=alert(2)&gt;" in viewer.get(urls["zones"]).content.decode()
