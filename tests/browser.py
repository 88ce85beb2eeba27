"""Fixtures for the real-browser tests: headless Chromium driven by Selenium, the fake
Cloudflare server, a small page helper, and a console full of realistic data.

Imported by ``tests/test_browser.py`` (importing the fixtures registers them there).
Chromium and its driver come from the system (Debian ``chromium`` and
``chromium-driver``); without them the tests skip, or fail when ``CI`` is set.

Pages are seen at :data:`VIEWPORT` (1280 by 800 CSS pixels), in the light or the dark
theme (:meth:`AdminPage.use_theme`). ``CFPURGE_DOCS_SCREENSHOTS=1`` copies the
screenshots named in :data:`DOCS_SHOTS` into ``docs/_static/admin/`` (as small
palette PNGs) for the documentation.
"""

from __future__ import annotations

import base64
import io
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.testing.cloudflare_api import FakeCloudflare
from tests.procs import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where screenshots go; the CI keeps ``tests/artifacts/`` after a run.
ARTIFACTS = Path(__file__).parent / "artifacts" / "browser"
#: The size of the window's content (CSS pixels) every page must fit.
VIEWPORT = (1280, 800)
#: Where ``CFPURGE_DOCS_SCREENSHOTS=1`` copies the documentation's screenshots.
DOCS_STATIC = Path(__file__).resolve().parent.parent / "docs" / "_static" / "admin"
#: Screenshot steps (``<theme>-<page>``) copied for the documentation.
DOCS_SHOTS = tuple(
    f"{theme}-{page}"
    for theme in ("light", "dark")
    for page in ("zone-list", "zone-change-full", "purge-log", "request-failed-full")
)
#: Widest vertical scrollbar (Chromium's classic one is 15 px).
SCROLLBAR = 20
#: Largest documentation screenshot, in bytes.
DOCS_MAX_BYTES = 250_000
#: Seconds to wait for an element to appear (an upper bound, never asserted on).
WAIT = 15
ADMIN_PASSWORD = "browser-tests-only"  # a throwaway test account

CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,800",
)


def _missing_browser() -> str:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return ", ".join(missing)


@pytest.fixture(scope="module", name="chromium")
def chromium_fixture() -> Iterator[Any]:
    """One headless Chromium for the module, with a throwaway profile."""
    missing = _missing_browser()
    if missing:
        unavailable(
            f"browser tests need {missing} "
            "(apt-get install chromium chromium-driver; pip install selenium)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cfpurge-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(name="fake_cf")
def fake_cf_fixture(settings: Any) -> Iterator[FakeCloudflare]:
    """A fake Cloudflare API in a thread of this process; ``CFPURGE`` points at it.

    The live server runs in another thread of the same process, so it sees the
    overridden settings too.
    """
    with FakeCloudflare() as fake:
        settings.CFPURGE = {"API_URL": fake.api_url, "BASE_URLS": ["https://www.example.com"]}
        yield fake


class AdminPage:
    """The admin seen through the browser: navigation, waits, messages, screenshots."""

    def __init__(self, driver: Any, base_url: str, name: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.shots: list[Path] = []

    # -- navigation -----------------------------------------------------------------
    def open(self, path: str) -> None:
        """Load ``path`` (e.g. ``/admin/``) from the live server."""
        self.driver.get(self.base_url + path)
        self.wait_css("body")

    def wait_css(self, selector: str) -> Any:
        """The first element matching ``selector``, once it is present."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, selector))
        )

    def css(self, selector: str) -> Any:
        """The first element matching ``selector`` (it must be there already)."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all_css(self, selector: str) -> list[Any]:
        """Every element matching ``selector``."""
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def click_and_wait(self, element: Any, selector: str) -> Any:
        """Click ``element`` (it submits or navigates) and wait for the next page's
        ``selector``.

        The old document is marked before the click, and the wait ends only once a
        document *without* the mark has loaded: proof of the new page, so the old
        page's own copy of ``selector`` is never mistaken for it. While the browser is
        between pages, whatever it answers (a stale element, "Node with given id does
        not belong to the document", a destroyed execution context…) means "not yet".
        """
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        mark = secrets.token_hex(8)
        self.driver.execute_script(
            "document.documentElement.dataset.cfpurgeLeaving = arguments[0];", mark
        )
        element.click()

        def new_page_loaded(driver: Any) -> bool:
            state = driver.execute_script(
                "return [document.readyState, document.documentElement.dataset.cfpurgeLeaving];"
            )
            return state[0] == "complete" and state[1] != mark

        WebDriverWait(self.driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            new_page_loaded
        )
        return self.wait_css(selector)

    def login(self, username: str, password: str) -> None:
        """Log in through the admin's login form."""
        self.open("/admin/login/?next=/admin/")
        self.css("#id_username").send_keys(username)
        self.css("#id_password").send_keys(password)
        self.click_and_wait(self.css('#login-form [type="submit"]'), "#user-tools")

    # -- how the page is seen --------------------------------------------------------
    def use_viewport(self, width: int = VIEWPORT[0], height: int = VIEWPORT[1]) -> None:
        """Lay pages out in exactly ``width`` by ``height`` CSS pixels, whatever the
        window's frame takes."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def use_theme(self, scheme: str) -> None:
        """Make the browser prefer the ``light`` or ``dark`` colour scheme (the admin's
        "auto" theme follows it), and forget a theme chosen with the toggle."""
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        if self.driver.current_url.startswith(self.base_url):
            self.driver.execute_script("localStorage.removeItem('theme');")

    def body_background(self) -> str:
        """The page's background colour as computed (``rgb(…)``)."""
        return str(
            self.driver.execute_script("return getComputedStyle(document.body).backgroundColor;")
        )

    def overflow(self) -> dict[str, Any]:
        """What could make a person scroll sideways: the document's width against the
        window's, every box that scrolls sideways (a wide table inside ``.results``…),
        and every visible element that sticks out of the window on the right."""
        return dict(self.driver.execute_script(OVERFLOW_SCRIPT))

    def assert_fits(self, what: str) -> None:
        """Fail unless the page is no wider than the window and nothing in it scrolls
        or sticks out sideways."""
        found = self.overflow()
        # clientWidth is the window's width less the vertical scrollbar, if any.
        assert found["innerWidth"] - SCROLLBAR <= found["clientWidth"] <= found["innerWidth"]
        assert found["scrollWidth"] == found["clientWidth"], (
            f"{what}: the page is {found['scrollWidth']} px wide in a window of "
            f"{found['innerWidth']} px (client {found['clientWidth']} px)"
        )
        assert found["scrollers"] == [], f"{what}: boxes scroll sideways: {found['scrollers']}"
        assert found["outside"] == [], f"{what}: elements stick out: {found['outside']}"

    # -- what the page shows --------------------------------------------------------
    def messages(self, level: str | None = None) -> list[str]:
        """The texts of the admin's messages (``level``: success, error, warning, info)."""
        selector = "ul.messagelist li" + (f".{level}" if level else "")
        return [li.text.strip() for li in self.all_css(selector)]

    def text(self) -> str:
        """The visible text of the page body."""
        return self.css("body").text

    def choose(self, selector: str, value: str) -> None:
        """Pick the option ``value`` of the ``<select>`` matching ``selector``."""
        from selenium.webdriver.support.ui import Select

        Select(self.css(selector)).select_by_value(value)

    def set_value(self, element: Any, value: str) -> None:
        """Set an input's value as a paste would, newlines included (typing a newline
        would press Enter and submit the form)."""
        self.driver.execute_script("arguments[0].value = arguments[1];", element, value)

    def reveal(self, element: Any) -> Any:
        """Scroll ``element`` into view, sideways too (wide change lists scroll), and
        return it."""
        self.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'nearest', inline: 'center'});", element
        )
        return element

    def shot(self, step: str, *, window: bool = False) -> Path:
        """Save a screenshot of the whole page (``window``: of what the window shows,
        from the top) as ``tests/artifacts/browser/<test>-<nn>-<step>.png``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{len(self.shots) + 1:02d}-{slug(step)}.png"
        options: dict[str, Any] = {"format": "png"}
        if not window:
            size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            options["captureBeyondViewport"] = True
            options["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
        data = self.driver.execute_cdp_cmd("Page.captureScreenshot", options)["data"]
        path.write_bytes(base64.b64decode(data))
        self.shots.append(path)
        if os.environ.get("CFPURGE_DOCS_SCREENSHOTS") and slug(step) in DOCS_SHOTS:
            copy_for_docs(path, slug(step))
        return path


#: Measures what could scroll sideways (see :meth:`AdminPage.overflow`).
OVERFLOW_SCRIPT = """
const doc = document.documentElement;
const width = window.innerWidth;
const classes = (el) => typeof el.className === 'string' && el.className.trim()
  ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes(el);
const scrollers = [], outside = [];
for (const el of document.querySelectorAll('body *')) {
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden') continue;
  if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
    scrollers.push(name(el) + ' ' + el.scrollWidth + '>' + el.clientWidth);
  }
  const box = el.getBoundingClientRect();
  if (box.width > 0 && box.height > 0 && box.right > width + 1 && box.left < width) {
    outside.push(name(el) + ' right=' + Math.round(box.right));
  }
}
return {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, innerWidth: width,
        scrollers: scrollers.slice(0, 10), outside: outside.slice(0, 10)};
"""


def copy_for_docs(path: Path, name: str) -> Path:
    """Copy the screenshot ``path`` to ``docs/_static/admin/<name>.png`` as a palette PNG
    (the admin's flat colours survive 256 colours), no larger than
    :data:`DOCS_MAX_BYTES`."""
    from PIL import Image

    DOCS_STATIC.mkdir(parents=True, exist_ok=True)
    target = DOCS_STATIC / f"{name}.png"
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    assert len(data) <= DOCS_MAX_BYTES, f"{target.name} would be {len(data)} bytes"
    target.write_bytes(data)
    return target


def slug(text: str) -> str:
    """``text`` as a file name part: letters, digits, ``_`` and single dashes."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-")


@pytest.fixture(name="drain_dispatches")
def drain_dispatches_fixture(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The drain tasks sent after commits, recorded instead of sent: these tests run
    no Celery worker and drain in-process, when they choose to."""
    from django_cfpurge import tasks

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.drain_outbox, "apply_async", lambda **kw: sent.append(kw))
    return sent


@pytest.fixture(name="browser_page")
def browser_page_fixture(
    request: pytest.FixtureRequest, chromium: Any, live_server: Any, django_user_model: Any
) -> Iterator[AdminPage]:
    """The browser on the live server, logged out; a superuser ``admin`` with the
    password :data:`ADMIN_PASSWORD` exists.

    A screenshot named ``…-FAILED`` is saved when the test fails, showing where it stopped.
    """
    django_user_model.objects.create_superuser("admin", "admin@example.com", ADMIN_PASSWORD)
    name = slug(re.sub(r"^test_", "", request.node.name))
    for old in ARTIFACTS.glob(f"{name}-[0-9][0-9]-*.png"):  # a previous run's
        old.unlink()
    chromium.delete_all_cookies()
    page = AdminPage(chromium, live_server.url, name)
    failures = request.session.testsfailed
    yield page
    # The call phase's report is logged before teardown runs: a failure shows here.
    if request.session.testsfailed > failures:
        page.shot("FAILED")


@pytest.fixture(name="admin_page")
def admin_page_fixture(browser_page: AdminPage) -> AdminPage:
    """The browser on the live server, logged into the admin as a superuser."""
    browser_page.login("admin", ADMIN_PASSWORD)
    return browser_page


# -- a console full of realistic data ------------------------------------------------------

#: A long path, as storages make them: URLs that do not wrap at a space.
LONG_PATH = (
    "media/photos/2025/11/28/harbour-at-dusk-from-the-old-lighthouse-{i:03d}-original-"
    "4000x3000-final-approved.jpg"
)


def long_url(i: int, host: str = "www.example.com") -> str:
    """A long, realistic file URL (with resizing parameters)."""
    return f"https://{host}/{LONG_PATH.format(i=i)}?width=1920&format=webp&quality=82"


@dataclass
class ConsoleWorld:
    """What :func:`fill_console` made: the zones and the rows the tests look at."""

    zone: Any
    stale_zone: Any
    bunny_zone: Any
    images_zone: Any
    done: Any
    failed: Any
    rate_limited: Any
    many: Any
    everything: Any


def _steps(ok: bool, message: str = "") -> list[dict[str, str]]:
    labels = ["Credentials", "Zone", "Hostnames", "Purge permission"]
    steps = [{"key": k.lower(), "label": k, "status": "ok", "message": "OK."} for k in labels]
    if not ok:
        steps[0].update(status="error", message=message)
        for step in steps[1:]:
            step.update(status="skipped", message="Skipped: the credentials were not accepted.")
    return steps


def _zones(now: datetime) -> tuple[Any, Any, Any, Any]:
    from django_cfpurge.testing import make_zone
    from django_cfpurge.testing.cloudflare_api import (
        DEFAULT_TOKEN,
        DEFAULT_ZONE_ID,
        DEFAULT_ZONE_NAME,
    )

    zone = make_zone(
        DEFAULT_ZONE_NAME,
        zone_id=DEFAULT_ZONE_ID,
        api_token=DEFAULT_TOKEN,
        plan="free",
        credentials_changed_at=now - timedelta(days=3),
        last_test_at=now - timedelta(hours=2),
        last_test_ok=True,
        last_test_steps=_steps(True),
        token_expires_on=now + timedelta(days=200),
    )
    expired = "The API token expired on 2025-01-01. Roll it or create a new one under My Profile."
    stale = make_zone(
        "shop.example-store.co.uk",
        zone_id="3f" * 16,
        hostnames="www.example-store.co.uk\nstatic.example-store.co.uk\nmedia.example-store.co.uk",
        credentials_changed_at=now - timedelta(hours=1),
        last_test_at=now - timedelta(days=40),
        last_test_ok=False,
        last_test_steps=_steps(False, expired),
        token_expires_on=now - timedelta(days=10),
    )
    bunny = make_zone(
        "cdn.example.org",
        backend="bunny",
        hostnames="cdn.example.org\nassets.example.org",
        last_test_at=now - timedelta(days=1),
        last_test_ok=True,
        last_test_steps=_steps(True),
    )
    images = make_zone("Product images", backend="cloudflare_images", zone_id="9a" * 16)
    # Two zones claiming one hostname: the page warns, as the system check does.
    for name, zone_id in (
        ("legacy.example.net", "1b" * 16),
        ("legacy-copy.example.net", "2c" * 16),
    ):
        make_zone(name, zone_id=zone_id, hostnames="static.example.net", enabled=True)
    make_zone("old.example.info", zone_id="4d" * 16, enabled=False)
    return zone, stale, bunny, images


def _drained(fake_cf: Any, zone: Any, now: datetime) -> tuple[Any, Any, Any]:
    """Rows sent to the fake Cloudflare by a real drain: accepted, refused (400 with a
    code), rate limited (429 with Retry-After). Their calls are recorded by the drain."""
    from django_cfpurge import api
    from django_cfpurge.drain import drain
    from django_cfpurge.models import PurgeRequest

    done = api.purge_urls([long_url(i) for i in range(12)])
    assert drain(ids=[done.pk]).done == 1
    photo = {
        "source": "model",
        "model_label": "testapp.Photo",
        "resolved": True,
        "zone": zone,
    }
    failed = PurgeRequest.objects.create(
        **photo,
        event="renamed",
        object_pk="4711",
        object_repr="Sunset over the harbour, original upload (4000 x 3000)",
        change={
            "files": {
                "image": [
                    "photos/2025/11/sunset_original_final_v3.jpg",
                    "photos/archive/2025/sunset-harbour-4000x3000.jpg",
                ]
            },
            "fields": {},
            "values": {"is_public": True},
            "current": {"image": "photos/archive/2025/sunset-harbour-4000x3000.jpg"},
        },
        targets={"files": [long_url(i) for i in range(100, 106)]},
    )
    fake_cf.set_faults(fail_next=[{"status": 400, "code": 1012}])
    assert drain(ids=[failed.pk]).failed == 1
    limited = PurgeRequest.objects.create(
        **photo,
        event="changed",
        object_pk="4712",
        object_repr="Night market",
        change={"files": {}, "fields": {"is_public": [False, True]}, "values": {}},
        targets={"files": [long_url(i) for i in range(200, 203)]},
    )
    fake_cf.set_faults(fail_next=[{"status": 429, "retry_after": 30}])
    drain(ids=[limited.pk])
    for row in (done, failed, limited):
        row.refresh_from_db()
    assert limited.status == PurgeRequest.Status.PENDING
    return done, failed, limited


def _call(
    row: Any, zone: Any, when: datetime, items: list[str], outcome: str, **answer: Any
) -> None:
    from django_cfpurge.models import PurgeCall

    call = PurgeCall.objects.create(
        zone=zone,
        backend=zone.backend,
        kind=answer.pop("kind", "files"),
        items=len(items),
        sample=items[:5],
        outcome=outcome,
        started_at=when,
        duration_ms=answer.pop("duration_ms", 240),
        status_code=answer.pop("status_code", 200),
        **answer,
    )
    call.requests.add(row)


def _history(zones: list[Any], now: datetime) -> None:
    """Rows over the last 48 hours, for the chart and a long list."""
    from django_cfpurge.models import PurgeRequest

    events = ["replaced", "renamed", "created", "changed", "deleted", "overwritten"]
    rows = []
    for hour in range(1, 47):
        for n in range((hour * 7) % 5 + (3 if hour % 11 == 0 else 0)):
            created = now - timedelta(hours=hour, minutes=7 * n + 3)
            failed = (hour + n) % 13 == 0
            rows.append(
                PurgeRequest(
                    source="model",
                    event=events[(hour + n) % len(events)],
                    model_label="testapp.Photo",
                    object_pk=str(1000 + hour * 10 + n),
                    object_repr=f"Photo {1000 + hour * 10 + n}",
                    targets={"files": [long_url(hour * 10 + n)]},
                    resolved=True,
                    zone=zones[(hour + n) % len(zones)],
                    status="failed" if failed else "done",
                    error_kind="server" if failed else "",
                    last_error="Zone “example.com”: Cloudflare's API had a temporary server "
                    "error (HTTP 502: Bad gateway); it is retried later. (gave up after 8 "
                    "attempts)"
                    if failed
                    else "",
                    created_at=created,
                    done_at=created + timedelta(seconds=4),
                    attempts=8 if failed else 1,
                    api_calls=1,
                )
            )
    PurgeRequest.objects.bulk_create(rows)


def _many(zone: Any, now: datetime) -> Any:
    """A model change with many targets, partly purged before a server error, some of
    them skipped."""
    from django_cfpurge.models import PurgeRequest

    urls = [long_url(i, "www.example.com") for i in range(300, 480)]
    purged = [["files", url] for url in urls[:120]]
    row = PurgeRequest.objects.create(
        source="model",
        event="replaced",
        model_label="testapp.Poster",
        object_pk="88",
        object_repr="Autumn sale 2025, window display poster in six sizes and three languages",
        change={
            "files": {"original": ["posters/autumn-2025-v1.pdf", "posters/autumn-2025-v2.pdf"]},
            "fields": {"is_public": [False, True], "views": [10, 11]},
            "values": {},
        },
        targets={"files": urls, "tags": ["poster-88", "campaign-autumn-2025"]},
        skipped_targets=[
            {
                "target": f"https://old-cdn.example.net/{LONG_PATH.format(i=i)}",
                "reason": "No configured zone serves the host “old-cdn.example.net”.",
            }
            for i in range(3)
        ],
        resolved=True,
        zone=zone,
        status="failed",
        error_kind="server",
        last_error="Zone “example.com”: Cloudflare's API had a temporary server error (HTTP "
        "502: Bad gateway [code 10001]); it is retried later. (gave up after 8 attempts)",
        result={"purged": purged},
        attempts=8,
        created_at=now - timedelta(minutes=50),
        done_at=now - timedelta(minutes=20),
    )
    for i in range(4):
        _call(
            row,
            zone,
            now - timedelta(minutes=49, seconds=-i),
            urls[i * 30 : i * 30 + 30],
            "ok",
            receipt=f"{i:032x}",
        )
    _call(
        row,
        zone,
        now - timedelta(minutes=48),
        urls[120:150],
        "retry",
        status_code=502,
        codes=["10001"],
        message="Cloudflare's API had a temporary server error (HTTP 502: Bad gateway [code "
        "10001]); it is retried later.",
        duration_ms=30012,
    )
    return row


def _others(world: dict[str, Any], now: datetime, user: Any) -> Any:
    """Rows of the other CDNs, explicit purges, held and skipped rows."""
    from django_cfpurge.models import PurgeRequest

    bunny, images, zone = world["bunny"], world["images"], world["zone"]
    tags = PurgeRequest.objects.create(
        source="api",
        event="manual",
        targets={"tags": ["product-42", "category-shoes"]},
        resolved=True,
        zone=bunny,
        status="done",
        created_at=now - timedelta(hours=3),
        done_at=now - timedelta(hours=3),
        attempts=1,
        api_calls=1,
    )
    _call(
        tags, bunny, now - timedelta(hours=3), ["product-42", "category-shoes"], "ok", kind="tags"
    )
    refused = PurgeRequest.objects.create(
        source="api",
        event="manual",
        targets={"files": [long_url(9, "cdn.example.org")]},
        resolved=True,
        zone=bunny,
        status="failed",
        error_kind="auth",
        last_error="Zone “cdn.example.org”: bunny.net rejected the API key (HTTP 401: "
        "Unauthorized). Copy the account's API key again from Account settings → API.",
        created_at=now - timedelta(hours=6),
        done_at=now - timedelta(hours=6),
        attempts=1,
    )
    _call(
        refused,
        bunny,
        now - timedelta(hours=6),
        [long_url(9, "cdn.example.org")],
        "failed",
        status_code=401,
        message="bunny.net rejected the API key (HTTP 401: Unauthorized).",
    )
    gone = PurgeRequest.objects.create(
        source="model",
        event="deleted",
        model_label="shop.ProductImage",
        object_pk="5",
        object_repr="Red running shoe, side view",
        change={
            "files": {"image": ["products/red-shoe-side.png", None]},
            "fields": {},
            "values": {"private": False},
        },
        targets={"gone": ["https://imagedelivery.net/abc/red-shoe-side/public"]},
        resolved=True,
        zone=images,
        status="done",
        created_at=now - timedelta(hours=9),
        done_at=now - timedelta(hours=9),
        attempts=1,
        api_calls=1,
    )
    _call(gone, images, now - timedelta(hours=9), ["red-shoe-side"], "ok", kind="gone")
    everything = PurgeRequest.objects.create(
        source="manual",
        event="manual",
        targets={"everything": [True]},
        resolved=True,
        zone=zone,
        requested_by=user,
        status="failed",
        error_kind="network",
        last_error="Zone “example.com”: Could not connect to Cloudflare's API at "
        "api.cloudflare.com: the connection failed; check this server's outbound network "
        "access (firewall, proxy, DNS) and CFPURGE['API_URL']; the purge request can be "
        "retried. (gave up after 8 attempts)",
        created_at=now - timedelta(hours=12),
        done_at=now - timedelta(hours=11),
        attempts=8,
    )
    PurgeRequest.objects.create(
        source="model",
        event="changed",
        model_label="testapp.Photo",
        object_pk="77",
        object_repr="Photo 77",
        change={"fields": {"is_public": [True, False]}},
        status="held",
        batch="import-2025-11",
        created_at=now - timedelta(minutes=5),
    )
    PurgeRequest.objects.create(
        source="api",
        event="manual",
        targets={"files": []},
        resolved=True,
        status="skipped",
        error_kind="unroutable",
        skipped_targets=[
            {
                "target": "https://unknown.example.net/a.jpg",
                "reason": "No configured zone serves the host “unknown.example.net”.",
            }
        ],
        last_error="No configured zone serves the host “unknown.example.net”.",
        created_at=now - timedelta(hours=2),
        done_at=now - timedelta(hours=2),
    )
    return everything


def fill_console(fake_cf: Any) -> ConsoleWorld:
    """Zones of every CDN and a purge log with what operators meet: long URLs and
    error messages, many targets, a refused call (400 with a code), a rate-limited one
    (429 with Retry-After), failures, skips, held rows, 48 hours of history."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    now = timezone.now()
    zone, stale, bunny, images = _zones(now)
    done, failed, limited = _drained(fake_cf, zone, now)
    _history([zone, bunny, images], now)
    many = _many(zone, now)
    user = get_user_model().objects.filter(username="admin").first()
    everything = _others({"zone": zone, "bunny": bunny, "images": images}, now, user)
    return ConsoleWorld(zone, stale, bunny, images, done, failed, limited, many, everything)
