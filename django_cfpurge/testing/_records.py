"""What a fake API recorded, and how tests read it: in process or over the control routes.

:class:`RecordQueries` and :class:`PurgeQueries` are mixins that only need two sources,
the request records and the purge records. A fake running in this process reads its own
lists; :class:`RemoteFake` reads them from a fake in another process, over the
``/__fake__`` control routes. So ``fake.purges()`` and ``remote.purges()`` are the same
code.

Standard library only; never imports Django.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

#: Records kept per log; the oldest go first.
MAX_RECORDS = 10_000


def iso_timestamp(ts: float) -> str:
    """``2024-01-02T03:04:05.123456Z`` for a Unix timestamp."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Records:
    """A capped, thread-safe log of JSON-ready dicts, numbered from 1."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._limit = limit
        self._items: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store ``record`` with its ``id``, ``time`` (ISO 8601) and ``timestamp``."""
        now = time.time()
        with self._lock:
            self._seq += 1
            stored = {"id": self._seq, "time": iso_timestamp(now), "timestamp": now, **record}
            self._items.append(stored)
            if len(self._items) > self._limit:
                del self._items[: len(self._items) - self._limit]
        return stored

    def snapshot(self) -> list[dict[str, Any]]:
        """A deep copy of the records, oldest first."""
        with self._lock:
            return copy.deepcopy(self._items)

    def clear(self) -> None:
        """Forget every record; numbering starts again at 1."""
        with self._lock:
            self._items = []
            self._seq = 0


def wait_for(
    fetch: Callable[[], list[dict[str, Any]]],
    count: int,
    timeout: float,
    interval: float,
    what: str = "purge(s)",
) -> list[dict[str, Any]]:
    """Call ``fetch`` until it returns at least ``count`` records; return them.

    :raises TimeoutError: if they are not there after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if len(found) >= count:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"Expected {count} {what} within {timeout}s, saw {len(found)}.")
        time.sleep(interval)


class RecordQueries:
    """``requests()`` over a fake's request records (see the fake's ``requests`` docs)."""

    #: Seconds between two looks while waiting.
    poll_interval = 0.02

    def _request_records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        """Every API request received, oldest first; ``route`` keeps one route's only.

        Each is a dict with ``id``, ``time``, ``timestamp``, ``method``, ``path``,
        ``route``, ``status`` (None when the connection was dropped), ``auth``,
        ``credential`` (an id, never a secret), ``errors``, ``fault``, ``latency``,
        ``body`` and ``headers`` (without credentials or cookies), plus what the API adds.
        """
        return [r for r in self._request_records() if route is None or r["route"] == route]


class PurgeQueries(RecordQueries):
    """``purges()`` and ``wait_for_purges()`` over a fake's purge records."""

    def _purge_records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def purges(self, zone: Any = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Every purge applied, oldest first, optionally for one zone and/or kind.

        Each is a dict with at least ``id``, ``time``, ``timestamp``, ``zone``, ``kind``
        and ``items``.
        """
        return [
            p
            for p in self._purge_records()
            if (zone is None or p["zone"] == zone) and (kind is None or p["kind"] == kind)
        ]

    def wait_for_purges(
        self, count: int = 1, *, timeout: float = 10.0, interval: float | None = None
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` purges were applied; return them all.

        :raises TimeoutError: if they are not there after ``timeout`` seconds.
        """
        return wait_for(self.purges, count, timeout, interval or self.poll_interval)

    def _purged(self, kind: str, zone: Any = None) -> list[Any]:
        return [item for p in self.purges(zone, kind) for item in p["items"]]


class RemoteFake(RecordQueries):
    """Read and steer a fake running in another process, through its control routes.

    :param base_url: the fake's root (``http://127.0.0.1:8787``); its ``api_url`` or
        ``control_url`` works too.
    :param timeout: seconds to wait for each control call.
    """

    #: The API's path prefix, as the fake's class sets it.
    api_prefix = ""
    poll_interval = 0.05

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        root = base_url.rstrip("/")
        for suffix in (self.api_prefix, "/__fake__"):
            if suffix and root.endswith(suffix):
                root = root[: -len(suffix)]
        parts = urlsplit(root)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url must be an http:// URL, not {base_url!r}.")
        self.base_url = root
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    @classmethod
    def from_ready_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Any:
        """Connect to the fake whose URLs are in ``path`` (a JSON object with ``base_url``,
        as a command line's ``--ready-file`` writes it)."""
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return cls(data["base_url"], **kwargs)

    @property
    def api_url(self) -> str:
        """The fake's API URL."""
        return self.base_url + self.api_prefix

    @property
    def control_url(self) -> str:
        """The fake's control URL (``.../__fake__``)."""
        return self.base_url + "/__fake__"

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310  (http URL checked in __init__)
            self.control_url + route,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise RuntimeError(
                f"Control call {method} {route} failed: {error.code} {detail}"
            ) from error

    def health(self) -> dict[str, Any]:
        """The fake's ``/__fake__/health`` answer (``ok``, ``api_url``...)."""
        return self._call("GET", "/health")

    def wait_until_ready(self, timeout: float = 10.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll :meth:`health` until the fake answers; return the answer.

        :raises TimeoutError: if it does not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except OSError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"No fake answers at {self.base_url}") from None
                time.sleep(interval)

    def _request_records(self) -> list[dict[str, Any]]:
        return self._call("GET", "/requests")["requests"]

    def _purge_records(self) -> list[dict[str, Any]]:
        return self._call("GET", "/purges")["purges"]

    def reset(self) -> None:
        """Forget everything recorded and restore the fake's initial state."""
        self._call("POST", "/reset", {})

    def config(self) -> dict[str, Any]:
        """The fake's configuration, without secrets."""
        return self._call("GET", "/config")

    def configure(self, **options: Any) -> None:
        """Change options, as the fake's ``configure``."""
        self._call("POST", "/config", options)

    def set_faults(self, **faults: Any) -> None:
        """Change faults, as the fake's ``set_faults`` (None values are not sent)."""
        values = {k: v for k, v in faults.items() if v is not None}
        if "fail_next" in values:
            values["fail_next"] = list(values["fail_next"])
        self._call("POST", "/config", {"faults": values})

    def add_to_config(self, **lists: list[Mapping[str, Any]]) -> dict[str, Any]:
        """Post lists of objects to add (``zones=[...]``...); return the new configuration."""
        return self._call("POST", "/config", lists)["config"]
