"""The real-process fixtures of ``tests/procs.py`` start what they promise."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import environ
import pytest

from tests.procs import (
    REPO_ROOT,
    CeleryWorker,
    PostgresServer,
    RedisServer,
    free_port,
    integration_env,
    port_open,
    wait_for,
)

pytestmark = pytest.mark.slow

# The modules AppConfig.ready() imports; until they all exist no process can set Django up.
_APP_INCOMPLETE = [
    name
    for name in ("checks", "receivers", "registry")
    if importlib.util.find_spec(f"django_cfpurge.{name}") is None
]
needs_complete_app = pytest.mark.xfail(
    bool(_APP_INCOMPLETE),
    reason=f"django_cfpurge.apps.ready() imports modules not written yet: {_APP_INCOMPLETE}",
    strict=False,
)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_for_returns_the_first_truthy_value() -> None:
    values = iter([0, None, "ready"])
    assert wait_for(lambda: next(values), timeout=5, interval=0) == "ready"
    with pytest.raises(TimeoutError, match="the flag"):
        wait_for(lambda: False, timeout=0.05, description="the flag")


def test_integration_env_drops_cloudflare_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFPURGE_API_TOKEN", "real-looking-token")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "real-looking-token")
    env = integration_env({"CFPURGE_IT_COALESCE": "0"})
    assert "CFPURGE_API_TOKEN" not in env
    assert "CLOUDFLARE_API_TOKEN" not in env
    assert env["DJANGO_SETTINGS_MODULE"] == "tests.integration.settings"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)
    assert env["CFPURGE_IT_COALESCE"] == "0"


def test_redis_answers_ping_and_restarts_on_the_same_port(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    assert client.ping()
    client.set("cfpurge:probe", "1")
    port = redis_server.port

    redis_server.stop()
    try:
        assert not port_open(port)
        with pytest.raises(redis.exceptions.ConnectionError):
            client.ping()
    finally:
        redis_server.start()

    assert redis_server.port == port
    assert client.ping()
    # Started without persistence: a restart is an empty server.
    assert client.get("cfpurge:probe") is None


def test_postgres_creates_databases_that_accept_queries(postgres_server: PostgresServer) -> None:
    import psycopg

    url = postgres_server.create_database("cfpurge_procs_check")
    assert url == postgres_server.url_for("cfpurge_procs_check")
    with psycopg.connect(url, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.dbname == "cfpurge_procs_check"

    unnamed = postgres_server.create_database()
    assert unnamed != url
    config = environ.Env.db_url_config(unnamed)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["PORT"] == postgres_server.port


def test_celery_app_loads_with_the_integration_settings(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = integration_env(
        {"CFPURGE_IT_BROKER_URL": redis_server.url, "CFPURGE_IT_TMPDIR": str(tmp_path)}
    )
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.integration.celery_app", "report"],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "transport:redis" in result.stdout


@needs_complete_app
def test_django_sets_up_with_the_integration_settings(tmp_path: Path) -> None:
    code = (
        "import django; django.setup();"
        "from tests.integration import celery_app;"
        "celery_app.loader.import_default_modules();"
        "print(celery_app.main)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=integration_env({"CFPURGE_IT_TMPDIR": str(tmp_path)}),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "cfpurge_it"


def _group_alive(pgid: int) -> bool:
    # Zombies left for init to reap do not count: they run nothing.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@needs_complete_app
def test_celery_worker_starts_and_sigkill_takes_its_pool_down(
    redis_server: RedisServer, celery_worker_factory, tmp_path: Path
) -> None:
    env = {"CFPURGE_IT_BROKER_URL": redis_server.url, "CFPURGE_IT_TMPDIR": str(tmp_path)}
    worker: CeleryWorker = celery_worker_factory(env, concurrency=2, name="procs")
    assert "procs@" in worker.log()
    assert "prefork" in worker.log()

    worker.kill(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: not _group_alive(worker.pid), timeout=30, description="the pool to die")


@needs_complete_app
def test_celery_worker_shuts_down_warm(
    redis_server: RedisServer, celery_worker_factory, tmp_path: Path
) -> None:
    env = {"CFPURGE_IT_BROKER_URL": redis_server.url, "CFPURGE_IT_TMPDIR": str(tmp_path)}
    worker: CeleryWorker = celery_worker_factory(env)
    assert worker.stop() == 0
    assert "Warm shutdown" in worker.log()
