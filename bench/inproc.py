"""Benchmark sections measured inside one Django process.

a. request-path cost of a registered model (save, delete) against the same model unregistered;
b. the load-time snapshot's cost on reads;
c. Cloudflare API calls against the ideal ``ceil(N / batch)``, drained in this process
   against the fake Cloudflare HTTP server.

Started by ``bench/run.py`` with the ``CFPURGE_IT_*`` variables of
``tests/integration/settings.py`` (database URL; the broker is ``memory://`` so that the
dispatch after each commit really happens without a network). Writes its results as JSON::

    python bench/inproc.py --sections a,b,c --result out.json [--quick]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from common import ORIGIN, median, setup_django, write_json, zone_settings

PHOTO_REGISTRATION = {"fields": ["image"], "watch": ["is_public", "folder"]}
OPS = ("create", "save_file", "save_other", "delete")


# -- helpers ------------------------------------------------------------------------------------


def set_registered(flag: bool) -> None:
    """Register ``Photo`` (file field + two watched fields) or unregister it."""
    from django_cfpurge.registry import registry
    from tests.testapp.models import Photo

    if flag and Photo not in registry:
        registry.register(Photo, **PHOTO_REGISTRATION)
    elif not flag and Photo in registry:
        registry.unregister(Photo)


class NetworkCounter:
    """Counts Python socket connects and HTTP requests sent through ``requests``.

    PostgreSQL is reached through libpq, not Python sockets, so database traffic is not
    counted; anything else leaving the process (Cloudflare, a broker, a cache) would be.
    """

    def __init__(self) -> None:
        self.connects = 0
        self.http = 0
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> NetworkCounter:
        import socket

        import requests.adapters

        def counting(owner: Any, name: str, attr: str) -> None:
            original = getattr(owner, name)

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                setattr(self, attr, getattr(self, attr) + 1)
                return original(*args, **kwargs)

            self._saved.append((owner, name, original))
            setattr(owner, name, wrapper)

        counting(socket.socket, "connect", "connects")
        counting(socket.socket, "connect_ex", "connects")
        counting(requests.adapters.HTTPAdapter, "send", "http")
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


@contextmanager
def counting_dispatches() -> Iterator[dict[str, int]]:
    """Count on-commit dispatches, and the drain tasks they published (one per window)."""
    from django_cfpurge import dispatch
    from django_cfpurge.tasks import drain_outbox

    counts = {"on_commit": 0, "published": 0}
    original_dispatch = dispatch.dispatch_drain
    original_apply = drain_outbox.apply_async

    def dispatch_drain() -> bool:
        counts["on_commit"] += 1
        return original_dispatch()

    def apply_async(*args: Any, **kwargs: Any) -> Any:
        counts["published"] += 1
        return original_apply(*args, **kwargs)

    # schedule_drain() looks dispatch_drain up in its module when it registers the callback.
    dispatch.dispatch_drain = dispatch_drain
    drain_outbox.apply_async = apply_async
    try:
        yield counts
    finally:
        dispatch.dispatch_drain = original_dispatch
        del drain_outbox.apply_async


def timed(fn: Callable[[], Any]) -> float:
    """Microseconds taken by ``fn()``."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1000


# -- a. request path ----------------------------------------------------------------------------


def outbox_row(photo: Any, pk: Any, event: str, old: str | None, new: str | None) -> None:
    """INSERT the row the receivers would write for this change, by hand (the floor).

    The same plain INSERT the receivers use, so that "registered / bare INSERT" is the
    cost of the receivers, the snapshot and the dispatch alone.
    """
    from django.db import router

    from django_cfpurge.models import PurgeChange
    from django_cfpurge.outbox.ingest import payload_text
    from django_cfpurge.outbox.sql import insert_change

    change = {
        "files": {"image": [old, new]},
        "fields": {},
        "values": {"is_public": photo.is_public, "folder": photo.folder_id},
        "current": {"image": new} if new else {},
    }
    payload = payload_text("testapp.Photo", str(pk), str(photo), event, change)
    insert_change(router.db_for_write(PurgeChange), PurgeChange, payload)


MARKER_TABLE = "bench_marker"


def create_marker_table() -> None:
    """The smallest table a change could be written to: an id and one text column."""
    from django.db import connection

    key = "bigserial" if connection.vendor == "postgresql" else "integer"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id {key} PRIMARY KEY, note text)"
        )


def marker_row() -> None:
    """One row in the one-column table: the floor of any row written with a change."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {MARKER_TABLE} (note) VALUES (%s)", ["photos/x.jpg"])  # noqa: S608


def one_object(samples: dict[str, list[float]], *, mode: str = "unregistered") -> None:
    """Create, change its file, change an untracked field, delete: each its own transaction.

    ``mode`` ``floor``: the model is unregistered and each change that the package would
    record INSERTs the same outbox row by hand, in the same transaction: the cost of the
    outbox row itself, without receivers, snapshot or dispatch. ``marker``: the same,
    with one row of one text column in a table without indexes instead: what a row in
    any second table costs, however small.
    """
    from django.db import transaction

    from tests.testapp.models import Photo

    name = uuid.uuid4().hex
    first, second = f"photos/{name}.jpg", f"photos/{name}-v2.jpg"

    def atomic(action: Callable[[], Any], row: Callable[[], None] | None = None) -> float:
        # The controls write only where the package would record the change (``row``).
        extra = None if row is None else {"floor": row, "marker": marker_row}.get(mode)

        def run() -> None:
            with transaction.atomic():
                action()
                if extra is not None:
                    extra()

        return timed(run)

    photo = Photo(title="bench", image=first)
    samples["create"].append(
        atomic(photo.save, lambda: outbox_row(photo, photo.pk, "created", None, first))
    )
    # Later operations start from a freshly loaded instance, as a request would.
    photo = Photo.objects.get(pk=photo.pk)
    photo.image = second
    samples["save_file"].append(
        atomic(photo.save, lambda: outbox_row(photo, photo.pk, "replaced", first, second))
    )
    photo = Photo.objects.get(pk=photo.pk)
    photo.views += 1
    samples["save_other"].append(atomic(photo.save))
    photo = Photo.objects.get(pk=photo.pk)
    pk = photo.pk
    samples["delete"].append(
        atomic(photo.delete, lambda: outbox_row(photo, pk, "deleted", second, None))
    )


MODES = ("registered", "unregistered", "floor", "marker")


def request_path(iterations: int, block: int) -> dict[str, Any]:
    """Section a: per-operation medians of each mode, interleaved in blocks."""
    from django_cfpurge.models import PurgeChange

    create_marker_table()
    samples = {mode: {op: [] for op in OPS} for mode in MODES}
    warmup = {op: [] for op in OPS}
    for mode in MODES:  # warm caches, prepared statements, signal caches
        set_registered(mode == "registered")
        for _ in range(max(10, block // 2)):
            one_object(warmup, mode=mode)
    rows = 0
    with NetworkCounter() as network, counting_dispatches() as dispatches:
        done, index = 0, 0
        while done < iterations:
            # ABCD DCBA order so that a drift over the run favours no mode.
            for mode in MODES if index % 2 == 0 else MODES[::-1]:
                set_registered(mode == "registered")
                before = PurgeChange.objects.count()
                for _ in range(block):
                    one_object(samples[mode], mode=mode)
                if mode == "registered":
                    rows += PurgeChange.objects.count() - before
            done += block
            index += 1
    set_registered(False)
    ops = {}
    for op in OPS:
        registered = median(samples["registered"][op])
        unregistered = median(samples["unregistered"][op])
        floor = median(samples["floor"][op])
        marker = median(samples["marker"][op])
        ops[op] = {
            "registered_us": registered,
            "unregistered_us": unregistered,
            "floor_us": floor,
            "marker_us": marker,
            "ratio": registered / unregistered,
            "ratio_to_floor": registered / floor,
            "marker_ratio": marker / unregistered,
        }
    return {
        "iterations": done,
        "ops": ops,
        "http_requests": network.http,
        "socket_connects": network.connects,
        "outbox_rows": rows,
        "on_commit_dispatches": dispatches["on_commit"],
        "tasks_published": dispatches["published"],
    }


# -- b. reads -----------------------------------------------------------------------------------


def reads(count: int, repeats: int) -> dict[str, Any]:
    """Section b: load ``count`` Photos, registered (snapshot on load) vs unregistered."""
    from tests.testapp.models import Photo

    set_registered(False)
    Photo.objects.all().delete()
    Photo.objects.bulk_create(
        [Photo(title=f"p{i}", image=f"photos/read-{i}.jpg") for i in range(count)],
        batch_size=2000,
    )
    times: dict[str, list[float]] = {"registered": [], "unregistered": []}
    modes = ("registered", "unregistered")
    for index in range(repeats + 1):
        for mode in modes if index % 2 == 0 else modes[::-1]:
            set_registered(mode == "registered")
            gc.collect()
            elapsed = timed(lambda: list(Photo.objects.all()))
            if index:  # the first round warms up
                times[mode].append(elapsed)
    set_registered(False)
    registered, unregistered = median(times["registered"]), median(times["unregistered"])
    return {
        "count": count,
        "repeats": repeats,
        "registered_ms": registered / 1000,
        "unregistered_ms": unregistered / 1000,
        "ratio": registered / unregistered,
        "extra_us_per_instance": (registered - unregistered) / count,
    }


# -- c. API calls -------------------------------------------------------------------------------


@contextmanager
def cfpurge_overrides(**values: Any) -> Iterator[None]:
    from django.conf import settings
    from django.test import override_settings

    with override_settings(CFPURGE={**settings.CFPURGE, **values}):
        yield


def fresh(fake: Any) -> None:
    """Empty the outbox, the limiter's cache and the fake's records and buckets."""
    from django.core.cache import caches

    from django_cfpurge.models import PurgeChange, PurgeRequest

    PurgeRequest.objects.all().delete()
    PurgeChange.objects.all().delete()
    caches["default"].clear()
    fake.reset()


def calls_made(fake: Any) -> dict[str, Any]:
    purge_requests = fake.requests(route="purge")
    urls = fake.purged_urls()
    return {
        "calls": len(purge_requests),
        "rejected": sum(1 for r in purge_requests if r["status"] != 200),
        "urls_sent": len(urls),
        "distinct_urls": len(set(urls)),
    }


def api_calls_for(fake: Any, n: int, batch: int, shape: str) -> dict[str, Any]:
    """Purge ``n`` distinct URLs (one row holding them all, or one row each); count calls."""
    from django_cfpurge import api
    from django_cfpurge.drain import drain
    from django_cfpurge.models import PurgeRequest

    fresh(fake)
    prefix = uuid.uuid4().hex[:8]
    urls = [f"{ORIGIN}/media/c/{prefix}/{i}.jpg" for i in range(n)]
    with cfpurge_overrides(MAX_ITEMS_PER_REQUEST=batch):
        if shape == "one row":
            api.purge_urls(urls)
        else:
            PurgeRequest.objects.bulk_create(
                [
                    PurgeRequest(
                        source=PurgeRequest.Source.API,
                        event=PurgeRequest.Event.MANUAL,
                        targets={"files": [url]},
                        change={"explicit": True},
                    )
                    for url in urls
                ],
                batch_size=2000,
            )
        started = time.monotonic()
        report = drain()
        seconds = time.monotonic() - started
    result = calls_made(fake)
    result.update(
        n=n,
        batch=batch,
        shape=shape,
        rows=1 if shape == "one row" else n,
        passes=report.passes,
        ideal=math.ceil(n / batch),
        seconds=seconds,
    )
    return result


def burst(fake: Any, objects: int, saves: int, batch: int) -> dict[str, Any]:
    """``saves`` committed saves spread over ``objects`` registered Photos, then one drain."""
    from django.db import transaction

    from django_cfpurge.drain import drain
    from django_cfpurge.models import PurgeChange
    from tests.testapp.models import Photo

    fresh(fake)
    set_registered(True)
    prefix = uuid.uuid4().hex[:8]
    photos = [Photo.objects.create(image=f"photos/burst-{prefix}-{i}.jpg") for i in range(objects)]
    PurgeChange.objects.all().delete()  # the creations are not part of the burst
    for i in range(saves):
        photo = photos[i % objects]
        photo.is_public = not photo.is_public
        with transaction.atomic():
            photo.save()
    rows = PurgeChange.objects.count()
    with cfpurge_overrides(MAX_ITEMS_PER_REQUEST=batch):
        report = drain()
    set_registered(False)
    result = calls_made(fake)
    result.update(
        objects=objects,
        saves=saves,
        rows=rows,
        batch=batch,
        passes=report.passes,
        ideal=math.ceil(objects / batch),
    )
    return result


def api_calls(fake: Any, sizes: list[int], burst_objects: int, burst_saves: int) -> dict[str, Any]:
    """Section c."""
    scenarios = []
    for batch in (30, 100):
        for n in sizes:
            for shape in ("one row", "one row per URL"):
                scenarios.append(api_calls_for(fake, n, batch, shape))
    bursts = [burst(fake, burst_objects, burst_saves, batch) for batch in (30, 100)]
    return {"scenarios": scenarios, "bursts": bursts}


# -- h. a batch size that finds the zone's limit ------------------------------------------------


def batch_size(urls: int) -> dict[str, Any]:
    """Section h: ``urls`` distinct URLs in one row, default settings (no
    ``MAX_ITEMS_PER_REQUEST``), on a zone that takes 100 items per call (Cloudflare's
    current limit) and on one that takes 30 (its older limit): the calls made, the calls
    refused as too large, and the size the zone learnt."""
    from django_cfpurge import api
    from django_cfpurge.drain import drain
    from django_cfpurge.models import PurgeRequest, Zone
    from django_cfpurge.testing.cloudflare_api import DEFAULT_ZONE_ID, FakeCloudflare
    from django_cfpurge.zones import reset_sync_cache

    results = []
    for mode, items in (("current", 100), ("legacy", 30)):
        fake = FakeCloudflare(
            zones=[{"id": DEFAULT_ZONE_ID, "name": "example.com", "plan": "pro"}],
            plan_limits_mode=mode,
        ).start()
        try:
            fresh(fake)
            # The settings zone, as a new zone: nothing learnt yet.
            Zone.objects.all().delete()
            reset_sync_cache()
            with cfpurge_overrides(API_URL=fake.api_url, PLAN="pro", MAX_ITEMS_PER_REQUEST=None):
                prefix = uuid.uuid4().hex[:8]
                row = api.purge_urls([f"{ORIGIN}/media/h/{prefix}/{i}.jpg" for i in range(urls)])
                drain()
                row.refresh_from_db()
                zone = Zone.objects.get()
            calls = fake.requests(route="purge")
            results.append(
                {
                    "zone_items": items,
                    "urls": urls,
                    "calls": len(calls),
                    "refused": sum(1 for c in calls if c["status"] == 400),
                    "accepted": sum(1 for c in calls if c["status"] == 200),
                    "ideal": math.ceil(urls / items),
                    "status": row.status,
                    "learnt": zone.max_items,
                    "distinct_urls": len(set(fake.purged_urls())),
                }
            )
        finally:
            fake.stop()
    PurgeRequest.objects.all().delete()
    return {"runs": results}


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="a,b,c")
    parser.add_argument("--result", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sections = set(args.sections.split(","))

    fake = None
    if "c" in sections:
        from django_cfpurge.testing.cloudflare_api import DEFAULT_ZONE_ID, FakeCloudflare

        # Enterprise: 3,000 URLs/s, so that section c counts calls without waiting long.
        fake = FakeCloudflare(
            zones=[{"id": DEFAULT_ZONE_ID, "name": "example.com", "plan": "enterprise"}]
        ).start()
        os.environ["CFPURGE_IT_API_URL"] = fake.api_url
    setup_django(zone_settings(PLAN="enterprise"))
    from django.db import connection

    results: dict[str, Any] = {"vendor": connection.vendor}
    try:
        if "a" in sections:
            iterations, block = (60, 20) if args.quick else (1200, 50)
            results["a"] = request_path(iterations, block)
        if "b" in sections:
            count, repeats = (1000, 3) if args.quick else (10_000, 15)
            results["b"] = reads(count, repeats)
        if "c" in sections and fake is not None:
            sizes = [1, 30, 31, 100] if args.quick else [1, 30, 31, 1000, 10_000]
            objects, saves = (5, 50) if args.quick else (100, 1000)
            results["c"] = api_calls(fake, sizes, objects, saves)
        if "h" in sections:
            results["h"] = batch_size(1000)
    finally:
        if fake is not None:
            fake.stop()
    write_json(args.result, results)


if __name__ == "__main__":
    main()
