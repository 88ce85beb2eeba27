"""Recording twins of the built-in backends, for tests.

Each twin subclasses the real backend, so it keeps its rules (kinds, items per call,
credential validation, rate-limit budgets), but it makes no HTTP call: :meth:`purge`
appends to the active :class:`PurgeRecorder` (or raises the failure queued with
:meth:`PurgeRecorder.fail_next`), and Test connection is one step that reads the
recorder's zone. :func:`~django_cfpurge.testing.capture_purges` swaps them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from django.utils.translation import gettext_lazy

from ..backends.base import Backend, RemoteZone, Step, StepResult, StepStatus, TestContext
from ..backends.bunny import BunnyBackend
from ..backends.cloudflare import CloudflareBackend
from ..backends.cloudflare_images import CloudflareImagesBackend
from ..backends.cloudflare_images.client import DELIVERY_HOST


@dataclass(frozen=True)
class PurgeCall:
    """One purge API call: the zone's identifier, the kind and the items (``()`` for
    everything)."""

    zone_id: str
    kind: str
    items: tuple[Any, ...]


@dataclass
class PurgeRecorder:
    """What the recording backends received.

    :ivar zone_name: the name the CDN reports for every zone (``describe_zone``).
    :ivar plan: the plan it reports.
    """

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
        """Every purged URL, in order (``{url, headers}`` items give their ``url``)."""
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

    def reset(self) -> None:
        """Forget calls and queued failures; back to the default zone and plan."""
        self.calls.clear()
        self.failures.clear()
        self.zone_name = "example.com"
        self.plan = "enterprise"


#: The recorder capture_purges() fills by default (like ``django.core.mail.outbox``).
recorder = PurgeRecorder()
#: The recorder the recording backends write to now.
current = recorder


class RecordedConnection(Step):
    """Test connection of a recording backend: passes, and reads the recorder's zone."""

    key = "recorded"
    label = gettext_lazy("Recorded")

    def run(self, context: TestContext) -> StepResult:
        context.remote = context.backend.describe_zone()
        return StepResult(StepStatus.OK, "Recorded (no request sent).")


class RecordingMixin:
    """Replaces a backend's calls with records; keeps everything it declares."""

    credentials: Any
    #: The hostnames :meth:`describe_zone` reports (none: the zone's own name routes).
    recorded_hostnames: tuple[str, ...] = ()

    def __init__(self, credentials: Any, **options: Any) -> None:
        # Not the backend's own ``__init__``: that one would open an HTTP session.
        Backend.__init__(
            cast(Backend, self),
            credentials,
            plan=options.get("plan", ""),
            max_items=options.get("max_items"),
        )

    def purge(self, kind: str, items: Sequence[Any]) -> str:
        """Record one call (or raise the next queued failure)."""
        limit = self.max_items(kind)  # type: ignore[attr-defined]
        if kind != "everything" and len(items) > limit:
            raise ValueError(f"{len(items)} items in one call; the limit is {limit}")
        if current.failures:
            error = current.failures.pop(0)
            if error is not None:
                raise error
        zone_id = str(getattr(self.credentials, "zone_id", ""))
        current.calls.append(PurgeCall(zone_id, str(kind), tuple(items)))
        return zone_id

    def describe_zone(self) -> RemoteZone:
        """The recorder's zone name and plan."""
        return RemoteZone(
            name=current.zone_name,
            status="active",
            plan=current.plan,
            hostnames=self.recorded_hostnames,
        )

    def close(self) -> None:
        """Nothing to close."""


class RecordingCloudflare(RecordingMixin, CloudflareBackend):
    """The Cloudflare backend, recording instead of sending."""

    step_classes: ClassVar[tuple[type[Step], ...]] = (RecordedConnection,)


class RecordingBunny(RecordingMixin, BunnyBackend):
    """The bunny.net backend, recording instead of sending (one item per call, as
    bunny.net takes them)."""

    step_classes: ClassVar[tuple[type[Step], ...]] = (RecordedConnection,)


class RecordingCloudflareImages(RecordingMixin, CloudflareImagesBackend):
    """The Cloudflare Images backend, recording instead of sending: its calls are
    ``gone``, ``hide`` and ``show`` with one delivery URL each (``recorder.items("gone")``),
    and its zone serves ``imagedelivery.net``."""

    step_classes: ClassVar[tuple[type[Step], ...]] = (RecordedConnection,)
    recorded_hostnames = (DELIVERY_HOST,)
