"""Run django-cfpurge's benchmarks and write ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/run.py [--quick] [--out docs/benchmarks.md]

Starts a throwaway PostgreSQL cluster and a Redis server (as the slow tests do, see
``tests/procs.py``), runs the in-process sections (``bench/inproc.py``) on SQLite and on
PostgreSQL and the real-process sections (``bench/stack.py``), then prints the tables and
writes them to ``--out``. Every figure is measured in this run; comparisons are ratios of
figures measured side by side, never absolute times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO_ROOT
from report import render

from tests.procs import (
    PostgresServer,
    RedisServer,
    _postgres_bindir,
    _shared_tempdir,
    free_port,
    integration_env,
)

BENCH_DIR = Path(__file__).resolve().parent


def start_postgres(workdir: Path) -> PostgresServer:
    """A throwaway cluster (owned by ``postgres`` when we are root)."""
    import pwd

    bindir = _postgres_bindir()
    if bindir is None:
        raise SystemExit(
            "PostgreSQL's initdb and pg_ctl were not found (apt-get install postgresql)"
        )
    run_as = None
    basedir = Path(tempfile.mkdtemp(prefix="cfpurge-bench-pg-", dir=_shared_tempdir()))
    if os.geteuid() == 0:
        run_as = PostgresServer.user
        owner = pwd.getpwnam(run_as)
        os.chown(basedir, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(bindir, basedir, free_port(), run_as)
    server.init()
    server.start()
    return server


def start_redis(workdir: Path) -> RedisServer:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    redis_dir = workdir / "redis"
    redis_dir.mkdir()
    server = RedisServer(executable, redis_dir, free_port())
    server.start()
    return server


def run_child(script: str, args: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``bench/SCRIPT`` with the integration settings; return the JSON it wrote."""
    result_path = log.with_suffix(".json")
    cmd = [sys.executable, str(BENCH_DIR / script), "--result", str(result_path), *args]
    started = time.monotonic()
    with log.open("wb") as output:
        code = subprocess.call(
            cmd,
            env=integration_env(env),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{script} {' '.join(args)} failed with exit code {code}:\n{tail}")
    print(f"  {script} {' '.join(args)}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return json.loads(result_path.read_text())


def machine_facts(postgres: PostgresServer, quick: bool, seconds: float) -> dict[str, str]:
    import celery
    import django

    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            return "?"
        lines = (out.stdout or out.stderr).strip().splitlines()
        return lines[0] if lines else "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = first_line(["redis-server", "--version"]).split(" v=")[-1].split()[0]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick (tiny sizes, figures not meaningful)" if quick else "full",
        "cores": f"{os.cpu_count()} ({cpu})",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "Celery": celery.__version__,
        "PostgreSQL": first_line([str(postgres.bindir / "postgres"), "--version"]),
        "Redis": redis_version,
        "run time": f"{seconds / 60:.1f} min",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Run django-cfpurge's benchmarks.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    quick = ["--quick"] if args.quick else []

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="cfpurge-bench-"))
    print(
        f"django-cfpurge benchmarks ({'quick' if args.quick else 'full'}); logs in {workdir}",
        file=sys.stderr,
    )
    postgres = start_postgres(workdir)
    redis = None
    results: dict[str, Any] = {}
    keep = args.keep
    try:
        redis = start_redis(workdir)
        base = {
            "CFPURGE_IT_TMPDIR": str(workdir),
            "CFPURGE_IT_LOG_LEVEL": "WARNING",
            # The package's default window, not the integration settings' short one.
            "CFPURGE_IT_COALESCE": "1.0",
        }
        inproc = {**base, "CFPURGE_IT_BROKER_URL": "memory://"}
        results["sqlite"] = run_child(
            "inproc.py",
            ["--sections", "a,b", *quick],
            {**inproc, "CFPURGE_IT_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"},
            workdir / "inproc-sqlite.log",
        )
        results["postgresql"] = run_child(
            "inproc.py",
            ["--sections", "a,b,c,h", *quick],
            {**inproc, "CFPURGE_IT_DATABASE_URL": postgres.create_database("bench_inproc")},
            workdir / "inproc-postgresql.log",
        )
        results["stack"] = run_child(
            "stack.py",
            ["--logs", str(workdir / "logs"), *quick],
            {
                **base,
                "CFPURGE_IT_DATABASE_URL": postgres.create_database("bench_stack"),
                "CFPURGE_IT_BROKER_URL": redis.url_for(0),
                "CFPURGE_IT_CACHE_URL": redis.url_for(1),
            },
            workdir / "stack.log",
        )
        facts = machine_facts(postgres, args.quick, time.monotonic() - started)
    except BaseException:
        keep = True  # the logs say what went wrong
        print(f"benchmarks failed; logs kept in {workdir}", file=sys.stderr)
        raise
    finally:
        if redis is not None:
            redis.stop()
        postgres.stop()
        postgres.remove()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = render(results, facts)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
