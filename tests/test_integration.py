"""Real processes end to end: web-like scenario processes, Celery workers, Redis, PostgreSQL.

A scenario process (``tests/integration/scenario.py``) changes ``testapp.Photo`` objects
through the ORM as a site would; Celery worker processes, on a real Redis broker, drain the
outbox in a real PostgreSQL database and purge through the fake Cloudflare API, which runs
in this process and records every request. Each test compares the exact set of URLs that
reached the fake with the URLs the change must purge.

The figures of the big runs (here and in ``tests/test_faults.py``) are written to
``tests/artifacts/integration-figures.json``, keyed by test, and shown in pytest's
terminal summary.

This module also holds the harness shared with ``tests/test_faults.py``. It never imports
``tests.integration`` (that package creates a Celery app, which would become the current
app of the whole test session).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.testing.cloudflare_api import (
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_ID,
    DEFAULT_ZONE_ID,
    FakeCloudflare,
)
from tests.cfapi import validate_request
from tests.procs import (
    REPO_ROOT,
    CeleryWorker,
    PostgresServer,
    RedisServer,
    integration_env,
    run_django,
    wait_for,
)

pytestmark = pytest.mark.slow

ORIGIN = "https://www.example.com"
MEDIA_URL = "/media/"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
#: Items per purge call (``CFPURGE["MAX_ITEMS_PER_REQUEST"]``).
BATCH = 30
#: Redis logical databases: the broker, the Django cache (rate limiter, dispatch marker),
#: and a broker nobody consumes (changes committed while no worker runs).
BROKER_DB, CACHE_DB, NOWHERE_DB = 0, 1, 2

#: How every process registers ``testapp.Photo`` (see ``tests/integration/photos.py``).
PHOTO_REGISTRATION = {
    "fields": ["image"],
    "watch": ["is_public", "folder"],
    "urls": "tests.integration.photos.gallery_urls",
}
STORAGES = {
    "default": {"BACKEND": "tests.integration.photos.OverwriteStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
#: ``CFPURGE`` settings of every process; tests add to them.
BASE_CFPURGE: dict[str, Any] = {
    "ZONE_ID": DEFAULT_ZONE_ID,
    "API_TOKEN": DEFAULT_TOKEN,
    "HOSTNAMES": [".example.com"],
    "PLAN": "free",
    "BASE_URLS": [ORIGIN],
    "MODELS": {"testapp.Photo": PHOTO_REGISTRATION},
    "MAX_ITEMS_PER_REQUEST": BATCH,
    "TIMEOUT": 10.0,
    "CONNECT_TIMEOUT": 5.0,
    "RETRY_BASE_SECONDS": 0.2,
    "RETRY_MAX_SECONDS": 2.0,
    "MAX_ATTEMPTS": 50,
    "CLAIM_BATCH_SIZE": 150,
    "CLAIM_LEASE_SECONDS": 60,
}


# -- expected URLs ---------------------------------------------------------------------------


def file_url(name: str) -> str:
    """Public URL of a stored file name (the tests use ASCII names: nothing to encode)."""
    return f"{ORIGIN}{MEDIA_URL}{name}"


def photo_page(pk: int) -> str:
    return f"{ORIGIN}/gallery/photo/{pk}/"


def folder_page(folder_id: int) -> str:
    return f"{ORIGIN}/gallery/folder/{folder_id}/"


def photo_urls(
    pk: int, names: Iterable[str | None], folders: Iterable[int | None] = ()
) -> set[str]:
    """What a change to photo ``pk`` must purge: its files, its page, its folders' pages."""
    urls = {file_url(name) for name in names if name}
    urls.add(photo_page(pk))
    urls |= {folder_page(f) for f in folders if f is not None}
    return urls


# -- figures -------------------------------------------------------------------------------


class FiguresReporter:
    """Collects the figures of the big tests and shows them in pytest's terminal summary."""

    name = "cfpurge-integration-figures"

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.entries:
            return
        terminalreporter.section("django-cfpurge integration figures")
        for test, figures in self.entries:
            terminalreporter.write_line(f"{test}:")
            for key, value in figures.items():
                terminalreporter.write_line(f"    {key}: {json.dumps(value)}")


def report_figures(request: pytest.FixtureRequest, filename: str, figures: dict[str, Any]) -> None:
    """Write ``figures`` to ``tests/artifacts/FILENAME`` (keyed by test) and show them."""
    test = request.node.name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / filename
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data[test] = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **figures}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for key, value in figures.items():
        request.node.user_properties.append((key, value))
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin(FiguresReporter.name)
    if reporter is None:
        reporter = FiguresReporter()
        plugins.register(reporter, FiguresReporter.name)
    reporter.entries.append((test, figures))


# -- the fake's record -----------------------------------------------------------------------


@dataclass
class Record:
    """What the fake Cloudflare saw, read once."""

    requests: list[dict[str, Any]]
    purges: list[dict[str, Any]]

    @classmethod
    def read(cls, fake: FakeCloudflare, since: Record | None = None) -> Record:
        requests = fake.requests(route="purge")
        purges = fake.purges(kind="files")
        if since is not None:
            seen_requests = {r["id"] for r in since.requests}
            seen_purges = {p["id"] for p in since.purges}
            requests = [r for r in requests if r["id"] not in seen_requests]
            purges = [p for p in purges if p["id"] not in seen_purges]
        return cls(requests, purges)

    @property
    def urls(self) -> list[str]:
        """Every purged URL, once per time it was purged."""
        return [
            item if isinstance(item, str) else item["url"]
            for p in self.purges
            for item in p["items"]
        ]

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.urls)

    @property
    def duplicates(self) -> int:
        """Purges of a URL beyond its first."""
        return sum(n - 1 for n in self.counts.values())

    def statuses(self) -> Counter[str]:
        """Answers by status (``dropped`` for closed connections)."""
        return Counter(
            "dropped" if r["status"] is None else str(r["status"]) for r in self.requests
        )

    def faults(self) -> Counter[str]:
        return Counter(str(r["fault"]) for r in self.requests if r["fault"])

    def peak_urls_per_second(self) -> int:
        """Most URLs purged within any one second (sliding over the purge times)."""
        times = sorted((p["timestamp"], len(p["items"])) for p in self.purges)
        best = start = total = 0
        for end in range(len(times)):
            total += times[end][1]
            while times[end][0] - times[start][0] >= 1.0:
                total -= times[start][1]
                start += 1
            best = max(best, total)
        return best

    def validate(self, tokens: Mapping[str, str]) -> int:
        """Check every recorded purge request against the Cloudflare API contract.

        The fake records the method, path, headers and body but never a credential, only
        its kind and id: the Authorization header is put back from ``tokens`` (id → value).
        A request the fake failed on purpose (503, dropped connection) is answered before
        its credentials are read, so its record has none: those are checked with the first
        token of ``tokens`` (every process of these tests sends one).
        Returns the number of requests checked.
        """
        fallback = next(iter(tokens.values()))
        for record in self.requests:
            headers = dict(record["headers"])
            if record["fault"] and record["auth"] == "none":
                headers["Authorization"] = f"Bearer {fallback}"
            else:
                assert record["auth"] == "token", record
                headers["Authorization"] = f"Bearer {tokens[record['credential']]}"
            body = json.dumps(record["body"]).encode()
            validate_request(record["method"], f"http://127.0.0.1{record['path']}", headers, body)
        return len(self.requests)


# -- the stack -------------------------------------------------------------------------------


@dataclass
class Scenario:
    """A scenario process started by :meth:`Stack.start_scenario`."""

    args: tuple[str, ...]
    popen: subprocess.Popen[str]

    def result(self, timeout: float = 300.0) -> dict[str, Any]:
        """Wait for the process; return its JSON answer (its stderr under ``"stderr"``).

        :raises AssertionError: if it exits non-zero (its output is in the message).
        """
        try:
            stdout, stderr = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            stdout, stderr = self.popen.communicate()
            raise AssertionError(
                f"scenario {' '.join(self.args)} still running after {timeout} s:\n{stderr[-6000:]}"
            ) from None
        assert self.popen.returncode == 0, (
            f"scenario {' '.join(self.args)} exited with {self.popen.returncode}:\n"
            f"{stdout[-3000:]}\n{stderr[-6000:]}"
        )
        answer: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        answer["stderr"] = stderr
        return answer


@dataclass
class Stack:
    """One database, the Redis server, the fake Cloudflare, and how to start processes."""

    database_url: str
    redis: RedisServer
    fake: FakeCloudflare
    tmp: Path
    cfpurge: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def env(
        self, *, broker_db: int = BROKER_DB, coalesce: float | None = None, **cfpurge: Any
    ) -> dict[str, str]:
        """The ``CFPURGE_IT_*`` variables of a process of this stack."""
        settings = {
            "CFPURGE": {**BASE_CFPURGE, "API_URL": self.fake.api_url, **self.cfpurge, **cfpurge},
            "STORAGES": STORAGES,
            "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
            **self.settings,
        }
        env = {
            "CFPURGE_IT_DATABASE_URL": self.database_url,
            "CFPURGE_IT_BROKER_URL": self.redis.url_for(broker_db),
            "CFPURGE_IT_CACHE_URL": self.redis.url_for(CACHE_DB),
            "CFPURGE_IT_API_URL": self.fake.api_url,
            "CFPURGE_IT_TMPDIR": str(self.tmp),
            "CFPURGE_IT_SETTINGS": json.dumps(settings),
        }
        if coalesce is not None:
            env["CFPURGE_IT_COALESCE"] = str(coalesce)
        return env

    def start_scenario(self, *args: str, env: Mapping[str, str] | None = None) -> Scenario:
        """Start ``python -m tests.integration.scenario ARGS`` in the background."""
        popen = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.scenario", *args],
            env=integration_env(env if env is not None else self.env()),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Scenario(args, popen)

    def scenario(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300.0
    ) -> dict[str, Any]:
        """Run ``python -m tests.integration.scenario ARGS``; return its JSON answer."""
        return self.start_scenario(*args, env=env).result(timeout)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.database_url, connect_timeout=10) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def outbox(self) -> dict[str, int]:
        """Outbox rows by status; changes recorded but not yet taken by a worker count as
        pending."""
        rows = self.query(
            "SELECT status, count(*) FROM django_cfpurge_purgerequest GROUP BY status "
            "UNION ALL SELECT 'pending', count(*) FROM django_cfpurge_purgechange"
        )
        counts: Counter[str] = Counter()
        for status, count in rows:
            counts[str(status)] += int(count)
        return {status: count for status, count in counts.items() if count}

    def wait_drained(
        self, timeout: float = 120.0, *, expect_rows: int | None = None
    ) -> dict[str, int]:
        """Wait until no row is pending or held (and at least ``expect_rows`` rows exist)."""

        def drained() -> dict[str, int] | None:
            counts = self.outbox()
            if counts.get("pending", 0) or counts.get("held", 0):
                return None
            if expect_rows is not None and sum(counts.values()) < expect_rows:
                return None
            return counts or {"empty": 0}

        return wait_for(drained, timeout, 0.2, description="the outbox to be drained")


def migrated_database(postgres_server: PostgresServer, tmp: Path) -> str:
    """Create a database on ``postgres_server``, migrate it, and return its URL."""
    url = postgres_server.create_database()
    url_env = {"CFPURGE_IT_DATABASE_URL": url, "CFPURGE_IT_TMPDIR": str(tmp)}
    run_django("migrate", "--noinput", env=url_env)
    return url


@pytest.fixture(scope="module")
def module_database(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return migrated_database(postgres_server, tmp_path_factory.mktemp("it-db"))


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare(seed=7) as fake:
        yield fake


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("it-site")


@pytest.fixture
def stack(
    module_database: str, redis_server: RedisServer, module_fake: FakeCloudflare, module_tmp: Path
) -> Iterator[Stack]:
    """A stack shared by the small tests of this module: they touch objects of their own."""
    redis_server.flushall()
    module_fake.reset()
    tokens = {DEFAULT_TOKEN_ID: DEFAULT_TOKEN}
    stack = Stack(module_database, redis_server, module_fake, module_tmp, tokens=tokens)
    yield stack
    stack.wait_drained(timeout=60)


@pytest.fixture
def worker(stack: Stack, celery_worker_factory: Callable[..., CeleryWorker]) -> CeleryWorker:
    return celery_worker_factory(stack.env(), name="it-worker")


# -- worker logs -----------------------------------------------------------------------------

_TASK_DONE = re.compile(r"Task django_cfpurge\.drain\[[^\]]+\] succeeded in [0-9.]+s: (\{.*\})")


def drained_by(worker: CeleryWorker) -> dict[str, int]:
    """Sum of the drain reports a worker logged (rows claimed, done, API calls...)."""
    totals: Counter[str] = Counter()
    for match in _TASK_DONE.finditer(worker.log()):
        text = match.group(1)
        for key in ("passes", "claimed", "done", "failed", "retried", "waiting", "api_calls"):
            found = re.search(rf"'{key}': (\d+)", text)
            if found:
                totals[key] += int(found.group(1))
        totals["tasks"] += 1
    return dict(totals)


# -- one change at a time ----------------------------------------------------------------------


def _created(stack: Stack, name: str, folder: str | None = None) -> dict[str, Any]:
    args = ["create", "--name", name]
    if folder:
        args += ["--folder", folder]
    facts = stack.scenario(*args)
    stack.wait_drained()
    return facts


def _purged_by(stack: Stack, step: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Record]:
    """Run ``step`` (a scenario), wait for the drain, return its answer and what it purged."""
    before = Record.read(stack.fake)
    facts = step()
    stack.wait_drained()
    record = Record.read(stack.fake, since=before)
    record.validate(stack.tokens)
    return facts, record


def test_create_purges_the_new_file_page_and_folder(stack: Stack, worker: CeleryWorker) -> None:
    facts, record = _purged_by(
        stack, lambda: stack.scenario("create", "--name", "create-cat.jpg", "--folder", "create")
    )
    assert facts["name"] == "photos/create-cat.jpg"
    assert record.counts == Counter(
        {
            file_url("photos/create-cat.jpg"): 1,
            photo_page(facts["pk"]): 1,
            folder_page(facts["folder"]): 1,
        }
    )
    assert len(record.purges) == 1


def test_replace_purges_old_and_new_file(stack: Stack, worker: CeleryWorker) -> None:
    photo = _created(stack, "replace-cat.jpg", folder="replace")
    facts, record = _purged_by(
        stack, lambda: stack.scenario("replace", "--pk", str(photo["pk"]), "--name", "dog.jpg")
    )
    assert facts["old"] == "photos/replace-cat.jpg"
    assert facts["new"] == "photos/dog.jpg"
    assert set(record.urls) == photo_urls(
        photo["pk"], ["photos/replace-cat.jpg", "photos/dog.jpg"], [photo["folder"]]
    )
    assert record.duplicates == 0


def test_same_name_overwrite_purges_that_url(stack: Stack, worker: CeleryWorker) -> None:
    photo = _created(stack, "overwrite-cat.jpg", folder="overwrite")
    facts, record = _purged_by(stack, lambda: stack.scenario("overwrite", "--pk", str(photo["pk"])))
    assert facts["name"] == facts["old"] == "photos/overwrite-cat.jpg"
    assert set(record.urls) == photo_urls(
        photo["pk"], ["photos/overwrite-cat.jpg"], [photo["folder"]]
    )
    assert record.duplicates == 0
    assert stack.query(
        "SELECT event FROM django_cfpurge_purgerequest WHERE object_pk = %s ORDER BY id",
        str(photo["pk"]),
    ) == [("created",), ("overwritten",)]


def test_rename_purges_old_and_new_path(stack: Stack, worker: CeleryWorker) -> None:
    photo = _created(stack, "rename-cat.jpg")
    facts, record = _purged_by(
        stack,
        lambda: stack.scenario(
            "rename", "--pk", str(photo["pk"]), "--to", "photos/archive/rename-cat.jpg"
        ),
    )
    assert facts["new"] == "photos/archive/rename-cat.jpg"
    assert set(record.urls) == photo_urls(
        photo["pk"], ["photos/rename-cat.jpg", "photos/archive/rename-cat.jpg"]
    )
    assert record.duplicates == 0


def test_delete_purges_every_url_the_photo_had(stack: Stack, worker: CeleryWorker) -> None:
    photo = _created(stack, "delete-cat.jpg", folder="delete")
    _facts, record = _purged_by(stack, lambda: stack.scenario("delete", "--pk", str(photo["pk"])))
    assert set(record.urls) == photo_urls(photo["pk"], ["photos/delete-cat.jpg"], [photo["folder"]])
    assert record.duplicates == 0


def test_watched_field_changes_purge_and_other_fields_do_not(
    stack: Stack, worker: CeleryWorker
) -> None:
    photo = _created(stack, "watch-cat.jpg", folder="watch-a")
    pk, name = str(photo["pk"]), "photos/watch-cat.jpg"

    _facts, blocked = _purged_by(stack, lambda: stack.scenario("block", "--pk", pk))
    assert set(blocked.urls) == photo_urls(photo["pk"], [name], [photo["folder"]])

    moved, record = _purged_by(
        stack, lambda: stack.scenario("move", "--pk", pk, "--folder", "watch-b")
    )
    assert moved["old_folder"] == photo["folder"] != moved["folder"]
    assert set(record.urls) == photo_urls(photo["pk"], [name], [photo["folder"], moved["folder"]])

    rows_before = sum(stack.outbox().values())
    _facts, untouched = _purged_by(stack, lambda: stack.scenario("touch", "--pk", pk))
    # Nothing watched changed: no outbox row, so nothing can ever be purged for it.
    assert sum(stack.outbox().values()) == rows_before
    assert untouched.urls == []


def test_rollback_purges_nothing(stack: Stack, worker: CeleryWorker) -> None:
    photo = _created(stack, "rollback-cat.jpg")
    rows_before = sum(stack.outbox().values())
    before = Record.read(stack.fake)

    answer = stack.scenario("rollback", "--pk", str(photo["pk"]), "--name", "rollback-new.jpg")
    assert answer["committed"] is False
    assert answer["exists"] is True
    assert answer["attempted"]["created"]["pk"]
    assert sum(stack.outbox().values()) == rows_before

    # A committed change afterwards is the barrier: once it is purged, a purge of the
    # rolled-back changes would have been sent already if anything had been recorded.
    barrier = stack.scenario("create", "--name", "rollback-barrier.jpg")
    stack.wait_drained()
    record = Record.read(stack.fake, since=before)
    record.validate(stack.tokens)
    assert set(record.urls) == photo_urls(barrier["pk"], [barrier["name"]])


def test_burst_of_saves_purges_the_urls_once(stack: Stack, worker: CeleryWorker) -> None:
    photo = _created(stack, "burst-cat.jpg")
    # Every save of the burst commits within the coalescing window: one drain, one purge.
    coalesce = 5.0
    answer, record = _purged_by(
        stack,
        lambda: stack.scenario(
            "burst", "--pk", str(photo["pk"]), "--count", "100", env=stack.env(coalesce=coalesce)
        ),
    )
    rows = stack.query(
        "SELECT status, count(*) FROM django_cfpurge_purgerequest "
        "WHERE object_pk = %s AND event = 'changed' GROUP BY status",
        str(photo["pk"]),
    )
    assert rows == [("done", 100)]
    assert record.counts == Counter(
        {file_url("photos/burst-cat.jpg"): 1, photo_page(photo["pk"]): 1}
    ), f"100 saves in {answer['seconds']:.2f} s, coalescing window {coalesce} s"
    assert len(record.requests) == 1


# -- two workers, 5,000 rows -----------------------------------------------------------------


@pytest.fixture
def fresh_stack(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Stack]:
    """A stack of its own: new database, new fake (free plan, real rate limits), empty Redis."""
    redis_server.flushall()
    database = migrated_database(postgres_server, tmp_path)
    with FakeCloudflare(seed=11) as fake:
        yield Stack(
            database, redis_server, fake, tmp_path, tokens={DEFAULT_TOKEN_ID: DEFAULT_TOKEN}
        )


def test_two_workers_drain_5000_rows_each_url_once_without_429(
    request: pytest.FixtureRequest,
    fresh_stack: Stack,
    celery_worker_factory: Callable[..., CeleryWorker],
) -> None:
    stack, count = fresh_stack, 5000
    # Written while no worker runs: the drains they dispatch go to a queue nobody reads,
    # so every row is committed before the first claim and the batches are full.
    started = time.monotonic()
    bulk = stack.scenario(
        "bulk", "--count", str(count), "--transactions", "5", "--prefix", "steady",
        env=stack.env(broker_db=NOWHERE_DB),
    )  # fmt: skip
    written = time.monotonic() - started
    assert len(bulk["photos"]) == count
    assert stack.outbox() == {"pending": count}
    expected: set[str] = set()
    for pk, name in bulk["photos"]:
        expected |= photo_urls(pk, [name])
    assert len(expected) == 2 * count

    workers = [celery_worker_factory(stack.env(), name=f"steady{i}") for i in (1, 2)]
    started = time.monotonic()
    stack.scenario("kick", "--drains", "2")
    final = stack.wait_drained(timeout=300, expect_rows=count)
    elapsed = time.monotonic() - started

    record = Record.read(stack.fake)
    counts = record.counts
    statuses = record.statuses()
    per_worker = {w.name: drained_by(w) for w in workers}
    ideal_calls = math.ceil(len(expected) / BATCH)
    figures = {
        "rows": count,
        "urls_expected": len(expected),
        "urls_received": len(record.urls),
        "distinct_urls_received": len(counts),
        "duplicates": record.duplicates,
        "api_calls": len(record.requests),
        "api_calls_ideal": ideal_calls,
        "answers": dict(statuses),
        "http_429": statuses.get("429", 0),
        "peak_urls_per_second": record.peak_urls_per_second(),
        "mean_urls_per_second": round(len(record.urls) / elapsed, 1),
        "per_worker": per_worker,
        "outbox": final,
        "write_seconds": round(written, 1),
        "drain_seconds": round(elapsed, 1),
    }
    report_figures(request, "integration-figures.json", figures)

    assert record.validate(stack.tokens) == ideal_calls
    assert final == {"done": count}
    assert set(counts) == expected
    assert record.duplicates == 0, [u for u, n in counts.items() if n > 1][:10]
    assert len(record.requests) == len(record.purges) == ideal_calls
    assert statuses == Counter({"200": ideal_calls})
    for name, totals in per_worker.items():
        assert totals.get("claimed", 0) > 0, f"{name} drained nothing: {per_worker}"
