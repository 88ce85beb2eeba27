"""The admin in a real headless Chromium, against a live server and the fake Cloudflare API.

Each test saves screenshots of its steps in ``tests/artifacts/browser/``.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_cfpurge import api
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.testing import make_zone
from django_cfpurge.testing.cloudflare_api import (
    DEFAULT_TOKEN,
    DEFAULT_ZONE_ID,
    DEFAULT_ZONE_NAME,
    EXPIRED_TOKEN,
    NO_PURGE_TOKEN,
    UNKNOWN_TOKEN,
)
from tests.browser import (  # noqa: F401  (importing the fixtures registers them)
    ADMIN_PASSWORD,
    AdminPage,
    admin_page_fixture,
    browser_page_fixture,
    chromium_fixture,
    drain_dispatches_fixture,
    fake_cf_fixture,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("drain_dispatches"),
]

ZONES_URL = "/admin/django_cfpurge/zone/"
LOG_URL = "/admin/django_cfpurge/purgerequest/"
FILE_URL = "https://www.example.com/media/photos/a.jpg"


def fake_zone() -> Zone:
    """The zone the fake Cloudflare knows, with a token that may purge it."""
    return make_zone(
        DEFAULT_ZONE_NAME, zone_id=DEFAULT_ZONE_ID, api_token=DEFAULT_TOKEN, plan="free"
    )


def change_url(zone: Zone) -> str:
    return reverse("admin:django_cfpurge_zone_change", args=[zone.pk])


def log_row_status(page: AdminPage, row: PurgeRequest) -> str:
    """The status column of ``row`` in the purge log page on screen."""
    return page.css(
        f'#result_list tr:has(input[name="_selected_action"][value="{row.pk}"]) td.field-status'
    ).text.strip()


def test_login_shows_the_app(browser_page):
    browser_page.open("/admin/")
    browser_page.wait_css("#login-form")
    browser_page.css("#id_username").send_keys("admin")
    browser_page.css("#id_password").send_keys(ADMIN_PASSWORD)
    browser_page.shot("login")
    browser_page.click_and_wait(browser_page.css('#login-form [type="submit"]'), "#user-tools")
    browser_page.shot("index")
    assert browser_page.css("#site-name").text == "Django administration"
    links = {a.text for a in browser_page.all_css("#content-main a")}
    assert {"CDN zones", "Purge log"} <= links


def test_add_zone_with_pasted_token_then_test_connection(admin_page, fake_cf):
    admin_page.open(ZONES_URL + "add/?backend=cloudflare")
    admin_page.css("#id_name").send_keys(DEFAULT_ZONE_NAME)
    # Pasted from Cloudflare's dashboard: surrounding whitespace and a trailing newline.
    admin_page.set_value(admin_page.css("#id_zone_id"), f" {DEFAULT_ZONE_ID}\n")
    token_input = admin_page.css("#id_api_token")
    assert token_input.get_attribute("type") == "password"
    admin_page.set_value(token_input, DEFAULT_TOKEN + "\n")
    assert admin_page.css('input[name="auth_kind"][value="token"]').is_selected()
    admin_page.shot("add-form")

    admin_page.click_and_wait(admin_page.css('input[name="_save"]'), "#result_list")
    admin_page.shot("saved")
    assert any("was added successfully" in m for m in admin_page.messages("success"))
    zone = Zone.objects.get()
    assert zone.api_token == DEFAULT_TOKEN  # trimmed
    assert zone.zone_id == DEFAULT_ZONE_ID
    assert "never tested" in admin_page.css("#result_list td.field-test_status").text
    assert DEFAULT_TOKEN not in admin_page.driver.page_source

    admin_page.open(change_url(zone))
    help_text = admin_page.css(".field-api_token .help, #id_api_token_helptext").text
    assert f"Set, ends in …{DEFAULT_TOKEN[-4:]}. Leave blank to keep it" in help_text
    assert admin_page.css("#id_api_token").get_attribute("value") == ""
    button = admin_page.css("#cfpurge-test-connection")
    assert button.is_displayed()
    assert button.get_attribute("textContent").strip() == "Test connection"
    admin_page.shot("change-form")

    admin_page.click_and_wait(button, "ul.messagelist")
    admin_page.shot("test-connection-ok")
    assert admin_page.messages("error") == []
    assert admin_page.messages("success") == [
        f"Zone {DEFAULT_ZONE_NAME}: Connected to zone {DEFAULT_ZONE_NAME}, plan free."
    ]
    steps = admin_page.all_css("ul.cfpurge-steps li")
    assert [s.get_attribute("class") for s in steps] == [
        f"cfpurge-step cfpurge-{s}" for s in ["ok"] * 4
    ]
    assert "A test purge of https://example.com/__cfpurge_probe was accepted." in steps[3].text
    zone.refresh_from_db()
    assert zone.last_test_ok is True
    assert zone.remote_name == DEFAULT_ZONE_NAME
    assert [r["route"] for r in fake_cf.requests()] == ["verify_user", "zone", "purge"]
    assert fake_cf.purged_urls() == ["https://example.com/__cfpurge_probe"]


@pytest.mark.parametrize(
    ("token", "step", "expected"),
    [
        pytest.param(
            UNKNOWN_TOKEN,
            "Credentials",
            "Cloudflare rejected the API token: it is unknown, revoked or mistyped",
            id="unknown-token",
        ),
        pytest.param(
            EXPIRED_TOKEN,
            "Credentials",
            "The API token expired on 2020-01-01. Roll it or create a new one",
            id="expired-token",
        ),
        pytest.param(
            NO_PURGE_TOKEN,
            "Purge permission",
            "it needs Zone → Cache Purge → Purge on this zone",
            id="no-cache-purge-permission",
        ),
    ],
)
def test_bad_token_gets_an_actionable_message(admin_page, fake_cf, token, step, expected):
    zone = fake_zone()
    admin_page.open(change_url(zone))
    # A replacement token typed over the stored one (which is never shown).
    admin_page.css("#id_api_token").send_keys(token)
    admin_page.click_and_wait(admin_page.css('input[name="_continue"]'), "#cfpurge-test-connection")
    zone.refresh_from_db()
    assert zone.api_token == token

    admin_page.click_and_wait(admin_page.css("#cfpurge-test-connection"), "ul.messagelist")
    admin_page.shot("test-connection-failed")
    assert admin_page.messages("success") == []
    errors = admin_page.messages("error")
    assert len(errors) == 1
    assert errors[0].startswith(f"Zone {DEFAULT_ZONE_NAME} — {step}: ")
    assert expected in errors[0]
    assert "My Profile → API Tokens" in errors[0]
    failed = admin_page.css("ul.cfpurge-steps li.cfpurge-error")
    assert failed.text.startswith(f"✘ {step}:")
    assert expected in failed.text
    assert token not in admin_page.driver.page_source
    zone.refresh_from_db()
    assert zone.last_test_ok is False

    admin_page.open(ZONES_URL)
    status = admin_page.reveal(admin_page.css("#result_list td.field-test_status"))
    admin_page.shot("zone-list")
    assert status.text.startswith("✘ ")
    assert expected in status.text


def test_retry_a_failed_row_from_the_purge_log(admin_page, fake_cf, drain_dispatches):
    fake_zone()
    row = api.purge_urls([FILE_URL])
    # Cloudflare refuses the body once: a permanent failure, kept for a retry by hand.
    fake_cf.set_faults(fail_next=[{"status": 400, "code": 1012}])
    assert drain().failed == 1
    row.refresh_from_db()
    assert row.status == PurgeRequest.Status.FAILED

    admin_page.open(ZONES_URL)
    admin_page.shot("zones-banner")
    banner = admin_page.css("#cfpurge-health-banner").text
    assert "Purges need attention: 1 failed, 0 waiting." in banner
    admin_page.click_and_wait(
        admin_page.css('#cfpurge-health-banner a[href$="status__exact=failed"]'), "#result_list"
    )
    last_error = admin_page.reveal(admin_page.css("#result_list td.field-last_error_short"))
    admin_page.shot("log-failed")
    assert log_row_status(admin_page, row) == "failed"
    assert "Cloudflare rejected the purge request of 1 item(s) (HTTP 400" in last_error.text
    assert "[code 1012]" in last_error.text
    assert admin_page.css("#cfpurge-chart .bar[data-failed='1']").is_displayed()

    admin_page.css(f'input[name="_selected_action"][value="{row.pk}"]').click()
    admin_page.choose('select[name="action"]', "retry_now")
    admin_page.shot("retry-selected")
    admin_page.click_and_wait(admin_page.css('button[name="index"]'), "ul.messagelist")
    admin_page.shot("retried")
    assert admin_page.messages("success") == ["1 purge request will be sent again."]
    # The list still shows failed rows only: the retried row has left it.
    assert admin_page.all_css(f'input[name="_selected_action"][value="{row.pk}"]') == []
    admin_page.open(LOG_URL)
    admin_page.shot("log-waiting")
    assert log_row_status(admin_page, row) == "waiting"
    row.refresh_from_db()
    assert row.status == PurgeRequest.Status.PENDING
    assert drain_dispatches  # a drain was asked for (no worker here: drained below)

    assert drain().done == 1
    admin_page.open(LOG_URL)
    admin_page.shot("purged")
    assert log_row_status(admin_page, row) == "purged"
    row.refresh_from_db()
    assert row.status == PurgeRequest.Status.DONE
    assert fake_cf.purged_urls() == [FILE_URL]


def test_manual_purge_everything_after_confirmation(admin_page, fake_cf):
    fake_zone()
    admin_page.open(LOG_URL)
    link = admin_page.css("#cfpurge-manual-purge")
    assert link.get_attribute("textContent").strip() == "Purge by hand"
    admin_page.click_and_wait(link, "#cfpurge-purge-form")
    admin_page.shot("purge-form")
    admin_page.css('input[name="kind"][value="everything"]').click()
    admin_page.click_and_wait(admin_page.css("#cfpurge-submit"), "#cfpurge-confirm-everything")
    admin_page.shot("confirm")
    warning = admin_page.css("#cfpurge-confirm-everything").text
    assert "Purge EVERYTHING cached on EVERY zone?" in warning
    assert admin_page.css("#cfpurge-confirm").get_attribute("value") == "Yes, purge everything"
    assert admin_page.css(".cancel-link").text == "No, take me back"
    assert PurgeRequest.objects.count() == 0

    admin_page.click_and_wait(admin_page.css("#cfpurge-confirm"), "ul.messagelist")
    admin_page.shot("recorded")
    row = PurgeRequest.objects.get()
    assert row.targets == {"everything": [True]}
    assert row.source == PurgeRequest.Source.MANUAL
    assert row.requested_by.username == "admin"
    assert admin_page.messages("success") == [
        f"Purge request #{row.pk} recorded; it is sent within seconds."
    ]
    assert fake_cf.purges() == []

    report = drain()
    assert (report.done, report.failed, report.api_calls) == (1, 0, 1)
    (purge,) = fake_cf.purges(kind="everything")
    assert purge["zone"] == DEFAULT_ZONE_ID
    admin_page.open(LOG_URL)
    admin_page.shot("log-purged")
    assert log_row_status(admin_page, row) == "purged"
