"""Cloudflare Images end to end, with real processes: a registered model whose storage
keeps its images on (the fake) Cloudflare Images, changed in a scenario process; Celery
workers on Redis, PostgreSQL, and the fake Cloudflare Images API. Only settings differ
from the Cloudflare runs of ``tests/test_integration.py``: the backend and its
credentials, the storage, and the registration's ``private=``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.testing.cloudflare_images_api import (
    DEFAULT_ACCOUNT_ID,
    IMAGES_EDIT_TOKEN,
    FakeCloudflareImages,
    account_hash,
)
from tests.cfapi import validate_request
from tests.procs import CeleryWorker, PostgresServer, RedisServer
from tests.test_integration import BASE_CFPURGE, Stack, migrated_database

pytestmark = pytest.mark.slow

ACCOUNT_HASH = account_hash(DEFAULT_ACCOUNT_ID)


@pytest.fixture
def images_stack(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Stack]:
    redis_server.flushall()
    database = migrated_database(postgres_server, tmp_path)
    with FakeCloudflareImages(seed=5) as fake:
        cfpurge = {
            "BACKEND": "cloudflare_images",
            "ZONE_ID": DEFAULT_ACCOUNT_ID,
            "API_TOKEN": IMAGES_EDIT_TOKEN,
            "PLAN": "",
            "HOSTNAMES": ["imagedelivery.net"],
            "MODELS": {
                "testapp.Photo": {
                    **BASE_CFPURGE["MODELS"]["testapp.Photo"],
                    # The pages are another CDN's business: this site has only Images.
                    "urls": [],
                    "private": "!is_public",
                }
            },
        }
        storage = {
            "BACKEND": "tests.imagestorage.ImagesStorage",
            "OPTIONS": {
                "account_hash": ACCOUNT_HASH,
                "api_url": fake.api_url,
                "account_id": DEFAULT_ACCOUNT_ID,
                "token": IMAGES_EDIT_TOKEN,
            },
        }
        settings = {
            "STORAGES": {
                "default": storage,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            }
        }
        yield Stack(database, redis_server, fake, tmp_path, cfpurge=cfpurge, settings=settings)  # type: ignore[arg-type]


def test_a_registered_model_deletes_and_hides_its_images(
    images_stack: Stack, celery_worker_factory: Callable[..., CeleryWorker]
) -> None:
    stack = images_stack
    fake: FakeCloudflareImages = stack.fake  # type: ignore[assignment]
    celery_worker_factory(stack.env(), name="images-worker")
    seen: set[int] = set()

    def step(*args: str) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
        facts = stack.scenario(*args)
        stack.wait_drained()
        new = [c for c in fake.changes() if c["id"] not in seen]
        seen.update(c["id"] for c in new)
        return facts, [(c["kind"], c["image"], c.get("changes")) for c in new]

    created, changes = step("create", "--name", "cat.jpg")
    image = created["name"]
    # The storage uploaded it; the new image needs nothing more.
    assert changes == [("upload", image, None)]

    replaced, changes = step("replace", "--pk", str(created["pk"]), "--name", "dog.jpg")
    new_image = replaced["new"]
    assert changes == [("upload", new_image, None), ("delete", image, None)]

    _facts, changes = step("block", "--pk", str(created["pk"]))
    assert changes == [("patch", new_image, {"requireSignedURLs": True})]
    assert fake.images()[0]["requireSignedURLs"] is True

    _facts, changes = step("delete", "--pk", str(created["pk"]))
    assert changes == [("delete", new_image, None)]
    assert fake.images() == []

    victim, _ = step("create", "--name", "kept.jpg")
    answer, changes = step("rollback", "--pk", str(victim["pk"]), "--name", "never.jpg")
    assert answer["committed"] is False
    # The rolled-back transaction uploaded two images (a storage writes at once) and
    # recorded nothing: no delete, no patch, the kept image untouched.
    assert [kind for kind, _i, _c in changes] == ["upload", "upload"]
    _facts, changes = step("block", "--pk", str(victim["pk"]))
    assert changes == [("patch", victim["name"], {"requireSignedURLs": True})]
    assert victim["name"] in {i["id"] for i in fake.images()}

    rows = stack.query(
        "SELECT r.event, r.status, z.backend FROM django_cfpurge_purgerequest r "
        "JOIN django_cfpurge_zone z ON z.id = r.zone_id ORDER BY r.id"
    )
    assert rows == [
        ("created", "done", "cloudflare_images"),
        ("replaced", "done", "cloudflare_images"),
        ("changed", "done", "cloudflare_images"),
        ("deleted", "done", "cloudflare_images"),
        ("created", "done", "cloudflare_images"),
        ("changed", "done", "cloudflare_images"),
    ]
    for record in fake.requests():
        if record["route"] in ("delete", "patch"):
            # The fake records no credential: the one the worker sent is put back.
            headers = {**record["headers"], "Authorization": f"Bearer {IMAGES_EDIT_TOKEN}"}
            body = b"" if record["body"] is None else json.dumps(record["body"]).encode()
            validate_request(record["method"], f"http://127.0.0.1{record['path']}", headers, body)
