"""Shared fixtures. Plugins: the Cloudflare wire contract, real-process servers, an S3 API."""

import pytest

pytest_plugins = ["tests.cfapi", "tests.procs", "tests.s3server"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test stores files in its own directory, so names never collide."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _clear_caches():
    """The rate limiter and the dispatch marker live in the cache: start each test clean."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()
    yield


@pytest.fixture(autouse=True)
def _forget_broker_outages():
    """A test that simulates a broker outage must not silence dispatch in the next one."""
    from django_cfpurge.dispatch import forget_published, reset_broker_backoff

    reset_broker_backoff()
    forget_published()
    yield
    reset_broker_backoff()
    forget_published()
