"""The demo's fake CDN (``example_project/fakecdn``): the edge cache in front of an origin,
evicting what the fake Cloudflare API purges, the edge log page, and ``python -m fakecdn``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from django_cfpurge.testing.bunny_api import DEFAULT_ACCESS_KEY, DEFAULT_PULL_ZONE_ID, FakeBunny
from django_cfpurge.testing.cloudflare_api import (
    DEFAULT_ZONE_ID,
    FakeCloudflare,
    FakeCloudflareRemote,
)
from django_cfpurge.testing.cloudflare_images_api import (
    DEFAULT_ACCOUNT_ID,
    IMAGES_EDIT_TOKEN,
    FakeCloudflareImages,
)
from tests.test_fake_cloudflare import (
    NEW_TOKEN,
    OTHER_ACCOUNT,
    TIMEOUT,
    FakeClock,
    api_get,
    bearer,
    purge,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = REPO_ROOT / "example_project"
ZONE = DEFAULT_ZONE_ID
if str(EXAMPLE_PROJECT) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_PROJECT))

from fakecdn import page  # noqa: E402  (example_project is put on sys.path just above)
from fakecdn.edge import EdgeCache  # noqa: E402  (same)


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare(seed=1) as server:
        yield server


# -- edge log page -------------------------------------------------------------------


def test_html_edge_log_escapes_everything(fake: FakeCloudflare) -> None:
    nasty = "https://www.example.com/<script>alert(1)</script>?a=1&b=2"
    purge(fake, {"files": [nasty]})
    purge(fake, {"tags": ['"><img/src=x>']})
    page.install(fake)
    assert (
        requests.get(fake.base_url + "/", allow_redirects=False, timeout=TIMEOUT).headers[
            "Location"
        ]
        == "/__fake__/"
    )
    answer = requests.get(fake.control_url + "/", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<script>alert(1)" not in answer.text
    assert "<img/src=x>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;?a=1&amp;b=2" in answer.text
    assert "&quot;&gt;&lt;img/src=x&gt;" in answer.text
    # Newest first.
    assert answer.text.index("img/src") < answer.text.index("alert(1)")


# -- edge cache ----------------------------------------------------------------------


class Origin:
    """A tiny origin server that counts the requests it answers."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                body = f"{self.path} #{owner.hits[self.path]}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                if self.path.startswith("/page"):
                    self.send_header("Cache-Tag", "Page-Tag, common")
                elif self.path.startswith("/dir/"):
                    self.send_header("Cache-Tag", "dir,common")
                elif self.path == "/private":
                    self.send_header("Cache-Control", "private, max-age=60")
                elif self.path == "/nostore":
                    self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


class Edge:
    """A fake API with an edge cache attached, as ``python -m fakecdn`` runs them."""

    def __init__(self, fake: Any, cache: EdgeCache) -> None:
        self.fake = fake
        self.cache = cache
        cache.attach(fake)

    def fetch(self, path: str) -> requests.Response:
        return requests.get(self.cache.url + path, timeout=TIMEOUT)

    def status(self, path: str) -> str:
        return self.fetch(path).headers["CF-Cache-Status"]


@pytest.fixture
def edge(origin: Origin, fake: FakeCloudflare) -> Iterator[Edge]:
    with EdgeCache(origin.url) as cache:
        yield Edge(fake, cache)


def test_edge_miss_then_hit(edge: Edge, origin: Origin) -> None:
    first = edge.fetch("/page?x=1")
    assert first.headers["CF-Cache-Status"] == "MISS"
    assert "Cache-Tag" not in first.headers
    second = edge.fetch("/page?x=1")
    assert second.headers["CF-Cache-Status"] == "HIT"
    assert "Age" in second.headers
    assert second.text == first.text == "/page?x=1 #1"
    assert origin.hits["/page?x=1"] == 1
    # Another query string is another object.
    assert edge.status("/page?x=2") == "MISS"
    (entry, _) = edge.cache.entries()
    assert entry["key"] == f"http://127.0.0.1:{edge.cache.port}/page?x=1"
    assert entry["tags"] == ["common", "page-tag"]
    assert edge.cache.stats()["hit"] == 1
    # The fake serves the cache's state among its control routes.
    control = requests.get(edge.fake.control_url + "/edge", timeout=TIMEOUT).json()
    assert [e["key"] for e in control["entries"]] == [e["key"] for e in edge.cache.entries()]
    assert requests.get(edge.fake.control_url + "/health", timeout=TIMEOUT).json()["edge_url"] == (
        edge.cache.url
    )
    cleared = requests.post(edge.fake.control_url + "/edge/clear", json={}, timeout=TIMEOUT)
    assert cleared.json() == {"ok": True}
    assert edge.cache.entries() == []


def test_edge_honours_private_and_no_store(edge: Edge, origin: Origin) -> None:
    for path in ("/private", "/nostore"):
        assert [edge.status(path) for _ in range(2)] == ["BYPASS", "BYPASS"]
        assert origin.hits[path] == 2
    assert edge.cache.entries() == []


def test_edge_expires_entries(origin: Origin) -> None:
    clock = FakeClock()
    with EdgeCache(origin.url, default_ttl=60, clock=clock) as cache:
        url = cache.url + "/page"
        assert requests.get(url, timeout=TIMEOUT).headers["CF-Cache-Status"] == "MISS"
        clock.now += 59
        hit = requests.get(url, timeout=TIMEOUT)
        assert (hit.headers["CF-Cache-Status"], hit.headers["Age"]) == ("HIT", "59")
        clock.now += 1
        assert requests.get(url, timeout=TIMEOUT).headers["CF-Cache-Status"] == "EXPIRED"
        assert cache.stats() == {"hit": 1, "miss": 1, "expired": 1, "bypass": 0, "dynamic": 0}


PATHS = ("/page", "/page?v=2", "/dir/a", "/dir/b?v=1", "/other")


@pytest.mark.parametrize(
    ("make_body", "evicted"),
    [
        pytest.param(
            lambda base: {"files": [f"{base}/page?v=2", f"{base}/dir/a"]},
            {"/page?v=2", "/dir/a"},
            id="files",
        ),
        pytest.param(
            lambda base: {"files": [{"url": f"{base}/dir/a", "headers": {"CF-IPCountry": "US"}}]},
            {"/dir/a"},
            id="files-objects",
        ),
        pytest.param(
            lambda base: {"files": [f"{base}/page?v=3", f"{base}/dir"]}, set(), id="files-exact"
        ),
        pytest.param(
            lambda base: {"prefixes": [base.split("://")[1] + "/dir"]},
            {"/dir/a", "/dir/b?v=1"},
            id="prefixes",
        ),
        pytest.param(lambda base: {"tags": ["PAGE-TAG"]}, {"/page", "/page?v=2"}, id="tags"),
        pytest.param(lambda base: {"hosts": ["127.0.0.1"]}, set(PATHS), id="hosts"),
        pytest.param(lambda base: {"hosts": ["www.example.com"]}, set(), id="other-host"),
        pytest.param(lambda base: {"purge_everything": True}, set(PATHS), id="everything"),
    ],
)
def test_edge_purges_evict(
    edge: Edge, make_body: Callable[[str], dict[str, Any]], evicted: set[str]
) -> None:
    for path in PATHS:
        assert edge.status(path) == "MISS"
    assert purge(edge.fake, make_body(edge.cache.url)).status_code == 200
    after = {path: edge.status(path) for path in PATHS}
    assert {path for path, status in after.items() if status == "MISS"} == evicted
    assert {path for path, status in after.items() if status == "HIT"} == set(PATHS) - evicted
    assert edge.fake.purges()[0]["evicted"] == len(evicted)


def test_edge_public_host_and_zone_membership(origin: Origin, fake: FakeCloudflare) -> None:
    with EdgeCache(origin.url, public_host="www.example.com") as cache:
        edge = Edge(fake, cache)
        other = fake.add_zone("other.org", account_id=OTHER_ACCOUNT)
        assert edge.status("/page") == "MISS"
        assert [e["key"] for e in cache.entries()] == ["https://www.example.com/page"]
        # A purge of another zone never evicts this zone's objects.
        assert purge(fake, {"purge_everything": True}, zone=other.id).status_code == 200
        assert edge.status("/page") == "HIT"
        assert purge(fake, {"files": ["https://WWW.example.com:443/page"]}).status_code == 200
        assert edge.status("/page") == "MISS"
        assert origin.hits["/page"] == 2


def test_edge_evict_is_a_listener_for_any_api(origin: Origin) -> None:
    """What another fake API would call: kinds in the shared vocabulary, scoped by host."""
    with EdgeCache(origin.url, public_host="https://cdn.example.net") as cache:
        for path in PATHS:
            requests.get(cache.url + path, timeout=TIMEOUT)
        assert cache.evict("prefixes", ["cdn.example.net/dir"], lambda host: False) == 0
        assert cache.evict("prefixes", ["cdn.example.net/dir"], lambda host: True) == 2
        assert cache.evict("files", ["https://CDN.example.net/page"]) == 1
        assert cache.evict("everything", []) == 2
        with pytest.raises(ValueError, match="kind"):
            cache.evict("urls", [])


def test_edge_in_front_of_the_bunny_fake(origin: Origin) -> None:
    with (
        FakeBunny() as bunny,
        EdgeCache(origin.url, public_host="https://cdn.example.com") as cache,
    ):
        edge = Edge(bunny, cache)
        for path in PATHS:
            assert edge.status(path) == "MISS"
        key = {"AccessKey": DEFAULT_ACCESS_KEY}
        requests.post(
            f"{bunny.api_url}/purge",
            params={"url": "https://cdn.example.com/dir/"},
            headers=key,
            timeout=TIMEOUT,
        )
        requests.post(
            f"{bunny.api_url}/pullzone/{DEFAULT_PULL_ZONE_ID}/purgeCache",
            json={"CacheTag": "PAGE-TAG"},
            headers=key,
            timeout=TIMEOUT,
        )
        after = {path: edge.status(path) for path in PATHS}
        assert {p for p, status in after.items() if status == "MISS"} == {
            "/dir/a",
            "/dir/b?v=1",
            "/page",
            "/page?v=2",
        }
        assert [p["evicted"] for p in bunny.purges()] == [2, 2]


def test_edge_in_front_of_imagedelivery(origin: Origin) -> None:
    with (
        FakeCloudflareImages() as images,
        EdgeCache(origin.url, public_host="https://imagedelivery.net") as cache,
    ):
        cache.attach(images)
        token = {"Authorization": f"Bearer {IMAGES_EDIT_TOKEN}"}
        uploaded = requests.post(
            f"{images.api_url}/accounts/{DEFAULT_ACCOUNT_ID}/images/v1",
            files={"url": (None, "https://www.example.com/cat.jpg")},
            headers=token,
            timeout=TIMEOUT,
        ).json()["result"]
        path = urlsplit(uploaded["variants"][0]).path
        assert requests.get(cache.url + path, timeout=TIMEOUT).headers["CF-Cache-Status"] == "MISS"
        assert requests.get(cache.url + path, timeout=TIMEOUT).headers["CF-Cache-Status"] == "HIT"
        requests.delete(
            f"{images.api_url}/accounts/{DEFAULT_ACCOUNT_ID}/images/v1/{uploaded['id']}",
            headers=token,
            timeout=TIMEOUT,
        )
        assert requests.get(cache.url + path, timeout=TIMEOUT).headers["CF-Cache-Status"] == "MISS"
        assert images.deletes()[0]["evicted"] == 1


def test_edge_origin_down() -> None:
    with EdgeCache("http://127.0.0.1:9") as cache:
        response = requests.get(cache.url + "/x", timeout=TIMEOUT)
        assert response.status_code in (502, 521)
        assert response.headers["CF-Cache-Status"] == "DYNAMIC"


# -- command line --------------------------------------------------------------------


def test_cli_subprocess(tmp_path: Path, origin: Origin) -> None:
    ready_file = tmp_path / "ready.json"
    config_file = tmp_path / "fake.json"
    config_file.write_text(
        json.dumps(
            {
                "zones": [
                    {"id": ZONE, "name": "example.com"},
                    {"name": "cfg.example.org", "plan": "pro"},
                ],
                "faults": {"latency": 0},
                "global_limit": 1000,
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakecdn",
            "--port",
            "0",
            "--edge-port",
            "0",
            "--origin",
            origin.url,
            "--public-host",
            "www.example.com",
            "--ready-file",
            str(ready_file),
            "--plan",
            "enterprise",
            "--seed",
            "5",
            "--config",
            str(config_file),
        ],
        cwd=EXAMPLE_PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready_file.exists():
            if process.poll() is not None:
                pytest.fail(
                    f"the fake exited early: {process.stderr.read() if process.stderr else ''}"
                )
            assert time.monotonic() < deadline, "the fake did not write its ready file"
            time.sleep(0.05)
        ready = json.loads(ready_file.read_text())
        assert ready["port"] > 0
        remote = FakeCloudflareRemote.from_ready_file(ready_file)
        assert remote.wait_until_ready()["api_url"] == remote.api_url == ready["api_url"]
        assert process.stdout is not None
        assert remote.api_url in process.stdout.readline()

        zone = api_get(remote, f"/zones/{ZONE}").json()["result"]
        assert zone["plan"]["legacy_id"] == "enterprise"
        config = remote.config()
        assert config["global_limit"] == 1000
        assert {z["name"]: z["plan"] for z in config["zones"]} == {
            "example.com": "enterprise",
            "cfg.example.org": "pro",
        }
        url = "https://www.example.com/media/a.jpg"
        assert purge(remote, {"files": [url]}).status_code == 200
        assert remote.purged_urls() == [url]

        # The edge in front of the origin: cached, then evicted by a purge.
        assert remote.health()["edge_url"] == ready["edge_url"]
        page_url = ready["edge_url"] + "/page"
        assert requests.get(page_url, timeout=TIMEOUT).headers["CF-Cache-Status"] == "MISS"
        assert requests.get(page_url, timeout=TIMEOUT).headers["CF-Cache-Status"] == "HIT"
        assert purge(remote, {"files": ["https://www.example.com/page"]}).ok
        assert requests.get(page_url, timeout=TIMEOUT).headers["CF-Cache-Status"] == "MISS"
        log = requests.get(remote.control_url + "/", timeout=TIMEOUT)
        assert log.headers["Content-Type"].startswith("text/html")
        assert "https://www.example.com/page" in log.text

        remote.set_faults(fail_next=[503])
        assert purge(remote, {"tags": ["a"]}).status_code == 503
        added = remote.add_zone("cli.example.org", plan="pro")
        remote.add_token(NEW_TOKEN, purge_zones=[added["id"]])
        assert purge(remote, {"tags": ["b"]}, zone=added["id"], headers=bearer(NEW_TOKEN)).ok
        assert remote.purged_tags(zone=added["id"]) == ["b"]
        assert [r["status"] for r in remote.requests(route="purge")] == [200, 200, 503, 200]
        remote.reset()
        assert remote.purges() == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
    assert not ready_file.exists()
