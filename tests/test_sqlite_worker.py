"""SQLite with a worker of several threads: claims and writes take the write lock up front
(or wait for it), so the worker logs no "database is locked" task failure while the site
keeps writing — with Django's default SQLite settings, not only with the advised
``"transaction_mode": "IMMEDIATE"``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from django_cfpurge.testing.cloudflare_api import (
    DEFAULT_TOKEN,
    DEFAULT_ZONE_ID,
    FakeCloudflare,
)
from tests.procs import (
    REPO_ROOT,
    CeleryWorker,
    RedisServer,
    integration_env,
    run_django,
    wait_for,
)

pytestmark = pytest.mark.slow

CFPURGE = {
    "ZONE_ID": DEFAULT_ZONE_ID,
    "API_TOKEN": DEFAULT_TOKEN,
    "HOSTNAMES": [".example.com"],
    "PLAN": "enterprise",
    "BASE_URLS": ["https://www.example.com"],
    "MODELS": {"testapp.Photo": {"fields": ["image"], "watch": ["is_public"]}},
    "CLAIM_BATCH_SIZE": 50,
}


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare(
        zones=[{"id": DEFAULT_ZONE_ID, "name": "example.com", "plan": "enterprise"}]
    ) as server:
        yield server


def env_for(tmp: Path, fake: FakeCloudflare, redis: RedisServer, options: dict) -> dict[str, str]:
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp / "site.sqlite3")}
    database["OPTIONS"] = {"timeout": 30, **options}
    settings = {"CFPURGE": {**CFPURGE, "API_URL": fake.api_url}, "DATABASES": {"default": database}}
    return {
        "CFPURGE_IT_DATABASE_URL": f"sqlite:///{tmp / 'site.sqlite3'}",
        "CFPURGE_IT_BROKER_URL": redis.url_for(0),
        "CFPURGE_IT_CACHE_URL": redis.url_for(1),
        "CFPURGE_IT_API_URL": fake.api_url,
        "CFPURGE_IT_TMPDIR": str(tmp),
        "CFPURGE_IT_COALESCE": "0.05",
        "CFPURGE_IT_SETTINGS": json.dumps(settings),
    }


def statuses(database: Path) -> dict[str, int]:
    with sqlite3.connect(database, timeout=30) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM django_cfpurge_purgerequest GROUP BY status "
            "UNION ALL SELECT 'recorded', count(*) FROM django_cfpurge_purgechange"
        ).fetchall()
    return {status: count for status, count in rows if count}


def scenario(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.scenario", *args],
        env=integration_env(env),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    "options", [{}, {"transaction_mode": "IMMEDIATE"}], ids=["default", "immediate"]
)
def test_a_threaded_worker_on_sqlite_logs_no_lock_error(
    tmp_path: Path,
    fake: FakeCloudflare,
    redis_server: RedisServer,
    celery_worker_factory: Callable[..., CeleryWorker],
    options: dict,
) -> None:
    redis_server.flushall()
    env = env_for(tmp_path, fake, redis_server, options)
    run_django("migrate", "--noinput", env=env)
    worker = celery_worker_factory(env, concurrency=4, pool="threads", name="sqlite")
    # Three processes write while the worker's four threads claim, record and ingest.
    writers = [
        scenario(env, "bulk", "--count", "400", "--transactions", "40", "--prefix", f"w{i}")
        for i in range(3)
    ]
    for writer in writers:
        _stdout, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr[-3000:]
    database = tmp_path / "site.sqlite3"
    wait_for(
        lambda: statuses(database) == {"done": 1200},
        timeout=300,
        interval=0.5,
        description="every change purged",
    )
    log = worker.log()
    assert "database is locked" not in log
    assert "raised unexpected" not in log and "ERROR/" not in log
    assert len(set(fake.purged_urls())) == 1200
