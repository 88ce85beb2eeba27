"""Scripted faults and token-bucket rate limits, shared by the fake APIs.

A fake asks :meth:`Faults.pick` for each request once it knows the route; the answer is
a *fault spec* that the fake renders in its API's own error shape:

* ``{"drop": True}``: close the connection without answering;
* ``{"status": 503, "html": True}``: an HTML error page, as a proxy in front of the API
  would send;
* ``{"status": 429, "retry_after": 3, "code": 1134, "message": "..."}``: a JSON error;
  ``retry_after`` None means no ``Retry-After`` header.

Standard library only; never imports Django.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

#: A scripted answer: an HTTP status, ``"drop"``, or a dict (see the module docstring).
FailSpec: TypeAlias = "int | str | Mapping[str, Any]"
#: Bodies of random 5xx faults: HTML pages, JSON, or half and half.
ERROR_STYLES = ("mixed", "html", "json")


def normalize_fail_spec(spec: FailSpec) -> dict[str, Any]:
    """A ``fail_next`` entry as a dict.

    :raises ValueError: unless it is a status from 400 to 599, ``"drop"`` or such a dict.
    """
    if isinstance(spec, bool):
        raise ValueError("fail_next entries are HTTP statuses, 'drop', or dicts.")
    if isinstance(spec, int):
        spec = {"status": spec}
    elif isinstance(spec, str):
        if spec != "drop":
            raise ValueError(f"fail_next entry {spec!r}: the only string allowed is 'drop'.")
        spec = {"drop": True}
    result = dict(spec)
    if not result.get("drop"):
        status = result.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"fail_next entry {spec!r}: status must be an int from 400 to 599.")
    return result


def _ratio(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1.")
    return value


class Faults:
    """Fault injection of one fake.

    :param routes: route names the random dice may apply to (all of them at first).
    :param scripted: route names that consume :attr:`fail_next`.
    :param seed: seed of the dice, for reproducible runs.
    """

    def __init__(
        self, routes: Sequence[str], scripted: Sequence[str], seed: int | None = None
    ) -> None:
        self.known_routes = tuple(routes)
        self.scripted = tuple(scripted)
        self.error_ratio = 0.0
        self.drop_ratio = 0.0
        self.latency = 0.0
        self.fail_next: list[dict[str, Any]] = []
        self.error_style = "mixed"
        self.routes = self.known_routes
        self.rng = random.Random(seed)  # noqa: S311  (fault dice, not crypto)

    def update(
        self,
        *,
        error_ratio: float | None = None,
        drop_ratio: float | None = None,
        latency: float | None = None,
        fail_next: Sequence[FailSpec] | None = None,
        error_style: str | None = None,
        routes: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> None:
        """Change the given options (None: unchanged); validate everything first.

        :raises ValueError: for a bad value; then nothing changes.
        """
        error = self.error_ratio if error_ratio is None else _ratio(error_ratio, "error_ratio")
        drop = self.drop_ratio if drop_ratio is None else _ratio(drop_ratio, "drop_ratio")
        if error + drop > 1.0:
            raise ValueError("error_ratio + drop_ratio must not exceed 1.")
        if latency is not None and float(latency) < 0:
            raise ValueError("latency must not be negative.")
        if error_style is not None and error_style not in ERROR_STYLES:
            raise ValueError(f"error_style must be one of {ERROR_STYLES}.")
        if routes is not None and set(routes) - set(self.known_routes):
            raise ValueError(f"fault routes must be among {self.known_routes}.")
        script = None if fail_next is None else [normalize_fail_spec(s) for s in fail_next]
        self.error_ratio, self.drop_ratio = error, drop
        if latency is not None:
            self.latency = float(latency)
        if error_style is not None:
            self.error_style = error_style
        if routes is not None:
            self.routes = tuple(routes)
        if script is not None:
            self.fail_next = script
        if seed is not None:
            self.rng.seed(seed)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready data."""
        return {
            "error_ratio": self.error_ratio,
            "drop_ratio": self.drop_ratio,
            "latency": self.latency,
            "fail_next": copy.deepcopy(self.fail_next),
            "error_style": self.error_style,
            "routes": list(self.routes),
        }

    def pick(self, route: str) -> tuple[dict[str, Any] | None, str | None]:
        """The fault for one request to ``route``, and why: ``"fail_next"``, ``"drop"``,
        ``"error"``, or ``(None, None)`` for no fault."""
        if route in self.scripted and self.fail_next:
            return self.fail_next.pop(0), "fail_next"
        if route not in self.routes or (self.drop_ratio <= 0 and self.error_ratio <= 0):
            return None, None
        roll = self.rng.random()
        if roll < self.drop_ratio:
            return {"drop": True}, "drop"
        if roll < self.drop_ratio + self.error_ratio:
            style = self.error_style
            if style == "mixed":
                style = "html" if self.rng.random() < 0.5 else "json"
            return {"status": 503, "html": style == "html"}, "error"
        return None, None


def ceil_seconds(value: float) -> int:
    """Whole seconds to wait, at least 1 (capped at 10**9 for an endless wait)."""
    if math.isinf(value) or value > 10**9:
        return 10**9
    return max(1, math.ceil(value))


class TokenBucket:
    """A classic token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = float(rate)
        self.tokens = float(capacity)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def take(self, cost: float, now: float) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds to wait (nothing taken)."""
        self._refill(now)
        # A request larger than the bucket passes when the bucket is full (and leaves
        # a debt), otherwise it could never pass.
        needed = min(cost, self.capacity)
        if self.tokens >= needed:
            self.tokens -= cost
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (needed - self.tokens) / self.rate

    def remaining(self, now: float) -> int:
        """Whole tokens left."""
        self._refill(now)
        return max(0, int(self.tokens))

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to fill up."""
        return ceil_seconds(self.capacity / self.rate) if self.rate > 0 else 10**9


class Buckets:
    """Token buckets by key, created on first use; ``speed`` multiplies every rate."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._buckets: dict[Any, TokenBucket] = {}

    def take(
        self, key: Any, capacity: float, rate: float, cost: float, now: float
    ) -> tuple[float, TokenBucket]:
        """Take ``cost`` from ``key``'s bucket: ``(seconds to wait or 0.0, the bucket)``."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(capacity, rate * self.speed, now)
        return bucket.take(cost, now), bucket

    def clear(self) -> None:
        """Forget every bucket (all full again)."""
        self._buckets.clear()
