#!/usr/bin/env python
"""Run the whole demo: migrate, seed, then the fake CDN, Django, a Celery worker and beat.

::

    python example_project/run_demo.py            # or ./scripts/demo.sh, which also installs

What runs (ports overridable by environment variables or options)::

    fake Cloudflare API   127.0.0.1:8787   DEMO_API_PORT    --api-port    (python -m fakecdn)
    edge cache (fake)     127.0.0.1:8001   DEMO_EDGE_PORT   --edge-port   → in front of Django
    Django (runserver)    127.0.0.1:8000   DEMO_WEB_PORT    --web-port
    Celery worker (solo pool) and Celery beat (the periodic sweep)

Each program runs in its own process group; its output is shown line by line with its
name in front. Ctrl-C (SIGINT) or SIGTERM stops them all, and so does any of them
exiting on its own. Nothing but Python is needed: SQLite, and files for the Celery
broker and the Django cache, all in ``DEMO_DATA_DIR`` (default ``example_project/var``).

The demo always talks to a fake CDN: the ``CFPURGE_*`` variables that point elsewhere
are replaced for the programs it starts. ``CFPURGE_BACKEND`` (or ``--backend``) picks it:
``cloudflare`` (the default), ``bunny`` (the fake bunny.net, whose pull zone serves the
edge's ``localhost``) or ``cloudflare_images`` (the fake Cloudflare Images; the demo's
images are stored on this server, so its changes find no zone there: the purge log says
so). To try a real zone, run ``manage.py runserver`` and
``celery -A demo_site worker -B`` yourself with a ``.env``.

This script uses the standard library only (and the fake's constants).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
LOOPBACK = "127.0.0.1"
#: Seconds each program may take to become ready: a safety net for a broken setup.
READY_TIMEOUT = 90.0
#: Seconds a program gets to stop after SIGTERM before its group is killed.
STOP_TIMEOUT = 10.0

WORKER_READY = re.compile(r"\S+@\S+ ready\.")
BEAT_READY = re.compile(r"beat: Starting")

_COLOURS = ("36", "35", "33", "32", "34", "31")

if (REPO_ROOT / "django_cfpurge").is_dir() and str(REPO_ROOT) not in sys.path:
    # A checkout works without `pip install -e .` too.
    sys.path.insert(0, str(REPO_ROOT))


#: The backends the demo can run with, and how it names their fake.
BACKEND_NAMES = {
    "cloudflare": "Cloudflare",
    "bunny": "bunny.net",
    "cloudflare_images": "Cloudflare Images",
}


def backend_env(backend: str, fake: str) -> dict[str, str]:
    """The ``CFPURGE_*`` variables that point the demo at the fake of ``backend``: its
    zone and credentials, well-formed and worthless anywhere else."""
    from django_cfpurge.testing.bunny_api import DEFAULT_ACCESS_KEY, DEFAULT_PULL_ZONE_ID
    from django_cfpurge.testing.cloudflare_api import DEFAULT_TOKEN, DEFAULT_ZONE_ID
    from django_cfpurge.testing.cloudflare_images_api import (
        DEFAULT_ACCOUNT_ID,
        IMAGES_EDIT_TOKEN,
    )

    env = {
        "CFPURGE_BACKEND": backend,
        "CFPURGE_API_URL": f"{fake}/client/v4",
        "CFPURGE_BUNNY_API_URL": fake,
        "CFPURGE_ZONE_ID": DEFAULT_ZONE_ID,
        "CFPURGE_API_TOKEN": DEFAULT_TOKEN,
        "CFPURGE_PLAN": "free",
        "CFPURGE_HOSTNAMES": "localhost,127.0.0.1",
        # A real account's legacy key or Account ID must not mix with the fake's token.
        "CFPURGE_EMAIL": "",
        "CFPURGE_API_KEY": "",
        "CFPURGE_ACCOUNT_ID": "",
    }
    if backend == "bunny":
        env.update(
            CFPURGE_ZONE_ID=str(DEFAULT_PULL_ZONE_ID),
            CFPURGE_API_KEY=DEFAULT_ACCESS_KEY,
            CFPURGE_API_TOKEN="",
            CFPURGE_PLAN="",
        )
    elif backend == "cloudflare_images":
        env.update(
            CFPURGE_ZONE_ID=DEFAULT_ACCOUNT_ID,
            CFPURGE_API_TOKEN=IMAGES_EDIT_TOKEN,
            CFPURGE_PLAN="",
            CFPURGE_HOSTNAMES="imagedelivery.net",
        )
    return env


class DemoError(Exception):
    """The demo cannot start; the message says why."""


class Stopped(DemoError):
    """Ctrl-C or SIGTERM arrived before everything was ready."""


class Output:
    """Serialises the lines written by the reader threads and by the script itself."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.colour = stream.isatty() and os.environ.get("NO_COLOR") is None
        self.lock = threading.Lock()

    def line(self, prefix: str, text: str, colour: str = "1") -> None:
        """Write one line with its prefix."""
        label = f"{prefix:>7} |"
        if self.colour:
            label = f"\033[{colour}m{label}\033[0m"
        with self.lock:
            self.stream.write(f"{label} {text}\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        """A message of the demo itself."""
        self.line("demo", text)


class Program:
    """A child process in its own process group, its output streamed with a prefix."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: dict[str, str],
        out: Output,
        colour: str,
        ready_pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.ready_pattern = ready_pattern
        self.saw_ready = threading.Event()
        self.popen = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            self.cmd,
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own group: Ctrl-C reaches us only; we stop them in order
        )
        self.reader = threading.Thread(
            target=self._pump, args=(out, colour), name=f"demo-{name}", daemon=True
        )
        self.reader.start()

    def _pump(self, out: Output, colour: str) -> None:
        assert self.popen.stdout is not None  # noqa: S101  (stdout=PIPE above)
        for raw in iter(self.popen.stdout.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip()
            if self.ready_pattern is not None and self.ready_pattern.search(text):
                self.saw_ready.set()
            out.line(self.name, text, colour)

    @property
    def returncode(self) -> int | None:
        """None while running."""
        return self.popen.poll()

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the program and everything it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: connections of a previous run in TIME_WAIT must not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (loopback URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _env_port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise DemoError(f"{name}={value!r} is not a port number.") from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Options; defaults come from the ``DEMO_*`` environment variables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-port", type=int, default=_env_port("DEMO_WEB_PORT", 8000))
    parser.add_argument("--edge-port", type=int, default=_env_port("DEMO_EDGE_PORT", 8001))
    parser.add_argument("--api-port", type=int, default=_env_port("DEMO_API_PORT", 8787))
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DEMO_DATA_DIR") or str(HERE / "var"),
        help="database, media, broker and cache folders (DEMO_DATA_DIR)",
    )
    parser.add_argument(
        "--ready-file", help="write the demo's URLs here as JSON once everything is ready"
    )
    parser.add_argument("--no-seed", action="store_true", help="skip `manage.py seed_demo`")
    parser.add_argument(
        "--backend",
        choices=tuple(BACKEND_NAMES),
        default=os.environ.get("CFPURGE_BACKEND", "").strip() or "cloudflare",
        help="the CDN to fake and purge on (CFPURGE_BACKEND; default cloudflare)",
    )
    return parser.parse_args(argv)


class Demo:
    """Starts, watches and stops the demo's programs."""

    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.args = args
        self.out = out
        self.programs: list[Program] = []
        self.stopping = threading.Event()
        self.data_dir = Path(args.data_dir).resolve()
        self.site = f"http://localhost:{args.edge_port}"
        self.origin = f"http://{LOOPBACK}:{args.web_port}"
        self.fake = f"http://{LOOPBACK}:{args.api_port}"
        env = dict(os.environ)
        python_path = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "demo_site.settings",
                "DEMO_DATA_DIR": str(self.data_dir),
                "CFPURGE_ZONE_NAME": "demo",
                # Purged URLs are those visitors use: the edge's, never the origin's.
                "CFPURGE_BASE_URLS": self.site,
                "FAKE_CLOUDFLARE_URL": self.fake,
                # The fake's zone and credentials.
                **backend_env(args.backend, self.fake),
            }
        )
        # The sweep sends what was written while no worker ran; retries have their own
        # follow-up drains. Frequent, so that the demo shows it.
        env.setdefault("SWEEP_SECONDS", "10")
        self.env = env

    # -- steps ---------------------------------------------------------------------------

    def check_ports(self) -> None:
        """Fail early, naming the variable to change, if a port is taken."""
        for port, variable in (
            (self.args.web_port, "DEMO_WEB_PORT"),
            (self.args.edge_port, "DEMO_EDGE_PORT"),
            (self.args.api_port, "DEMO_API_PORT"),
        ):
            if not _port_free(port):
                raise DemoError(
                    f"Port {port} on {LOOPBACK} is in use (another demo still running?). "
                    f"Stop it, or choose another port: {variable}=... or --{variable[5:-5].lower()}"
                    "-port."
                )

    def run_step(self, name: str, *args: str) -> None:
        """Run one ``manage.py`` command to the end, streaming its output."""
        program = self._start(name, [sys.executable, "manage.py", *args])
        while program.returncode is None:
            if self.stopping.wait(0.1):
                raise Stopped("setup")
        program.reader.join(timeout=5)
        self.programs.remove(program)
        if program.returncode != 0:
            raise DemoError(f"`manage.py {' '.join(args)}` failed (exit {program.returncode}).")

    def start_services(self) -> None:
        """Start the fake, Django, the worker and beat; return once all of them are ready."""
        a = self.args
        python = sys.executable
        fake = self._start(
            "cf-fake",
            [
                python,
                "-m",
                "fakecdn",
                "--api",
                a.backend,
                "--port",
                str(a.api_port),
                "--edge-port",
                str(a.edge_port),
                "--origin",
                self.origin,
                # Edge entries are keyed by the public origin, whatever Host the browser sent.
                "--public-host",
                self.site,
            ],
        )
        web = self._start(
            "web",
            [
                python,
                "manage.py",
                "runserver",
                f"{LOOPBACK}:{a.web_port}",
                "--noreload",
                "--insecure",
            ],
        )
        worker = self._start(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "demo_site",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname=demo@%h",
            ],
            ready=WORKER_READY,
        )
        beat = self._start(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "demo_site",
                "beat",
                "--loglevel=INFO",
                f"--schedule={self.data_dir / 'celerybeat-schedule'}",
                "--pidfile=",
            ],
            ready=BEAT_READY,
        )
        self._wait_ready(
            fake,
            f"the fake {BACKEND_NAMES[a.backend]}",
            lambda: _http_ok(f"{self.fake}/__fake__/health"),
        )
        self._wait_ready(web, "Django", lambda: _http_ok(f"{self.origin}/healthz/"))
        self._wait_ready(
            fake, "the edge cache", lambda: _http_ok(f"http://{LOOPBACK}:{a.edge_port}/healthz/")
        )
        self._wait_ready(worker, "the Celery worker", worker.saw_ready.is_set)
        self._wait_ready(beat, "Celery beat", beat.saw_ready.is_set)

    def announce(self) -> None:
        """Print the URLs and write the ready file."""
        urls = {
            "site": f"{self.site}/",
            "origin": f"{self.origin}/",
            "admin": f"{self.site}/admin/",
            "edge_log": f"{self.site}/edge-log/",
            "api_url": self.fake if self.args.backend == "bunny" else f"{self.fake}/client/v4",
            "fake_url": self.fake,
        }
        lines = [
            "",
            "The django-cfpurge demo is running. Press Ctrl-C to stop it.",
            "",
            f"  Site, through the edge cache:  {urls['site']}",
            f"  Origin (Django, no cache):     {urls['origin']}",
            f"  Admin:                         {urls['admin']}   login: demo / demo",
            f"  Edge log (purges received):    {urls['edge_log']}",
            f"  {'Fake ' + BACKEND_NAMES[self.args.backend] + ' API:':<31}{urls['api_url']}",
            "",
        ]
        for line in lines:
            self.out.say(line)
        if self.args.ready_file:
            path = Path(self.args.ready_file)
            temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"pid": os.getpid(), **urls}), encoding="utf-8")
            os.replace(temporary, path)

    def watch(self) -> int:
        """Wait until asked to stop (0) or until a program exits on its own (1)."""
        while not self.stopping.wait(0.2):
            for program in self.programs:
                if program.returncode is not None:
                    self.out.say(
                        f"{program.name} exited with code {program.returncode}; stopping the demo."
                    )
                    return 1
        return 0

    def stop(self) -> None:
        """SIGTERM every program's group (newest first), then SIGKILL what is left."""
        for program in reversed(self.programs):
            if program.returncode is None:
                program.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for program in reversed(self.programs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                program.popen.wait(max(0.1, deadline - time.monotonic()))
            # A program's children may outlive it (a pool): the group always gets a SIGKILL.
            program.signal_group(signal.SIGKILL)
            program.popen.wait()
            program.reader.join(timeout=2)
        self.programs.clear()
        if self.args.ready_file:
            with contextlib.suppress(OSError):
                os.remove(self.args.ready_file)

    # -- helpers ---------------------------------------------------------------------------

    def _start(
        self, name: str, cmd: Sequence[str], *, ready: re.Pattern[str] | None = None
    ) -> Program:
        colour = _COLOURS[len(self.programs) % len(_COLOURS)]
        program = Program(name, cmd, env=self.env, out=self.out, colour=colour, ready_pattern=ready)
        self.programs.append(program)
        return program

    def _wait_ready(self, program: Program, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not check():
            if program.returncode is not None:
                raise DemoError(f"{what} exited with code {program.returncode} while starting.")
            if self.stopping.is_set():
                raise Stopped("start")
            if time.monotonic() > deadline:
                raise DemoError(f"{what} was not ready after {READY_TIMEOUT:.0f} s.")
            time.sleep(0.1)
        self.out.say(f"{what} is ready.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C; the exit status is 0 after a requested stop."""
    out = Output(sys.stdout)
    try:
        args = parse_args(argv)
        demo = Demo(args, out)
    except DemoError as err:
        out.say(f"error: {err}")
        return 2

    def request_stop(signum: int, frame: Any) -> None:
        if not demo.stopping.is_set():
            out.say(f"{signal.Signals(signum).name} received: stopping.")
        demo.stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        demo.check_ports()
        demo.data_dir.mkdir(parents=True, exist_ok=True)
        out.say(f"Data in {demo.data_dir}")
        demo.run_step("migrate", "migrate", "--noinput")
        if not args.no_seed:
            demo.run_step("seed", "seed_demo")
        demo.start_services()
        demo.announce()
        status = demo.watch()
    except Stopped:
        status = 130
    except DemoError as err:
        out.say(f"error: {err}")
        status = 1
    finally:
        demo.stop()
    out.say("All stopped.")
    return status


if __name__ == "__main__":
    sys.exit(main())
