"""Smoke test of the example project: the whole demo stack, driven over HTTP and in a browser.

``example_project/run_demo.py`` starts on free ports with a temporary data directory:
the fake Cloudflare (API and edge cache), Django behind the edge, a Celery worker on the
filesystem broker, and beat. The tests act on the site through the edge as a visitor
would, and read what Cloudflare received from the demo's edge log.

The browser test saves screenshots for ``docs/tutorial.rst`` into ``docs/_static/tutorial``
when ``CFPURGE_UPDATE_SCREENSHOTS=1``, into ``tests/artifacts`` otherwise.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser import CHROME_FLAGS
from tests.procs import CREDENTIAL_VARIABLES, free_port, port_open, unavailable, wait_for

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_DEMO = REPO_ROOT / "example_project" / "run_demo.py"
SCREENSHOTS = REPO_ROOT / "docs" / "_static" / "tutorial"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

#: Safety nets only: every wait below ends as soon as its condition holds.
START_TIMEOUT = 120.0
PURGE_TIMEOUT = 30.0


@dataclass
class Purged:
    """What the purge calls of one action purged: file URLs (by URL) and cache tags."""

    urls: set[str]
    tags: set[str]


@dataclass
class Stack:
    """A running demo: its URLs, its process and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    site: str
    origin: str
    fake: str
    ports: tuple[int, int, int]

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def edge_log(self) -> dict[str, Any]:
        """The demo's edge log as JSON (read from the origin: it is never cached anyway)."""
        response = requests.get(f"{self.origin}/edge-log/", params={"format": "json"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def last_purge_id(self) -> int:
        purges = self.edge_log()["purges"]
        return max((p["id"] for p in purges), default=0)

    def settle(self, after: int) -> tuple[Purged, int]:
        """Wait until the outbox is empty and purges newer than ``after`` arrived.

        :returns: what those purge calls purged, and the newest purge id.
        """

        def done() -> dict[str, Any] | None:
            log = self.edge_log()
            assert log["outbox"]["failed"] == 0, log
            new = [p for p in log["purges"] if p["id"] > after]
            if log["outbox"]["waiting"] == 0 and new:
                return log
            return None

        try:
            log = wait_for(done, PURGE_TIMEOUT, 0.1, description="the purge to reach the fake")
        except TimeoutError as err:
            raise AssertionError(f"{err}\n{self.log_tail()}") from err
        new = [p for p in log["purges"] if p["id"] > after]
        assert {p["kind"] for p in new} <= {"files", "tags"}, new
        purged = Purged(
            urls={u for p in new if p["kind"] == "files" for u in p["urls"]},
            tags={t for p in new if p["kind"] == "tags" for t in p["urls"]},
        )
        return purged, max(p["id"] for p in new)

    def wait_idle(self) -> int:
        """Wait until nothing waits in the outbox; return the newest purge id."""
        try:
            wait_for(
                lambda: self.edge_log()["outbox"]["waiting"] == 0,
                PURGE_TIMEOUT,
                0.1,
                description="the outbox to empty",
            )
        except TimeoutError as err:
            raise AssertionError(f"{err}\n{self.log_tail()}") from err
        return self.last_purge_id()

    def edge_keys(self) -> set[str]:
        response = requests.get(f"{self.fake}/__fake__/edge", timeout=10)
        response.raise_for_status()
        return {entry["key"] for entry in response.json()["entries"]}


def _child_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    # A developer's .env or shell must not point the demo elsewhere.
    for name in list(env):
        if name.startswith(("CFPURGE_", "DEMO_")) or name in ("DATABASE_URL", "REDIS_URL"):
            del env[name]
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
            "PYTHONUNBUFFERED": "1",
            "DEMO_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'demo.sqlite3'}",
            "REDIS_URL": "",
            "NO_COLOR": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The demo, started with ``run_demo.py`` and stopped with SIGINT (as Ctrl-C would)."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        unavailable("Pillow is not installed: pip install -r example_project/requirements.txt")
    base = tmp_path_factory.mktemp("demo")
    data_dir, ready_file, log_path = base / "data", base / "ready.json", base / "run_demo.log"
    web, edge, api = free_port(), free_port(), free_port()
    if os.environ.get("CFPURGE_UPDATE_SCREENSHOTS") == "1" and not any(
        port_open(port) for port in (8000, 8001, 8787)
    ):
        # The tutorial's screenshots show the URLs a reader sees: the default ports.
        web, edge, api = 8000, 8001, 8787
    cmd = [
        sys.executable,
        str(RUN_DEMO),
        f"--web-port={web}",
        f"--edge-port={edge}",
        f"--api-port={api}",
        f"--data-dir={data_dir}",
        f"--ready-file={ready_file}",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=_child_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Stack(
        process=process,
        log_path=log_path,
        site=f"http://localhost:{edge}",
        origin=f"http://127.0.0.1:{web}",
        fake=f"http://127.0.0.1:{api}",
        ports=(web, edge, api),
    )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"run_demo.py exited with {process.returncode}:\n{running.log_tail()}"
            )
        return ready_file.exists()

    try:
        wait_for(ready, START_TIMEOUT, 0.1, description="run_demo.py to be ready")
    except BaseException:
        process.kill()
        process.wait()
        raise
    try:
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired as err:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(
                f"run_demo.py did not stop on SIGINT:\n{running.log_tail()}"
            ) from err
        assert code == 0, running.log_tail()
        assert not ready_file.exists()
        # Every program it started has stopped: nothing listens on the demo's ports.
        assert not any(port_open(port) for port in running.ports), running.log_tail()


# -- helpers ---------------------------------------------------------------------------------


def _png(colour: tuple[int, int, int], text: str) -> bytes:
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (240, 160), colour)
    ImageDraw.Draw(picture).text((10, 10), text, fill=(255, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


class Visitor:
    """A browser-like HTTP client of the site (through the edge), with the CSRF token."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.session = requests.Session()
        self.session.get(f"{site}/", timeout=10).raise_for_status()
        self.token = self.session.cookies["csrftoken"]

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """POST a form; return the path it redirects to."""
        response = self.session.post(
            f"{self.site}{path}",
            data={"csrfmiddlewaretoken": self.token, **(data or {})},
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        assert response.status_code == 302, response.text[:2000]
        return response.headers["Location"]

    def fetch(self, path: str) -> requests.Response:
        """GET without cookies, as an anonymous visitor the edge may serve from cache."""
        return requests.get(f"{self.site}{path}", timeout=10)


def _folder_ids(stack: Stack) -> dict[str, str]:
    page = requests.get(f"{stack.origin}/", timeout=10).text
    upload_form = page.split('id="upload-form"', 1)[1]
    select = upload_form.split('name="folder"', 1)[1].split("</select>", 1)[0]
    return {label: value for value, label in re.findall(r'value="(\d+)"[^>]*>([^<]+)<', select)}


def _cached(visitor: Visitor, path: str) -> bytes:
    """Fetch ``path`` until the edge answers from its cache; return the cached body."""
    first = visitor.fetch(path)
    assert first.status_code == 200, (path, first.status_code)
    second = visitor.fetch(path)
    assert second.headers["CF-Cache-Status"] == "HIT", second.headers
    return second.content


# -- browser ---------------------------------------------------------------------------------


def _screenshot_dir() -> Path:
    if os.environ.get("CFPURGE_UPDATE_SCREENSHOTS") == "1":
        return SCREENSHOTS
    return ARTIFACTS / "tutorial"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium (Debian's binary and driver) with a fresh profile."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        unavailable(
            "Chromium and chromedriver are needed: apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROME_FLAGS, "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _save(driver: Any, name: str, width: int = 1100) -> None:
    """A small PNG of the whole page: shrunk and reduced to a palette, so it can be committed."""
    from PIL import Image

    driver.set_window_size(width, 800)
    # The page's own height, plus whatever the window adds around the viewport.
    height = driver.execute_script(
        "return Math.max(Math.ceil(document.body.getBoundingClientRect().bottom),"
        " document.documentElement.scrollHeight)"
        " + (window.outerHeight - window.innerHeight) + 16"
    )
    driver.set_window_size(width, min(max(int(height), 400), 1500))
    folder = _screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(io.BytesIO(driver.get_screenshot_as_png())) as shot:
        small = shot.convert("RGB")
        small.thumbnail((960, 1400))
        small.quantize(colors=96).save(folder / f"{name}.png", optimize=True)


def _until(driver: Any, check: Callable[[], bool], what: str, reload: bool = False) -> None:
    from selenium.common.exceptions import WebDriverException

    def ok() -> bool:
        try:
            if reload:
                driver.refresh()
            return check()
        except WebDriverException:
            # The page was replaced (a form posted, a redirect) while read: whatever the
            # browser answers then (a stale element, "Node with given id does not belong
            # to the document"…) means "not yet".
            return False

    wait_for(ok, PURGE_TIMEOUT, 0.3, description=what)


@pytest.mark.browser
def test_tutorial_walkthrough_in_a_browser(stack: Stack, browser: Any, tmp_path: Path) -> None:
    """The tutorial's clicks: upload, look at the purge, block, look at the edge log."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    stack.wait_idle()
    picture = tmp_path / "Harbour at dusk.png"
    picture.write_bytes(_png((20, 90, 140), "Harbour at dusk"))

    browser.get(f"{stack.site}/")
    _save(browser, "01-home")
    form = browser.find_element(By.ID, "upload-form")
    form.find_element(By.NAME, "file").send_keys(str(picture))
    Select(form.find_element(By.NAME, "folder")).select_by_visible_text("Landscapes")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def purged(rows: int) -> Callable[[], bool]:
        def check() -> bool:
            found = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
            return len(found) == rows and "purged" in found[0].text

        return check

    def block_button_says(text: str) -> bool:
        buttons = browser.find_elements(By.CSS_SELECTOR, "#block-form button")
        return bool(buttons) and buttons[0].text == text

    _until(browser, lambda: block_button_says("Block"), "the image page")
    _until(browser, purged(1), "the upload's purge", reload=True)
    # The files by URL; the galleries by the listing tag they carry.
    assert f"{stack.site}/media/images/landscapes/harbour-at-dusk.png" in browser.page_source
    assert "cfpurge-l-gallery.image" in browser.page_source
    _save(browser, "02-uploaded")

    browser.get(f"{stack.site}/gallery/landscapes/")
    assert "Harbour at dusk" in browser.page_source
    _save(browser, "03-gallery")

    browser.back()
    _until(browser, lambda: block_button_says("Block"), "the image page again")
    browser.find_element(By.CSS_SELECTOR, "#block-form button").click()
    _until(browser, lambda: block_button_says("Unblock"), "the page of the blocked image")
    _until(browser, purged(2), "the block's purge", reload=True)
    rows = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    assert "watched field changed" in rows[0].text
    _save(browser, "04-blocked")

    browser.get(f"{stack.site}/edge-log/")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#purges tbody tr")]
    # Newest first: the block's tag purge, then its URL purge.
    assert "cfpurge-o-gallery.image-" in rows[0]
    assert f"{stack.site}/media/images/landscapes/harbour-at-dusk.png" in rows[1]
    _save(browser, "05-edge-log")

    browser.get(f"{stack.site}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("demo")
    browser.find_element(By.NAME, "password").send_keys("demo")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _until(browser, lambda: "/admin/login/" not in browser.current_url, "the admin login")
    browser.get(f"{stack.site}/admin/django_cfpurge/purgerequest/")
    assert "Harbour at dusk" in browser.page_source
    _save(browser, "06-admin-purge-log", width=1400)


# -- HTTP ------------------------------------------------------------------------------------


def test_each_action_purges_exactly_its_urls(stack: Stack) -> None:
    """Upload, replace, rename, move, make private/public, block and delete one image.

    The files are purged by URL; the pages that show the image (galleries, ``/random/``)
    by their cache tags alone, the example declaring no page: a page cached before an
    action is fetched from the origin after it, and a page that did not show the image
    stays cached.
    """
    visitor = Visitor(stack.site)
    folders = _folder_ids(stack)
    b = stack.site
    last = stack.wait_idle()

    def act(path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Purged:
        nonlocal last
        visitor.post(path, data, **kwargs)
        purged, last = stack.settle(last)
        return purged

    def cache(*paths: str) -> None:
        for page in paths:
            _cached(visitor, page)

    def refetched(page: str) -> bool:
        return visitor.fetch(page).headers["CF-Cache-Status"] != "HIT"

    # Upload: the new URLs (a 404 may be cached), and every page that lists images.
    cache("/gallery/", "/gallery/landscapes/", "/gallery/abstract/", "/random/")
    original = _png((200, 30, 30), "original")
    location = visitor.post(
        "/",
        {"title": "Smoke test", "folder": folders["Landscapes"], "is_public": "on"},
        files={"file": ("Smoke Test.png", original, "image/png")},
    )
    pk = int(location.rstrip("/").rsplit("/", 1)[1])
    purged, last = stack.settle(last)
    file_1 = "/media/images/landscapes/smoke-test.png"
    thumb_1 = "/media/thumbs/landscapes/smoke-test.jpg"
    own_tag, listing = f"cfpurge-o-gallery.image-{pk}", "cfpurge-l-gallery.image"
    assert purged.urls == {b + file_1, b + thumb_1}
    assert {own_tag, listing} <= purged.tags
    assert all(map(refetched, ("/gallery/", "/gallery/landscapes/", "/gallery/abstract/")))
    assert refetched("/random/")

    # Replace under the same name: same URLs, new bytes; the edge must drop the old ones,
    # and the pages showing the image, but not a gallery that does not show it.
    assert _cached(visitor, file_1) == original
    cache("/gallery/", "/gallery/landscapes/", "/gallery/abstract/")
    replacement = _png((30, 30, 200), "replacement")
    purged = act(
        f"/images/{pk}/replace/", files={"file": ("whatever.png", replacement, "image/png")}
    )
    assert purged.urls == {b + file_1, b + thumb_1}
    assert own_tag in purged.tags and listing not in purged.tags
    fresh = visitor.fetch(file_1)
    assert fresh.headers["CF-Cache-Status"] == "MISS"
    assert fresh.content == replacement
    assert refetched("/gallery/") and refetched("/gallery/landscapes/")
    assert not refetched("/gallery/abstract/")

    # Rename: old and new names of both files; the pages that show the title.
    gallery = _cached(visitor, "/gallery/landscapes/")
    assert b"Smoke test" in gallery
    purged = act(f"/images/{pk}/rename/", {"title": "Smoke renamed"})
    file_2 = "/media/images/landscapes/smoke-renamed.png"
    thumb_2 = "/media/thumbs/landscapes/smoke-renamed.jpg"
    assert purged.urls == {b + file_1, b + file_2, b + thumb_1, b + thumb_2}
    assert {own_tag, listing} <= purged.tags
    old = visitor.fetch(file_1)
    assert (old.status_code, old.headers["CF-Cache-Status"]) == (404, "DYNAMIC")
    page = visitor.fetch("/gallery/landscapes/")
    assert page.headers["CF-Cache-Status"] == "MISS"
    assert b"Smoke renamed" in page.content

    # Move: both paths, and both folders' pages.
    cache("/gallery/landscapes/", "/gallery/abstract/")
    purged = act(f"/images/{pk}/move/", {"folder": folders["Abstract"]})
    file_3 = "/media/images/abstract/smoke-renamed.png"
    thumb_3 = "/media/thumbs/abstract/smoke-renamed.jpg"
    assert purged.urls == {b + file_2, b + file_3, b + thumb_2, b + thumb_3}
    assert refetched("/gallery/landscapes/")
    moved = visitor.fetch("/gallery/abstract/")
    assert moved.headers["CF-Cache-Status"] == "MISS" and b"Smoke renamed" in moved.content

    for action in ("make-private", "make-public"):
        cache("/gallery/", "/gallery/abstract/")
        purged = act(f"/images/{pk}/{action}/")
        assert purged.urls == {b + file_3, b + thumb_3}
        assert {own_tag, listing} <= purged.tags
        assert refetched("/gallery/") and refetched("/gallery/abstract/")

    # Block: the edge held the bytes; after the purge it asks the origin, which says 404.
    assert _cached(visitor, file_3) == replacement
    assert f"{b}{file_3}" in stack.edge_keys()
    purged = act(f"/images/{pk}/block/")
    assert purged.urls == {b + file_3, b + thumb_3}
    assert f"{b}{file_3}" not in stack.edge_keys()
    blocked = visitor.fetch(file_3)
    assert blocked.status_code == 404
    assert blocked.headers["CF-Cache-Status"] != "HIT"
    assert blocked.content != replacement

    # Delete a blocked image: its files, and its tags (no page shows it any more).
    purged = act(f"/images/{pk}/delete/")
    assert purged.urls == {b + file_3, b + thumb_3}

    # The edge log page shows the purges, newest first.
    html = requests.get(f"{stack.origin}/edge-log/", timeout=10).text
    assert html.index(b + thumb_3) < html.index(b + thumb_1)
