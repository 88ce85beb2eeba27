"""A real S3 API server for the slow tests: moto in server mode, on a loopback port.

A pytest plugin, listed in ``tests/conftest.py``. Importing it starts nothing: the server
starts the first time a test asks for :func:`s3_server` and stops when the session ends.
:func:`s3_media` gives a test a bucket of its own and makes django-storages' ``S3Storage``
the default storage, with its default settings (``file_overwrite`` and query-string
signing on) and nothing from the developer's AWS configuration.

When moto or django-storages is missing, the fixtures skip the test and say what to install,
except when ``CI`` is set: there it is a failure (see :func:`tests.procs.unavailable`).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.procs import LOCALHOST, Process, _wait_ready, free_port, spawn, unavailable

#: Made-up credentials: moto accepts any, and real ones must never be used.
ACCESS_KEY = "cfpurge-test-access-key"
SECRET_KEY = "cfpurge-test-secret-key"
REGION = "us-east-1"

#: Variables through which boto3 or django-storages could reach a developer's real account,
#: region or endpoint; cleared for every test that uses :func:`s3_media`.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_S3_ACCESS_KEY_ID",
    "AWS_S3_SECRET_ACCESS_KEY",
    "AWS_S3_SESSION_PROFILE",
)

_bucket_numbers = itertools.count(1)


def _moto_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("moto", "flask", "boto3", "storages"))


class S3Server:
    """``python -m moto.server`` listening on ``127.0.0.1`` on a port of its own."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.process: Process | None = None

    def __repr__(self) -> str:
        return f"<S3Server {self.endpoint_url} running={self.running}>"

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: what ``S3Storage(endpoint_url=...)`` is given."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def ping(self) -> bool:
        """Whether the server answers HTTP (any status: it only has to be listening)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/", timeout=2):  # noqa: S310  (loopback)
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and return once it answers."""
        self.process = spawn(
            [sys.executable, "-m", "moto.server", "-H", LOCALHOST, "-p", str(self.port)],
            log_path=self.workdir / "moto.log",
            env=_isolated_env(),
            cwd=self.workdir,
            name=f"moto-server:{self.port}",
        )
        _wait_ready(self.process, self.ping, f"moto server on port {self.port}", timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def client(self) -> Any:
        """A boto3 S3 client for this server, with the fake credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh name when *name* is ``None``) and return its name."""
        name = name or f"cfpurge-media-{next(_bucket_numbers)}"
        self.client().create_bucket(Bucket=name)
        return name

    def log(self) -> str:
        return self.process.log() if self.process else ""


def _isolated_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in AWS_VARIABLES}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3 API server (moto) for the whole session; see :class:`S3Server`."""
    if not _moto_installed():
        unavailable(
            "moto[server], boto3 and django-storages are not installed "
            "(pip install -e '.[test]' installs them)"
        )
    server = S3Server(tmp_path_factory.mktemp("moto"), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Media:
    """Where :func:`s3_media` stores files: ``endpoint_url`` and ``bucket``."""

    endpoint_url: str
    bucket: str

    def url(self, name: str) -> str:
        """The bare (unsigned) public URL of the object ``name``, path-style."""
        return f"{self.endpoint_url}/{self.bucket}/{name}"


@pytest.fixture
def s3_media(
    s3_server: S3Server,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> S3Media:
    """The default storage is ``S3Storage`` on a new bucket of :func:`s3_server`.

    Only what a site must give is set: the bucket, the endpoint and the credentials.
    Everything else keeps django-storages' defaults, so files are overwritten under the
    same name and URLs are signed (``querystring_auth``); no custom domain. They are given
    as django-storages' ``AWS_*`` settings, not ``STORAGES["default"]["OPTIONS"]``: on
    Django 4.2 overriding ``STORAGES`` in a test drops its ``OPTIONS``.
    """
    for variable in AWS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    # As django-storages' own tox.ini does: no config or credentials file of the developer.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    bucket = s3_server.create_bucket()
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.AWS_S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.AWS_S3_SECRET_ACCESS_KEY = SECRET_KEY
    settings.STORAGES = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return S3Media(endpoint_url=s3_server.endpoint_url, bucket=bucket)
