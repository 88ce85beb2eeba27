"""Fixtures for the real-browser tests: headless Chromium driven by Selenium, the fake
Cloudflare server, and a small page helper.

Imported by ``tests/test_browser.py`` (importing the fixtures registers them there).
Chromium and its driver come from the system (Debian ``chromium`` and
``chromium-driver``); without them the tests skip, or fail when ``CI`` is set.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.testing.cloudflare_api import FakeCloudflare
from tests.procs import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where screenshots go; the CI keeps ``tests/artifacts/`` after a run.
ARTIFACTS = Path(__file__).parent / "artifacts" / "browser"
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
    "--window-size=1280,1000",
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

    def shot(self, step: str) -> Path:
        """Save a screenshot of the whole page (not only the window) as
        ``tests/artifacts/browser/<test>-<nn>-<step>.png``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{len(self.shots) + 1:02d}-{slug(step)}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )["data"]
        path.write_bytes(base64.b64decode(data))
        self.shots.append(path)
        return path


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
