"""Helpers for testing a site that uses django-cfpurge, without any network.

* :func:`capture_purges` — inside it, every built-in backend is replaced (through
  ``override_settings(CFPURGE_TEST_BACKENDS=…)``, the way Django's test runner swaps the
  email backend) by a recording twin that keeps the real backend's rules (kinds, items
  per call, credential validation) and records each call in :data:`recorder` instead of
  sending it;
* :class:`PurgeRecorder` — what was purged; it can be told to fail the next calls;
* :func:`make_zone` — a zone for tests;
* fake CDN HTTP APIs for integration tests with real processes:
  :mod:`~django_cfpurge.testing.cloudflare_api`, :mod:`~django_cfpurge.testing.bunny_api`
  and :mod:`~django_cfpurge.testing.cloudflare_images_api`;
* pytest fixtures ``cfpurge_capture``, ``fake_cloudflare_server``, ``fake_bunny_server``
  and ``fake_cloudflare_images_server``: add
  ``pytest_plugins = ["django_cfpurge.testing"]`` to your ``conftest.py``.

Importing this module needs no network and no Celery worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.test import override_settings

from ..backends import TEST_SETTING
from . import recording
from .recording import (
    PurgeCall,
    PurgeRecorder,
    RecordingBunny,
    RecordingCloudflare,
    RecordingCloudflareImages,
    recorder,
)

__all__ = [
    "TEST_ACCOUNT_ID",
    "TEST_BUNNY_API_KEY",
    "TEST_PULL_ZONE_ID",
    "TEST_TOKEN",
    "TEST_ZONE_ID",
    "ZONE_DEFAULTS",
    "PurgeCall",
    "PurgeRecorder",
    "RecordingBunny",
    "RecordingCloudflare",
    "RecordingCloudflareImages",
    "capture_purges",
    "make_zone",
    "recorder",
]

#: The recording twin of each built-in backend.
RECORDING_BACKENDS = {
    "cloudflare": "django_cfpurge.testing.recording.RecordingCloudflare",
    "bunny": "django_cfpurge.testing.recording.RecordingBunny",
    "cloudflare_images": "django_cfpurge.testing.recording.RecordingCloudflareImages",
}


@contextmanager
def capture_purges(target: PurgeRecorder | None = None) -> Iterator[PurgeRecorder]:
    """Drains and Test connections inside the block use the recording backends; yields
    the recorder (cleared first).

    Changes still go through the outbox; run the drain with
    ``django_cfpurge.drain.drain()`` (or ``call_command("cfpurge", "drain")``) and
    inspect ``recorder.urls``. A zone must exist (see :func:`make_zone`).

    :param target: a recorder to fill instead of the module's :data:`recorder`.
    """
    active = target or recorder
    active.reset()
    # A setting of its own (not a key of CFPURGE), so that a test's own
    # override_settings(CFPURGE=...) inside the block keeps the capture.
    with recording_into(active), override_settings(**{TEST_SETTING: dict(RECORDING_BACKENDS)}):
        yield active


@contextmanager
def recording_into(target: PurgeRecorder) -> Iterator[None]:
    """Make the recording backends write into ``target`` inside the block."""
    previous = recording.current
    recording.current = target
    try:
        yield
    finally:
        recording.current = previous


#: Identifiers safe to use in tests (Cloudflare's own documentation examples).
TEST_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
TEST_ACCOUNT_ID = "eb78d65290b24279ba6f44721b3ea3c4"
TEST_TOKEN = "8M7wS6hCpXVc-DoRnPPY_UCWPgy8aea4Wy6kCe5T"  # noqa: S105  (a documented example)
#: A bunny.net pull zone id and API key for tests (made up).
TEST_PULL_ZONE_ID = "1234567"
TEST_BUNNY_API_KEY = "00000000-0000-4000-8000-000000000000-test"

#: :func:`make_zone`'s values by backend, unless given.
ZONE_DEFAULTS: dict[str, dict[str, str]] = {
    "cloudflare": {"zone_id": TEST_ZONE_ID, "api_token": TEST_TOKEN, "plan": "enterprise"},
    "bunny": {"zone_id": TEST_PULL_ZONE_ID, "api_key": TEST_BUNNY_API_KEY},
    "cloudflare_images": {"zone_id": TEST_ACCOUNT_ID, "api_token": TEST_TOKEN},
}


def make_zone(name: str = "example.com", *, backend: str = "cloudflare", **fields: Any) -> Any:
    """Create (or update) a :class:`~django_cfpurge.models.Zone` named ``name`` for tests.

    Unless given, its values are valid test values for ``backend`` (see
    :data:`ZONE_DEFAULTS`): for Cloudflare, the enterprise plan and the documentation's
    example ids and token. ``fields`` are any other fields of the model
    (``hostnames="img.example.com"``…).
    """
    # Imported here: this module is a pytest plugin, loaded before Django's apps are.
    from ..models import Zone

    defaults = {"backend": backend, **ZONE_DEFAULTS.get(backend, {}), **fields}
    zone, _ = Zone.objects.update_or_create(name=name, defaults=defaults)
    return zone


# The fixtures import their fake when used: a site's test run loads this plugin, and
# needs only the fakes its tests ask for.
try:  # pytest fixtures, when pytest is installed
    import pytest
except ImportError:  # pragma: no cover
    pass
else:

    @pytest.fixture
    def cfpurge_capture(db: Any) -> Iterator[PurgeRecorder]:
        """A :class:`PurgeRecorder` capturing every drain of the test, with a zone
        ``example.com`` serving ``.example.com``."""
        make_zone()
        with capture_purges() as captured:
            yield captured

    @pytest.fixture
    def fake_cloudflare_server() -> Iterator[Any]:
        """A running :class:`~django_cfpurge.testing.cloudflare_api.FakeCloudflare`;
        ``CFPURGE["API_URL"]`` should point at its ``api_url``."""
        from .cloudflare_api import FakeCloudflare

        with FakeCloudflare() as server:
            yield server

    @pytest.fixture
    def fake_bunny_server() -> Iterator[Any]:
        """A running :class:`~django_cfpurge.testing.bunny_api.FakeBunny`; its ``api_url``
        stands for ``https://api.bunny.net``."""
        from .bunny_api import FakeBunny

        with FakeBunny() as server:
            yield server

    @pytest.fixture
    def fake_cloudflare_images_server() -> Iterator[Any]:
        """A running
        :class:`~django_cfpurge.testing.cloudflare_images_api.FakeCloudflareImages`; its
        ``api_url`` stands for ``https://api.cloudflare.com/client/v4``."""
        from .cloudflare_images_api import FakeCloudflareImages

        with FakeCloudflareImages() as server:
            yield server
