"""bunny.net end to end, with real processes: a registered model changed in a scenario
process, Celery workers on Redis, PostgreSQL, and the fake bunny.net API. Only settings
differ from the Cloudflare runs of ``tests/test_integration.py`` (``BACKEND``,
``ZONE_ID``, ``API_KEY``, ``BUNNY_API_URL``): the site's code does not change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.testing.bunny_api import DEFAULT_ACCESS_KEY, DEFAULT_PULL_ZONE_ID, FakeBunny
from tests.cfapi import validate_request
from tests.procs import CeleryWorker, PostgresServer, RedisServer
from tests.test_integration import Stack, file_url, migrated_database, photo_page

pytestmark = pytest.mark.slow

#: What turns the Cloudflare stack into a bunny.net one.
BUNNY_SETTINGS = {
    "BACKEND": "bunny",
    "ZONE_ID": str(DEFAULT_PULL_ZONE_ID),
    "API_KEY": DEFAULT_ACCESS_KEY,
    "API_TOKEN": "",
    "PLAN": "",
    "HOSTNAMES": ["www.example.com"],
}


@pytest.fixture
def bunny_stack(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Stack]:
    redis_server.flushall()
    database = migrated_database(postgres_server, tmp_path)
    with FakeBunny(seed=3) as fake:
        settings = {**BUNNY_SETTINGS, "BUNNY_API_URL": fake.api_url}
        yield Stack(database, redis_server, fake, tmp_path, cfpurge=settings)  # type: ignore[arg-type]


def purged_since(fake: FakeBunny, seen: set[int]) -> list[tuple[str, str, bool]]:
    """``(kind, URL, exactPath)`` of the purges not in ``seen`` (which they join)."""
    found = [
        (p["kind"], p["items"][0], bool(p.get("exact_path")))
        for p in fake.purges()
        if p["id"] not in seen
    ]
    seen.update(p["id"] for p in fake.purges())
    return found


def test_a_registered_model_purges_through_bunny(
    bunny_stack: Stack, celery_worker_factory: Callable[..., CeleryWorker]
) -> None:
    stack = bunny_stack
    fake: FakeBunny = stack.fake  # type: ignore[assignment]
    worker = celery_worker_factory(stack.env(), name="bunny-worker")
    seen: set[int] = set()

    def step(*args: str) -> tuple[dict[str, Any], list[tuple[str, str, bool]]]:
        facts = stack.scenario(*args)
        stack.wait_drained()
        return facts, purged_since(fake, seen)

    created, sent = step("create", "--name", "bunny-cat.jpg")
    pk, name = created["pk"], created["name"]
    page = photo_page(pk)
    # One URL per call; the page ends in "/": sent with exactPath=true (this pull zone
    # ignores query strings, so bunny.net purges it as a wildcard all the same).
    assert sorted(sent) == sorted([("url", file_url(name), False), ("wildcard", page, True)])

    replaced, sent = step("replace", "--pk", str(pk), "--name", "bunny-dog.jpg")
    assert {url for _k, url, _e in sent} == {file_url(name), file_url(replaced["new"]), page}

    _facts, sent = step("block", "--pk", str(pk))
    assert {url for _k, url, _e in sent} == {file_url(replaced["new"]), page}

    _facts, sent = step("delete", "--pk", str(pk))
    assert {url for _k, url, _e in sent} == {file_url(replaced["new"]), page}

    victim, _sent = step("create", "--name", "bunny-rollback.jpg")
    answer = stack.scenario("rollback", "--pk", str(victim["pk"]), "--name", "never.jpg")
    assert answer["committed"] is False
    barrier, sent = step("create", "--name", "bunny-barrier.jpg")
    # Nothing of the rolled-back changes: only the barrier's own URLs.
    assert {url for _k, url, _e in sent} == {
        file_url(barrier["name"]),
        photo_page(barrier["pk"]),
    }

    assert stack.outbox() == {"done": 6}
    rows = stack.query(
        "SELECT DISTINCT z.backend FROM django_cfpurge_purgerequest r "
        "JOIN django_cfpurge_zone z ON z.id = r.zone_id"
    )
    assert rows == [("bunny",)]
    requests = fake.requests()
    assert {r["route"] for r in requests} == {"purge_url"}
    assert all(r["status"] == 200 and r["credential"] == "default" for r in requests)
    for record in requests:
        # The fake records no credential: the one the worker sent is put back.
        headers = {**record["headers"], "AccessKey": DEFAULT_ACCESS_KEY}
        validate_request(record["method"], f"http://127.0.0.1{record['path']}", headers, b"")
    assert "succeeded" in worker.log()
