"""Real servers for the slow tests: Redis, PostgreSQL and Celery workers.

A pytest plugin, listed in ``tests/conftest.py``. Importing it starts nothing: a server starts
the first time a test asks for its fixture and stops when the session ends; processes started
by a test stop when that test ends, and their logs are attached to its report if it fails.

When a server's program is missing, the fixture skips the test and says what to install,
except when ``CI`` is set: there a missing server is a failure, so that CI can never pass
because nothing ran. ``./scripts/test.sh`` installs the programs.

Timeouts in this module are safety nets so that a hung process cannot hang the suite; no test
should rely on one expiring.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
INTEGRATION_SETTINGS = "tests.integration.settings"
CELERY_APP = "tests.integration.celery_app"
LOCALHOST = "127.0.0.1"

#: Variables that could point a child process at a real Cloudflare account; never inherited.
CREDENTIAL_VARIABLES = frozenset(
    {
        "CFPURGE_API_TOKEN",
        "CFPURGE_ZONE_ID",
        "CFPURGE_API_KEY",
        "CFPURGE_EMAIL",
        "CFPURGE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_API_KEY",
        "CLOUDFLARE_EMAIL",
        "CLOUDFLARE_ZONE_ID",
        "CLOUDFLARE_ACCOUNT_ID",
    }
)

T = TypeVar("T")

_processes_key = pytest.StashKey[list["Process"]]()
_live: set[Process] = set()
_atexit_registered = False
_worker_numbers = itertools.count(1)
_database_numbers = itertools.count(1)


# -- small helpers -----------------------------------------------------------------------------


def in_ci() -> bool:
    """Whether the suite runs in CI (``CI`` set to anything but empty, ``0``, ``false``, ``no``)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def unavailable(reason: str) -> NoReturn:
    """Skip the requesting test because *reason*; fail it instead when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing server fails the run)", pytrace=False)
    pytest.skip(reason)


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port on *host* that nothing listens on right now.

    The port is released before returning, so another process could take it before the caller
    binds it; the servers here fail loudly if that ever happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOCALHOST) -> bool:
    """Whether something accepts TCP connections on *host*:*port*."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    *,
    description: str = "the condition",
) -> T:
    """Call *predicate* until it returns something truthy, and return that.

    :param timeout: seconds before giving up; a safety net, never a way to assert.
    :raises TimeoutError: when *timeout* passes first. Exceptions from *predicate* propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {description}")
        time.sleep(interval)


def integration_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process using ``tests.integration.settings``.

    This process's environment without Cloudflare credentials, plus the settings module, the
    repository on ``PYTHONPATH`` and unbuffered output; *extra* is applied last.
    """
    env = {key: value for key, value in os.environ.items() if key not in CREDENTIAL_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = INTEGRATION_SETTINGS
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_django(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m django ARGS`` with the integration settings and return its result.

    For one-shot commands such as ``migrate --noinput`` before starting workers.

    :param env: extra variables, passed through :func:`integration_env`.
    :raises RuntimeError: if the command exits non-zero; the message holds its output.
    """
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=integration_env(env),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"django-admin {shlex.join(args)} exited with {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


# -- processes ---------------------------------------------------------------------------------


class Process:
    """A child process leading its own process group, with its output in a log file.

    Its own group means a signal reaches the process and everything it forked (a Celery
    worker's pool) without touching pytest.
    """

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"<Process {self.name} pid={self.pid} running={self.running}>"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def send_signal(self, sig: int, *, group: bool = False) -> None:
        """Send *sig* to the process, or to its whole process group when *group* is true."""
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit and return its exit code.

        :raises subprocess.TimeoutExpired: if it is still running after *timeout* seconds.
        """
        return self.popen.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM the group, SIGKILL it after *timeout* seconds, reap, and return the exit code.

        Safe to call more than once and on a process that already exited.
        """
        if self.running:
            self.send_signal(signal.SIGTERM, group=True)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # Children can outlive their leader (a killed worker's pool), so the group always
        # gets a SIGKILL; an empty group just answers ESRCH.
        self.send_signal(signal.SIGKILL, group=True)
        code = self.popen.wait()
        _live.discard(self)
        return code


def _stop_leftovers() -> None:
    # Last resort when a session dies without running its teardowns.
    for process in list(_live):
        process.stop(timeout=2.0)


def spawn(
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    name: str | None = None,
) -> Process:
    """Start *cmd* in a new session (its own process group), output appended to *log_path*.

    :param env: the complete environment; ``None`` inherits this process's.
    :returns: the :class:`Process`; stopping it is the caller's job (fixtures do it).
    """
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_stop_leftovers)
        _atexit_registered = True
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    process = Process(name or Path(cmd[0]).name, popen, log_path)
    _live.add(process)
    return process


def _wait_ready(process: Process, check: Callable[[], bool], what: str, timeout: float) -> None:
    def ready() -> bool:
        if check():
            return True
        if not process.running:
            raise RuntimeError(
                f"{what} exited with code {process.returncode} before it was ready; "
                f"last output:\n{process.log_tail()}"
            )
        return False

    try:
        wait_for(ready, timeout, description=f"{what} to be ready")
    except TimeoutError as err:
        raise TimeoutError(f"{err}; last output:\n{process.log_tail()}") from err


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for process in item.stash.get(_processes_key, []):
            report.sections.append(
                (f"Output of {process.name} ({process.log_path})", process.log_tail(200))
            )
    return report


@pytest.fixture
def process_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Process]]:
    """Start processes for one test: ``start(cmd, *, env=None, cwd=REPO_ROOT, name=None)``.

    Every process is stopped (SIGTERM, then SIGKILL) when the test ends; if the test fails,
    the end of each log is added to its report.
    """
    started: list[Process] = []
    request.node.stash[_processes_key] = started

    def start(
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = REPO_ROOT,
        name: str | None = None,
    ) -> Process:
        label = name or f"{Path(cmd[0]).name}-{len(started) + 1}"
        process = spawn(
            cmd, log_path=tmp_path / "logs" / f"{label}.log", env=env, cwd=cwd, name=label
        )
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


# -- Redis -------------------------------------------------------------------------------------


def _redis_command(port: int, command: bytes) -> bytes | None:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=2) as sock:
            sock.sendall(command + b"\r\n")
            return sock.recv(256)
    except OSError:
        return None


class RedisServer:
    """A ``redis-server`` without persistence on a port of its own.

    :meth:`stop` and :meth:`start` keep the port, so a test can take the broker away and bring
    it back at the same URL.
    """

    def __init__(self, executable: str, workdir: Path, port: int) -> None:
        self.executable = executable
        self.workdir = workdir
        self.port = port
        self.process: Process | None = None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} running={self.running}>"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """The URL of logical database *db* (0-15) on this server."""
        return f"redis://{LOCALHOST}:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def ping(self) -> bool:
        """Whether the server answers ``PING``."""
        return (_redis_command(self.port, b"PING") or b"").startswith(b"+PONG")

    def flushall(self) -> None:
        """Delete every key in every database."""
        reply = _redis_command(self.port, b"FLUSHALL") or b""
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (a no-op if it runs) and return once it answers ``PING``."""
        if self.running:
            return
        self.process = spawn(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", LOCALHOST,
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--daemonize", "no",
            ],
            log_path=self.workdir / "redis.log",
            cwd=self.workdir,
            name=f"redis-server:{self.port}",
        )  # fmt: skip
        _wait_ready(self.process, self.ping, f"redis-server on port {self.port}", timeout)

    def stop(self) -> None:
        """Stop the server; clients see connection errors until :meth:`start`."""
        if self.process is not None:
            self.process.stop()

    def log(self) -> str:
        return self.process.log() if self.process else ""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server for the whole session; see :class:`RedisServer`.

    A test that stops it must start it again, so later tests find it running.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable(
            "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; "
            "./scripts/test.sh installs it)"
        )
    server = RedisServer(executable, tmp_path_factory.mktemp("redis"), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- PostgreSQL --------------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        # /usr/local/bin/initdb is often a symlink; pg_ctl must come from the same release.
        bindir = Path(initdb).resolve().parent
        if (bindir / "pg_ctl").exists():
            return bindir

    def major(path: Path) -> int:
        try:
            return int(path.parts[-3])
        except ValueError:
            return 0

    # Debian's packages keep the binaries off PATH.
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=major, reverse=True)
    for candidate in found:
        if (candidate.parent / "pg_ctl").exists():
            return candidate.parent
    return None


def _shared_tempdir() -> str:
    # The server runs as another user when we are root: its directory must be reachable.
    base = tempfile.gettempdir()
    return base if os.stat(base).st_mode & 0o001 else "/tmp"


class PostgresServer:
    """A throwaway PostgreSQL cluster with ``trust`` authentication on a port of its own.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    user and every server command runs through ``runuser``.
    """

    user = "postgres"

    def __init__(self, bindir: Path, basedir: Path, port: int, run_as: str | None) -> None:
        self.bindir = bindir
        self.basedir = basedir
        self.datadir = basedir / "data"
        self.logfile = basedir / "postgres.log"
        self.port = port
        self.run_as = run_as
        self.started = False

    def __repr__(self) -> str:
        return f"<PostgresServer {self.url} started={self.started}>"

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{LOCALHOST}:{self.port}/{dbname}"

    def _run(self, program: str, *args: str, timeout: float = 120.0) -> str:
        cmd = [str(self.bindir / program), *args]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        result = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.basedir,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(cmd)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\n{self.log()}"
            )
        return result.stdout

    def init(self) -> None:
        """Create the cluster (UTF-8, C locale, no fsync: nothing here needs to survive)."""
        self._run(
            "initdb", "-D", str(self.datadir), "-A", "trust", "-U", self.user,
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        options = [
            "-p", str(self.port),
            "-h", LOCALHOST,
            "-k", str(self.basedir),
            "-F",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-o", shlex.join(options),
            "-l", str(self.logfile), "-w", "-t", "60", "start",
        )  # fmt: skip
        self.started = True

    def stop(self) -> None:
        """Stop the server, dropping open connections (fast, then immediate shutdown)."""
        if not self.started:
            return
        for mode in ("fast", "immediate"):
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
            break
        else:
            self._kill_postmaster()
        self.started = False

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def create_database(self, name: str | None = None) -> str:
        """Create a database (a fresh name when *name* is ``None``) and return its URL."""
        name = name or f"cfpurge_{os.getpid()}_{next(_database_numbers)}"
        result = subprocess.run(
            [
                str(self.bindir / "createdb"),
                "-h", LOCALHOST, "-p", str(self.port), "-U", self.user, name,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {result.stderr.strip()}")
        return self.url_for(name)

    def log(self) -> str:
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, PermissionError):
            return ""

    def remove(self) -> None:
        """Delete the cluster's files (after :meth:`stop`)."""
        shutil.rmtree(self.basedir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session; see :class:`PostgresServer`.

    Tests get their own databases from :meth:`PostgresServer.create_database`.
    """
    bindir = _postgres_bindir()
    if bindir is None:
        unavailable(
            "PostgreSQL's initdb and pg_ctl were not found on PATH or in /usr/lib/postgresql "
            "(Debian/Ubuntu: apt-get install postgresql)"
        )
    run_as: str | None = None
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        run_as = PostgresServer.user
        try:
            owner = pwd.getpwnam(run_as)
        except KeyError:
            unavailable("running as root, PostgreSQL needs a 'postgres' user to run as")
        if shutil.which("runuser") is None:
            unavailable("running as root, PostgreSQL needs runuser (util-linux) to drop root")
    basedir = Path(tempfile.mkdtemp(prefix="cfpurge-pg-", dir=_shared_tempdir()))
    if owner is not None:
        os.chown(basedir, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(bindir, basedir, free_port(), run_as)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


# -- Celery workers ----------------------------------------------------------------------------

_READY_LINE = re.compile(r"\bready\.\s*$", re.MULTILINE)


class CeleryWorker:
    """A ``celery worker`` process for ``tests.integration.celery_app``."""

    def __init__(self, process: Process, name: str) -> None:
        self.process = process
        self.name = name

    def __repr__(self) -> str:
        return f"<CeleryWorker {self.name} pid={self.pid} running={self.running}>"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.running

    def log(self) -> str:
        """The worker's output so far (stdout and stderr)."""
        return self.process.log()

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 60.0) -> re.Match[str]:
        """Wait until the log matches *pattern* (a regular expression) and return the match."""
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern

        def search() -> re.Match[str] | None:
            match = regex.search(self.log())
            if match is None and not self.running:
                raise RuntimeError(
                    f"worker {self.name} exited with code {self.process.returncode} before "
                    f"its log matched {regex.pattern!r}; last output:\n{self.process.log_tail()}"
                )
            return match

        return wait_for(search, timeout, description=f"{regex.pattern!r} in {self.name}'s log")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send *sig*, without waiting.

        ``SIGKILL`` goes to the whole process group, pool children included, like a machine
        dying; any other signal goes to the main process only, which is how Celery expects to
        be told to shut down (``SIGTERM`` warm, ``SIGQUIT`` cold).
        """
        self.process.send_signal(sig, group=sig == signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> int:
        """Warm shutdown: let running tasks finish, kill after *timeout*; return the exit code."""
        self.kill(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        return self.process.stop()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)


@pytest.fixture
def celery_worker_factory(
    process_factory: Callable[..., Process],
) -> Callable[..., CeleryWorker]:
    """Start Celery workers for one test; they are stopped when it ends.

    ``start(env, concurrency=1, name=None, pool=None, extra_args=(), ready_timeout=60)``
    returns a :class:`CeleryWorker` once its log says it is ready. *env* holds the
    ``CFPURGE_IT_*`` variables read by ``tests.integration.settings`` (at least
    ``CFPURGE_IT_BROKER_URL``); the pool is ``solo`` for one process, ``prefork`` otherwise.
    Give every process of a test the same ``CFPURGE_IT_TMPDIR`` (e.g. ``tmp_path``) or the
    same database and media variables: the defaults live in the system's temporary directory.
    """

    def start(
        env: Mapping[str, str] | None = None,
        concurrency: int = 1,
        name: str | None = None,
        *,
        pool: str | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
    ) -> CeleryWorker:
        name = name or f"worker{next(_worker_numbers)}"
        pool = pool or ("solo" if concurrency == 1 else "prefork")
        cmd = [
            sys.executable, "-m", "celery", "-A", CELERY_APP, "worker",
            "--loglevel=INFO",
            "-P", pool,
            "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if pool != "solo":
            cmd += ["--concurrency", str(concurrency)]
        cmd += list(extra_args)
        process = process_factory(cmd, env=integration_env(env), cwd=REPO_ROOT, name=name)
        worker = CeleryWorker(process, name)
        worker.wait_for_log(_READY_LINE, timeout=ready_timeout)
        return worker

    return start
