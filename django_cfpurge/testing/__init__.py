"""Helpers for testing a site that uses django-cfpurge, without any network.

* :func:`capture_purges` — drains run against :class:`FakeCloudflareClient`, which
  records every API call instead of sending it;
* :class:`FakeCloudflareClient` — the recording client; can be told to fail;
* :mod:`django_cfpurge.testing.fake_cloudflare` — a fake Cloudflare HTTP server
  (API and edge cache) for integration tests with real processes;
* pytest fixtures ``cfpurge_capture`` and ``fake_cloudflare_server``: add
  ``pytest_plugins = ["django_cfpurge.testing"]`` to your ``conftest.py``.

Importing this module needs no network and no Celery worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..credentials import Credentials

__all__ = [
    "FakeCloudflareClient",
    "PurgeCall",
    "PurgeRecorder",
    "capture_purges",
]


@dataclass(frozen=True)
class PurgeCall:
    """One purge API call: zone id, kind and items (``[]`` for everything)."""

    zone_id: str
    kind: str
    items: tuple[Any, ...]


@dataclass
class PurgeRecorder:
    """What :class:`FakeCloudflareClient` received. Shared by every client built from it."""

    calls: list[PurgeCall] = field(default_factory=list)
    failures: list[BaseException | None] = field(default_factory=list)
    zone_name: str = "example.com"
    plan: str = "enterprise"

    def fail_next(self, *errors: BaseException | None) -> None:
        """Make the next purge calls raise these errors, in order (``None``: that call
        succeeds, so ``fail_next(None, error)`` fails the second call)."""
        self.failures.extend(errors)

    @property
    def urls(self) -> list[str]:
        """Every purged URL, in order (dict items give their ``url``)."""
        return [
            item["url"] if isinstance(item, dict) else item
            for call in self.calls
            if call.kind == "files"
            for item in call.items
        ]

    def items(self, kind: str) -> list[Any]:
        """Every purged item of one kind (``files``, ``tags``, ``hosts``, ``prefixes``)."""
        return [item for call in self.calls if call.kind == kind for item in call.items]

    @property
    def everything(self) -> int:
        """How many purge-everything calls were made."""
        return sum(1 for call in self.calls if call.kind == "everything")

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()


class FakeCloudflareClient:
    """Stands in for :class:`~django_cfpurge.cloudflare.CloudflareClient`; records calls.

    Build with a :class:`PurgeRecorder`: ``partial(FakeCloudflareClient, recorder=r)``.
    """

    def __init__(
        self, credentials: Credentials, *, recorder: PurgeRecorder, max_items: int = 30
    ) -> None:
        self.credentials = credentials
        self.recorder = recorder
        self.max_items = max_items

    def limit_for(self, kind: str) -> int:
        """Items per call for ``kind`` (as the real client)."""
        return self.max_items if kind == "files" else min(self.max_items, 100)

    def purge_request(self, kind: str, items: list[Any]) -> str:
        """Record one purge call (or raise the next queued failure)."""
        if len(items) > self.limit_for(kind):
            raise ValueError(f"{len(items)} items in one call; the limit is {self.limit_for(kind)}")
        if self.recorder.failures:
            error = self.recorder.failures.pop(0)
            if error is not None:
                raise error
        self.recorder.calls.append(PurgeCall(self.credentials.zone_id, kind, tuple(items)))
        return self.credentials.zone_id

    def verify_token(self) -> Any:
        """An active token with no expiry."""
        from ..cloudflare import TokenInfo

        return TokenInfo(
            id="0" * 32,
            status="active",
            not_before=None,
            expires_on=None,
            endpoint="user",
            messages=(),
        )

    def get_zone(self) -> Any:
        """A zone named after the recorder's ``zone_name``."""
        from ..cloudflare import ZoneInfo

        return ZoneInfo(
            id=self.credentials.zone_id,
            name=self.recorder.zone_name,
            status="active",
            paused=False,
            plan_legacy_id=self.recorder.plan,
            plan_name=self.recorder.plan.title(),
            account_id="",
            permissions=None,
        )

    def close(self) -> None:
        """Nothing to close."""


@contextmanager
def capture_purges(recorder: PurgeRecorder | None = None) -> Iterator[PurgeRecorder]:
    """Drains inside the block use :class:`FakeCloudflareClient`; yields its recorder.

    Changes still go through the outbox; run the drain with
    ``django_cfpurge.drain.drain()`` (or ``call_command("cfpurge", "drain")``)
    and inspect ``recorder.urls``. A zone must exist (see :func:`make_zone`).
    """
    from functools import partial

    from .. import drain

    recorder = recorder or PurgeRecorder()
    factory = partial(FakeCloudflareClient, recorder=recorder)
    drain._client_factory_override.append(factory)
    try:
        yield recorder
    finally:
        drain._client_factory_override.remove(factory)


#: Identifiers safe to use in tests (Cloudflare's own documentation examples).
TEST_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
TEST_ACCOUNT_ID = "eb78d65290b24279ba6f44721b3ea3c4"
TEST_TOKEN = "8M7wS6hCpXVc-DoRnPPY_UCWPgy8aea4Wy6kCe5T"  # noqa: S105  (a documented example)


def make_zone(name: str = "example.com", **fields: Any) -> Any:
    """Create (or update) a :class:`~django_cfpurge.models.CloudflareZone` for tests."""
    from ..models import CloudflareZone

    defaults = {"zone_id": TEST_ZONE_ID, "api_token": TEST_TOKEN, "plan": "enterprise", **fields}
    zone, _ = CloudflareZone.objects.update_or_create(name=name, defaults=defaults)
    return zone


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
        with capture_purges() as recorder:
            yield recorder

    @pytest.fixture
    def fake_cloudflare_server() -> Iterator[Any]:
        """A running :class:`~django_cfpurge.testing.fake_cloudflare.FakeCloudflare`
        server; ``CFPURGE["API_URL"]`` should point at its ``api_url``."""
        from .fake_cloudflare import FakeCloudflare

        with FakeCloudflare() as server:
            yield server


# -- fake bunny.net and Cloudflare Images APIs ---------------------------------------------
# Fixtures beside ``fake_cloudflare_server``: running fakes, stopped at the end of the test.

try:  # pytest fixtures, when pytest is installed
    import pytest as _pytest
except ImportError:  # pragma: no cover
    pass
else:

    @_pytest.fixture
    def fake_bunny_server() -> Iterator[Any]:
        """A running :class:`~django_cfpurge.testing.bunny_api.FakeBunny`; its ``api_url``
        stands for ``https://api.bunny.net``."""
        from .bunny_api import FakeBunny

        with FakeBunny() as server:
            yield server

    @_pytest.fixture
    def fake_cloudflare_images_server() -> Iterator[Any]:
        """A running
        :class:`~django_cfpurge.testing.cloudflare_images_api.FakeCloudflareImages`; its
        ``api_url`` stands for ``https://api.cloudflare.com/client/v4``."""
        from .cloudflare_images_api import FakeCloudflareImages

        with FakeCloudflareImages() as server:
            yield server
