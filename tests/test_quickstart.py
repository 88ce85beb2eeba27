"""The quick start, followed to the letter on a fresh ``django-admin startproject``.

``docs/quickstart.rst`` holds three code blocks, named with ``:name:``: the lines to add
at the end of ``mysite/settings.py``, ``mysite/celery.py`` and ``mysite/__init__.py``.
The README shows the same three blocks; the fast tests below compare them, and check the
settings reference against :data:`django_cfpurge.conf.DEFAULTS`.

The slow tests install the package from this checkout, with the ``redis`` extra, into a
virtualenv of their own, then do what the page says on a project made by
``startproject``: the blocks are copied from the page, so changing the page changes what
runs. The zone comes from the environment (the fake Cloudflare's zone and token), the
broker and the cache are a real Redis, and a real ``celery -A mysite worker`` sends the
purge. The virtualenv is kept between runs in the system's temporary directory, keyed by
``pyproject.toml``; only the package itself is reinstalled on a later run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.conf import DEFAULTS
from django_cfpurge.testing.cloudflare_api import DEFAULT_TOKEN, DEFAULT_ZONE_ID, FakeCloudflare
from tests.procs import CeleryWorker, RedisServer, unavailable, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = REPO_ROOT / "docs" / "quickstart.rst"
README = REPO_ROOT / "README.md"
SETTINGS_DOC = REPO_ROOT / "docs" / "settings.rst"

#: The named code blocks of the quick start, and the file each one goes to.
BLOCKS = {
    "quickstart-settings": "mysite/settings.py (appended)",
    "quickstart-celery": "mysite/celery.py",
    "quickstart-init": "mysite/__init__.py",
}
#: Where the virtualenvs are kept between runs.
VENV_ROOT = Path(tempfile.gettempdir()) / "django-cfpurge-quickstart"
#: What the project installs besides the package: Pillow for its ImageField; hatchling to
#: rebuild the package from this checkout on later runs without fetching build tools.
PROJECT_REQUIREMENTS = ("Pillow", "hatchling>=1.21")
#: Redis databases of the quick-start project (the session's server is shared).
BROKER_DB, CACHE_DB, FRESH_CACHE_DB = 10, 11, 12

#: Safety nets only: every wait ends as soon as its condition holds.
PIP_TIMEOUT = 900.0
COMMAND_TIMEOUT = 180.0
PURGE_TIMEOUT = 60.0

#: The project as the quick start assumes it: an app ``gallery`` with a ``Photo`` model.
PHOTO_MODEL = """\
from django.db import models


class Photo(models.Model):
    title = models.CharField(max_length=100)
    image = models.ImageField(upload_to="photos/")
    is_public = models.BooleanField(default=True)
"""
PROJECT_SETTINGS = """
# The project as the quick start assumes it: the gallery app and its media.
INSTALLED_APPS += ["gallery"]
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"

"""
#: Saves a photo as a view or the admin would, and prints its image's URL last.
SAVE_PHOTO = """
import io

from django.core.files.base import ContentFile
from PIL import Image

from gallery.models import Photo

buffer = io.BytesIO()
Image.new("RGB", (4, 4), "orange").save(buffer, "PNG")
photo = Photo(title="cat")
photo.image.save("cat.png", ContentFile(buffer.getvalue()))
print(photo.image.url)
"""
#: The change just recorded, as if it had been recorded five minutes ago.
BACKDATE_CHANGES = """
from datetime import timedelta

from django.utils import timezone

from django_cfpurge.models import PurgeChange, PurgeRequest

earlier = timezone.now() - timedelta(minutes=5)
PurgeChange.objects.update(created_at=earlier)
PurgeRequest.objects.filter(status=PurgeRequest.Status.PENDING).update(
    created_at=earlier, next_attempt_at=earlier
)
"""
CHECK_ID = re.compile(r"\((cfpurge\.[EW]\d{3})\)")


# -- the blocks, as the documents show them -----------------------------------------------------


def rst_block(text: str, name: str) -> str:
    """The code of the ``.. code-block::`` whose ``:name:`` is ``name``, dedented.

    :raises LookupError: no such block.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == f":name: {name}" and lines[index - 1].lstrip().startswith(
            ".. code-block::"
        ):
            break
    else:
        raise LookupError(f"no code block with :name: {name} in docs/quickstart.rst")
    body: list[str] = []
    for line in lines[index + 1 :]:
        if not body and line.lstrip().startswith(":"):
            continue  # another option of the directive
        if line.strip() and not line.startswith(" "):
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n"


def readme_block(text: str, name: str) -> str:
    """The fenced block that follows ``<!-- name … -->`` in the README.

    :raises LookupError: no such block.
    """
    match = re.search(
        rf"<!-- {re.escape(name)}\b[^>]*-->\s*```python\n(.*?)^```", text, re.S | re.M
    )
    if match is None:
        raise LookupError(f"no ```python block after <!-- {name} --> in README.md")
    return match.group(1).strip("\n") + "\n"


def quickstart_blocks() -> dict[str, str]:
    text = QUICKSTART.read_text(encoding="utf-8")
    return {name: rst_block(text, name) for name in BLOCKS}


# -- fast: the documents agree --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BLOCKS))
def test_readme_shows_the_code_of_the_quickstart(name: str) -> None:
    readme = README.read_text(encoding="utf-8")
    assert readme_block(readme, name) == quickstart_blocks()[name], (
        f"README.md and docs/quickstart.rst differ in {name} ({BLOCKS[name]}): keep them identical"
    )


def test_readme_quick_start_commands_unchanged() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\./scripts/\S+", section, re.M)
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]


def test_quickstart_settings_run_as_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings block, appended to a settings module, gives what the page says."""
    for name in list(os.environ):
        if name.startswith("CFPURGE_") or name in ("CELERY_BROKER_URL", "REDIS_CACHE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CFPURGE_ZONE_ID", DEFAULT_ZONE_ID)
    monkeypatch.setenv("CFPURGE_API_TOKEN", DEFAULT_TOKEN)
    namespace: dict[str, Any] = {"INSTALLED_APPS": ["django.contrib.admin", "gallery"]}
    code = compile(quickstart_blocks()["quickstart-settings"], "settings.py", "exec")
    exec(code, namespace)  # noqa: S102  (the documented snippet, run on purpose)

    assert namespace["INSTALLED_APPS"][-1] == "django_cfpurge"
    assert namespace["CFPURGE"] == {
        "ZONE_NAME": "example.com",
        "BASE_URLS": ["https://www.example.com"],
        "MODELS": {"gallery.Photo": {"fields": ["image"], "watch": ["is_public"]}},
        "ZONE_ID": DEFAULT_ZONE_ID,
        "API_TOKEN": DEFAULT_TOKEN,
    }
    assert namespace["CELERY_BROKER_URL"].startswith("redis://")
    schedule = namespace["CELERY_BEAT_SCHEDULE"]
    assert [entry["task"] for entry in schedule.values()] == ["django_cfpurge.sweep"]
    assert namespace["CACHES"]["default"]["BACKEND"].endswith("RedisCache")


def _documented_default(value: Any) -> str:
    return f'``"{value}"``' if isinstance(value, str) else f"``{value!r}``"


@pytest.mark.parametrize("key", list(DEFAULTS))
def test_settings_reference_documents_every_key(key: str) -> None:
    """Each key has its entry, its default and its variable in docs/settings.rst."""
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    default = _documented_default(DEFAULTS[key])
    assert f".. setting:: {key}\n" in text
    entry = text.split(f".. setting:: {key}\n", 1)[1]
    assert f"Default: {default}\n" in entry.split(".. setting::", 1)[0]
    row = re.search(rf"^\s+\* - :setting:`{key}`\n\s+- (.+)\n\s+- ``CFPURGE_{key}``\n", text, re.M)
    assert row is not None, f"{key} is missing from the table of docs/settings.rst"
    assert row.group(1) == default


class TimingReporter:
    """Shows the quick start's timing in pytest's terminal summary (never asserted)."""

    name = "cfpurge-quickstart-timing"

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("django-cfpurge quick start")
        for line in self.lines:
            terminalreporter.write_line(line)


def report_timing(request: pytest.FixtureRequest, line: str) -> None:
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin(TimingReporter.name)
    if reporter is None:
        reporter = TimingReporter()
        plugins.register(reporter, TimingReporter.name)
    reporter.lines.append(line)


# -- slow: the quick start on a fresh project -----------------------------------------------------


def _run(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{' '.join(map(str, result.args))} exited with {result.returncode}:\n"
        f"{result.stdout}{result.stderr}"
    )
    return result


def _interpreter() -> str:
    python = shutil.which("python3.11") or sys.executable
    result = _run([python, "-c", "import ensurepip, sys; print(sys.version)"])
    if result.returncode != 0:
        unavailable(f"{python} cannot create a virtualenv (apt-get install python3-venv)")
    return python


@contextlib.contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path``; yield False if taken and ``wait`` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune_other_venvs(keep: Path) -> None:
    # Virtualenvs of an older pyproject.toml, unless another run is using one right now.
    for venv in VENV_ROOT.glob("venv-*"):
        if venv == keep or not venv.is_dir():
            continue
        with _locked(VENV_ROOT / f"{venv.name}.lock", wait=False) as free:
            if free:
                shutil.rmtree(venv, ignore_errors=True)


@dataclass
class Venv:
    """The project's virtualenv, and how long preparing it took."""

    path: Path
    fresh: bool
    seconds: float

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    def pip(self, *args: str) -> None:
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PYTHONPATH", None)
        _ok(_run([self.python, "-m", "pip", *args], env=env, timeout=PIP_TIMEOUT))


@pytest.fixture(scope="module")
def quickstart_venv() -> Iterator[Venv]:
    """A virtualenv with ``pip install "<this checkout>[redis]"``, kept between runs."""
    started = time.monotonic()
    python = _interpreter()
    digest = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes())
    digest.update(_run([python, "-c", "import sys; print(sys.version)"]).stdout.encode())
    digest.update(repr(PROJECT_REQUIREMENTS).encode())
    path = VENV_ROOT / f"venv-{digest.hexdigest()[:16]}"
    ready = path / ".quickstart-ready"
    with _locked(VENV_ROOT / f"{path.name}.lock"):
        fresh = not ready.exists()
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
            _ok(_run([python, "-m", "venv", str(path)]))
            venv = Venv(path, fresh, 0.0)
            venv.pip("install", "--quiet", f"{REPO_ROOT}[redis]", *PROJECT_REQUIREMENTS)
            ready.write_text(f"{python}\n", encoding="utf-8")
        else:
            # The dependencies are those pyproject.toml asked for; the code may have changed.
            venv = Venv(path, fresh, 0.0)
            venv.pip(
                "install", "--quiet", "--no-deps", "--force-reinstall", "--no-build-isolation",
                str(REPO_ROOT),
            )  # fmt: skip
        venv.seconds = time.monotonic() - started
        _prune_other_venvs(path)
        yield venv


@pytest.fixture(scope="module")
def fake_cloudflare() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as fake:
        yield fake


@dataclass
class Site:
    """The ``mysite`` project made by ``startproject`` and the quick start."""

    venv: Venv
    root: Path
    env: dict[str, str]
    #: time.monotonic() just before ``startproject``.
    started: float

    def manage(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run([self.venv.python, "manage.py", *args], cwd=self.root, env=env or self.env)

    def shell(self, code: str, env: Mapping[str, str] | None = None) -> str:
        """Run ``code`` in ``manage.py shell``; return its last line of output."""
        result = _ok(self.manage("shell", "-c", code, env=env))
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def _project_env(venv: Venv, fake: FakeCloudflare, redis: RedisServer) -> dict[str, str]:
    """This environment without anything that could reach the checkout or a real account."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CFPURGE_", "CLOUDFLARE_", "DJANGO_", "CELERY_"))
        and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "REDIS_CACHE_URL")
    }
    env.update(
        {
            "PATH": os.pathsep.join([str(venv.bin), env.get("PATH", "")]),
            "VIRTUAL_ENV": str(venv.path),
            "PYTHONUNBUFFERED": "1",
            # What the quick start exports, pointed at the fake Cloudflare and a local Redis.
            "CFPURGE_ZONE_ID": DEFAULT_ZONE_ID,
            "CFPURGE_API_TOKEN": DEFAULT_TOKEN,
            "CFPURGE_API_URL": fake.api_url,
            "CELERY_BROKER_URL": redis.url_for(BROKER_DB),
            "REDIS_CACHE_URL": redis.url_for(CACHE_DB),
        }
    )
    return env


@pytest.fixture(scope="module")
def site(
    quickstart_venv: Venv,
    fake_cloudflare: FakeCloudflare,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Site:
    """``startproject mysite``, the app the page assumes, the page's three blocks, migrate."""
    venv = quickstart_venv
    env = _project_env(venv, fake_cloudflare, redis_server)
    workdir = tmp_path_factory.mktemp("quickstart")
    started = time.monotonic()
    _ok(_run([str(venv.bin / "django-admin"), "startproject", "mysite"], cwd=workdir, env=env))
    root = workdir / "mysite"
    site = Site(venv, root, env, started)
    _ok(site.manage("startapp", "gallery"))
    (root / "gallery" / "models.py").write_text(PHOTO_MODEL, encoding="utf-8")

    blocks = quickstart_blocks()
    settings_py = root / "mysite" / "settings.py"
    with settings_py.open("a", encoding="utf-8") as settings:
        settings.write(PROJECT_SETTINGS)
        settings.write(blocks["quickstart-settings"])
    (root / "mysite" / "celery.py").write_text(blocks["quickstart-celery"], encoding="utf-8")
    (root / "mysite" / "__init__.py").write_text(blocks["quickstart-init"], encoding="utf-8")

    _ok(site.manage("makemigrations", "gallery"))
    _ok(site.manage("migrate", "--noinput"))
    return site


@pytest.mark.slow
def test_redis_extra_brings_a_redis_worker(quickstart_venv: Venv) -> None:
    """``pip install ".[redis]"`` gives Celery with its Redis transport, from the wheel."""
    probe = textwrap.dedent(
        """
        import importlib.metadata as metadata
        import re

        import celery, django_cfpurge, kombu, redis
        import kombu.transport.redis as transport

        assert transport.redis is not None, "kombu's Redis transport has no redis client"
        requires = metadata.requires("django-cfpurge") or []
        redis_extra = [r.split(";")[0] for r in requires if re.search(r"extra == .redis.", r)]
        assert any(r.startswith("celery[redis]") for r in redis_extra), requires
        print(django_cfpurge.__file__)
        """
    )
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    result = _ok(_run([quickstart_venv.python, "-c", probe], cwd=quickstart_venv.path, env=env))
    assert Path(result.stdout.strip()).is_relative_to(quickstart_venv.path)
    version = _ok(_run([str(quickstart_venv.bin / "celery"), "--version"], env=env))
    assert re.match(r"\d+\.\d+", version.stdout.strip())


@pytest.mark.slow
def test_quickstart_on_a_fresh_project(
    site: Site,
    fake_cloudflare: FakeCloudflare,
    process_factory: Any,
    record_property: Any,
    request: pytest.FixtureRequest,
) -> None:
    """Step by step: check, worker, a saved photo purged, ``cfpurge test`` and ``status``."""
    fake_cloudflare.reset()

    # 4. Check: no issues; SQLite's warning when the database checks run too.
    check = _ok(site.manage("check"))
    assert "System check identified no issues" in check.stdout, check.stdout + check.stderr
    check = _ok(site.manage("check", "--database", "default"))
    assert set(CHECK_ID.findall(check.stdout + check.stderr)) == {"cfpurge.W015"}

    # 5. A worker, exactly as the page starts it.
    process = process_factory(
        [str(site.venv.bin / "celery"), "-A", "mysite", "worker", "--loglevel=INFO"],
        env=site.env,
        cwd=site.root,
        name="quickstart-worker",
    )
    worker = CeleryWorker(process, "quickstart-worker")
    worker.wait_for_log(r"\bready\.\s*$", timeout=COMMAND_TIMEOUT)
    assert "Connected to redis://" in worker.log()

    url = site.shell(SAVE_PHOTO)
    assert url.startswith("/media/photos/cat"), url
    expected = f"https://www.example.com{url}"
    wait_for(
        lambda: expected in fake_cloudflare.purged_urls(),
        PURGE_TIMEOUT,
        description=f"the purge of {expected}",
    )
    elapsed = time.monotonic() - site.started
    assert fake_cloudflare.purged_urls() == [expected]

    tested = site.manage("cfpurge", "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "[FAIL]" not in tested.stdout
    status = site.manage("cfpurge", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "0 failed" in status.stdout

    venv = "created" if site.venv.fresh else "reused, the package reinstalled"
    report_timing(
        request,
        f"startproject → verified purge: {elapsed:.1f} s "
        f"(before it, the virtualenv: {venv} in {site.venv.seconds:.1f} s)",
    )
    record_property("startproject_to_verified_purge_seconds", round(elapsed, 1))


@pytest.mark.slow
def test_status_says_when_no_worker_drains(site: Site, redis_server: RedisServer) -> None:
    """Step 5's promise: due purges and no worker → ``cfpurge status`` exits 3 and says so."""
    # A cache no worker has written to: as on a site whose workers never started.
    env = {**site.env, "REDIS_CACHE_URL": redis_server.url_for(FRESH_CACHE_DB)}
    site.shell(SAVE_PHOTO, env=env)
    site.shell(BACKDATE_CHANGES, env=env)
    status = site.manage("cfpurge", "status", env=env)
    assert status.returncode == 3, status.stdout + status.stderr
    assert "No worker has drained" in status.stderr
