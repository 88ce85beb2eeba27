"""The admin in a real headless Chromium, against a live server and the fake Cloudflare API.

Each test saves screenshots of its steps in ``tests/artifacts/browser/``. The console
tests fill the log and the zones with realistic data (:func:`tests.browser.fill_console`)
and check every page at 1280 by 800, in the light and the dark theme, for sideways
scrolling.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

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
    ConsoleWorld,
    admin_page_fixture,
    browser_page_fixture,
    chromium_fixture,
    drain_dispatches_fixture,
    fake_cf_fixture,
    fill_console,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("drain_dispatches"),
]

ZONES_URL = "/admin/django_cfpurge/zone/"
LOG_URL = "/admin/django_cfpurge/purgerequest/"
PURGE_URL = "/admin/django_cfpurge/purgerequest/purge/"
#: Pages also shot whole (their lower part matters).
LONG_PAGES = {"zone-change", "request-failed", "request-rate-limited", "request-many-targets"}
#: The body's background in each theme (the admin's ``--body-bg``).
BACKGROUNDS = {"light": "rgb(255, 255, 255)", "dark": "rgb(18, 18, 18)"}
FILE_URL = "https://www.example.com/media/photos/a.jpg"


def fake_zone() -> Zone:
    """The zone the fake Cloudflare knows, with a token that may purge it."""
    return make_zone(
        DEFAULT_ZONE_NAME, zone_id=DEFAULT_ZONE_ID, api_token=DEFAULT_TOKEN, plan="free"
    )


def change_url(zone: Zone) -> str:
    return reverse("admin:django_cfpurge_zone_change", args=[zone.pk])


def log_row_status(page: AdminPage, row: PurgeRequest) -> str:
    """The status column of ``row`` in the purge log page on screen, without its icon."""
    text = page.css(
        f'#result_list tr:has(input[name="_selected_action"][value="{row.pk}"]) td.field-row_status'
    ).text.strip()
    icon, _, label = text.partition(" ")
    assert icon in "✔✘◷‖↷⊘", text
    return label


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
    last_error = admin_page.reveal(admin_page.css("#result_list td.field-error_short span"))
    admin_page.shot("log-failed")
    assert log_row_status(admin_page, row) == "failed"
    assert "Cloudflare rejected the purge request of 1 item(s) (HTTP 400" in last_error.text
    # In short on the list; the whole message on hover.
    assert last_error.text.endswith("…")
    assert "[code 1012]" in last_error.get_attribute("title")
    assert admin_page.css("#cfpurge-chart a.bar[data-failed='1']").is_displayed()

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


# -- the console at 1280 by 800, light and dark --------------------------------------------


def request_url(row: PurgeRequest) -> str:
    return reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk])


def console_pages(world: ConsoleWorld) -> list[tuple[str, str, str]]:
    """``(name, path, selector it shows)`` of every console page reached by address."""
    return [
        ("index", "/admin/", "#content-main"),
        ("zone-list", ZONES_URL, "#result_list"),
        ("zone-add-chooser", ZONES_URL + "add/", "#cfpurge-backends"),
        ("zone-add-form", ZONES_URL + "add/?backend=cloudflare", "#id_api_token"),
        ("zone-change", change_url(world.stale_zone), "#cfpurge-zone-health"),
        ("zone-change-bunny", change_url(world.bunny_zone), "#cfpurge-zone-health"),
        ("purge-log", LOG_URL, "#cfpurge-chart-svg"),
        ("request-failed", request_url(world.failed), "#cfpurge-calls"),
        ("request-rate-limited", request_url(world.rate_limited), "#cfpurge-calls"),
        ("request-many-targets", request_url(world.many), "#cfpurge-targets"),
        ("manual-purge", PURGE_URL, "#cfpurge-purge-form"),
    ]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_console_page_fits_1280_in_both_themes(admin_page, fake_cf, theme):
    world = fill_console(fake_cf)
    admin_page.use_viewport()
    admin_page.use_theme(theme)
    for name, path, selector in console_pages(world):
        admin_page.open(path)
        admin_page.wait_css(selector)
        assert admin_page.body_background() == BACKGROUNDS[theme], name
        assert admin_page.driver.execute_script("return window.innerWidth;") == 1280
        admin_page.shot(f"{theme}-{name}", window=True)
        if name in LONG_PAGES:
            admin_page.shot(f"{theme}-{name}-full")
        admin_page.assert_fits(f"{theme} {name}")

    # The retry confirmation is reached the way people reach it: select, act, confirm.
    admin_page.open(LOG_URL + "?status__exact=failed")
    admin_page.css(f'input[name="_selected_action"][value="{world.everything.pk}"]').click()
    admin_page.choose('select[name="action"]', "retry_now")
    admin_page.click_and_wait(admin_page.css('button[name="index"]'), "#cfpurge-confirm-retry")
    assert admin_page.body_background() == BACKGROUNDS[theme]
    assert f"#{world.everything.pk}" in admin_page.css("#cfpurge-retry-rows").text
    admin_page.shot(f"{theme}-retry-confirmation", window=True)
    admin_page.assert_fits(f"{theme} retry confirmation")
    assert PurgeRequest.objects.get(pk=world.everything.pk).status == "failed"


def test_the_overflow_check_sees_a_wide_page(admin_page, fake_cf):
    """The check above can fail: a page made wider than the window, and a table made
    wider than its box, are both caught."""
    admin_page.use_viewport()
    fill_console(fake_cf)
    admin_page.open(LOG_URL)
    admin_page.assert_fits("the log as it is")
    admin_page.driver.execute_script(
        "document.querySelector('#result_list td.field-error_short span').style.whiteSpace"
        " = 'nowrap';"
    )
    found = admin_page.overflow()
    assert found["scrollers"], found  # the table now scrolls inside .results
    admin_page.driver.execute_script(
        "document.querySelector('#content').style.minWidth = '1500px';"
    )
    found = admin_page.overflow()
    assert found["scrollWidth"] > found["innerWidth"] == 1280


@pytest.mark.parametrize(("preferred", "chosen"), [("light", "dark"), ("dark", "light")])
def test_the_theme_toggle_wins_over_the_browser(admin_page, fake_cf, preferred, chosen):
    """The admin's toggle stores ``theme`` in localStorage; the console's colours follow
    it even when the browser prefers the other scheme."""
    world = fill_console(fake_cf)
    admin_page.use_viewport()
    admin_page.use_theme(preferred)
    admin_page.open(request_url(world.failed))
    admin_page.driver.execute_script("localStorage.setItem('theme', arguments[0]);", chosen)
    admin_page.open(request_url(world.failed))
    assert admin_page.driver.execute_script("return document.documentElement.dataset.theme;") == (
        chosen
    )
    assert admin_page.body_background() == BACKGROUNDS[chosen]
    error_colour = admin_page.driver.execute_script(
        "return getComputedStyle(document.querySelector('#cfpurge-row-error')).color;"
    )
    expected = {"light": "rgb(186, 33, 33)", "dark": "rgb(255, 138, 128)"}[chosen]
    assert error_colour == expected
    admin_page.shot(f"{chosen}-by-toggle")
    admin_page.assert_fits(f"{chosen} by toggle")


# -- the chart, read and clicked by a view-only user ------------------------------------


def viewer(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password=ADMIN_PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_zone", "view_purgerequest"])
    )
    return user


def test_a_chart_bar_leads_to_its_hour_in_the_log(browser_page, django_user_model):
    from django.utils import timezone

    viewer(django_user_model)
    hour = timezone.localtime().replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    made = {}
    for label, when, status in [
        ("at the hour", hour, "done"),
        ("in the hour", hour + timedelta(minutes=30), "failed"),
        ("end of the hour", hour + timedelta(minutes=59, seconds=59), "pending"),
        ("before", hour - timedelta(seconds=1), "done"),
        ("next hour", hour + timedelta(hours=1), "done"),
    ]:
        made[label] = PurgeRequest.objects.create(
            source="api",
            event="manual",
            status=status,
            created_at=when,
            next_attempt_at=when + timedelta(days=9),
        )
    browser_page.use_viewport()
    browser_page.login("viewer", ADMIN_PASSWORD)
    browser_page.open(LOG_URL)
    svg = browser_page.css("#cfpurge-chart-svg")
    assert browser_page.css("#cfpurge-chart-title").get_attribute("textContent") == (
        "Purged, failed and waiting purge requests per hour"
    )
    desc = browser_page.css("#cfpurge-chart-desc").get_attribute("textContent")
    assert desc.startswith("Last 48 hours: 3 purged, 1 failed, 1 waiting.")
    bars = browser_page.all_css("#cfpurge-chart-svg a.bar")
    assert len(bars) == 48
    assert svg.get_attribute("aria-labelledby") == "cfpurge-chart-title cfpurge-chart-desc"
    bar = browser_page.css(f'#cfpurge-chart-svg a.bar[data-hour="{hour.isoformat()}"]')
    title = bar.find_element("css selector", "title").get_attribute("textContent")
    assert title == (
        f"{hour:%Y-%m-%d %H:%M} to {hour + timedelta(hours=1):%H:%M}: 1 purged, 1 failed, 1 waiting"
    )
    assert bar.get_attribute("aria-label") == title
    # The axis: hour labels every six hours, counts on the left.
    labels = [t.get_attribute("textContent") for t in browser_page.all_css(".axis.x text")]
    assert len(labels) == 8 and all(re.fullmatch(r"\d\d:00|\d{1,2} \w{3}", t) for t in labels)
    # 3 rows in the busiest hour: a scale up to 5.
    assert [t.get_attribute("textContent") for t in browser_page.all_css(".axis.y text")] == [
        "0",
        "5",
    ]
    # The text alternative, opened: one row per busy hour, each a link to its hour.
    browser_page.css("#cfpurge-chart-table summary").click()
    table_rows = browser_page.all_css("#cfpurge-chart-table tbody tr")
    assert [r.text for r in table_rows] == [
        f"{(hour - timedelta(hours=1)):%Y-%m-%d %H:%M} 1 0 0",
        f"{hour:%Y-%m-%d %H:%M} 1 1 1",
        f"{(hour + timedelta(hours=1)):%Y-%m-%d %H:%M} 1 0 0",
    ]
    browser_page.shot("chart")

    browser_page.click_and_wait(bar, "#result_list")
    browser_page.shot("log-of-the-hour")
    links = browser_page.all_css("#result_list td.field-what a")
    listed = {int(urlsplit(a.get_attribute("href")).path.split("/")[-3]) for a in links}
    expected = {made[k].pk for k in ("at the hour", "in the hour", "end of the hour")}
    assert listed == expected
    assert browser_page.all_css('select[name="action"]') == []  # view-only: no action


def test_a_view_only_user_reads_the_console_and_sees_no_action(
    browser_page, fake_cf, django_user_model
):
    viewer(django_user_model)
    world = fill_console(fake_cf)
    browser_page.use_viewport()
    browser_page.login("viewer", ADMIN_PASSWORD)
    for name, path, selector in console_pages(world):
        if name in ("zone-add-chooser", "zone-add-form", "manual-purge"):
            continue
        browser_page.open(path)
        browser_page.wait_css(selector)
        browser_page.assert_fits(f"viewer {name}")
        # Nothing that would change anything: no control of a form that posts (but
        # logging out), no action menu, no "add" or "purge by hand" link.
        posting = browser_page.all_css(
            'form[method="post"]:not(#logout-form) :is(button, input[type="submit"], select)'
        )
        assert [e.get_attribute("outerHTML")[:80] for e in posting] == [], name
        assert browser_page.all_css("#cfpurge-manual-purge, .addlink, .deletelink") == [], name
        assert DEFAULT_TOKEN not in browser_page.driver.page_source, name
    browser_page.open(request_url(world.failed))
    browser_page.shot("viewer-request-failed")
