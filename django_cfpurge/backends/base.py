"""The backend contract: what a CDN backend declares and what it does.

The core of django-cfpurge (the drain, Test connection, the system checks, the admin
form and the rate limiter) knows CDNs only through this contract. A backend is a
class, selected by name from ``CFPURGE["BACKENDS"]`` the way Django selects an email
backend; each zone names its backend. An instance is bound to one zone's validated
credentials and is used for one unit of work (a drain pass, a Test connection), then
closed.

A backend **declares**

* :attr:`Backend.name`, :attr:`Backend.verbose_name`;
* :attr:`Backend.kinds`: the purge kinds it supports, in the order they are sent;
* :meth:`Backend.max_items` / :meth:`Backend.safe_max_items`: items per API call per
  kind (the second is accepted on every plan: a call refused as too large is split to
  it and sent again);
* :meth:`Backend.rate_limit_key`, :meth:`Backend.budget` and :meth:`Backend.cost`: how
  its rate limit is shared (the key names everything that shares one limit, such as
  an account) and what each call costs against which budget;
* :attr:`Backend.credential_fields` and :meth:`Backend.clean_credentials`: the values
  a zone needs, and their validation;
* :attr:`Backend.step_classes`: its Test connection, as ordered :class:`Step` classes;
* :attr:`Backend.tag_header`: the response header its CDN reads cache tags from, with
  its limits (:class:`TagHeader`), or None; pages are tagged through it (see
  :mod:`django_cfpurge.tags`);
* :attr:`Backend.cache_status_header`: where its edge says ``HIT`` or ``MISS``, for the
  check at the edge (:mod:`django_cfpurge.edge`).

and **does**

* :meth:`Backend.purge`: one API call for one kind; it returns a receipt, or raises a
  :class:`~django_cfpurge.exceptions.BackendError` subclass that classifies the answer
  (permanent, transient, rate limited) and carries the error kind and a sentence a
  site owner can act on;
* :meth:`Backend.describe_zone`: what the CDN says about the zone (its name, status,
  plan, hostnames), used to route URLs before anyone ran Test connection.

A backend never touches models or the database: it receives values and returns
answers. ``tests/test_backend_contract.py`` defines a complete backend in a few dozen
lines and runs the whole pipeline with it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..enums import Kind

if TYPE_CHECKING:  # pragma: no cover
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str


@dataclass(frozen=True)
class TagHeader:
    """The response header a CDN reads cache tags from, and its limits.

    :ivar name: the header (``Cache-Tag``, ``CDN-Tag``).
    :ivar max_bytes: the longest value the CDN reads.
    :ivar max_tags: the most tags in one value (None: only ``max_bytes`` counts).
    :ivar max_tag_chars: the longest tag.
    :ivar separator: between two tags in the value.
    :ivar wrap: written before the first tag and after each (``~a~b~``), for a CDN
        that matches a purged tag against the whole value (``*~a~*``); ``""``: none.
    """

    name: str
    max_bytes: int
    max_tags: int | None = None
    max_tag_chars: int = 1024
    separator: str = ","
    wrap: str = ""

    def value(self, tags: Sequence[str]) -> str:
        """The header's value for ``tags``."""
        if self.wrap:
            return self.wrap + self.wrap.join(tags) + self.wrap if tags else ""
        return self.separator.join(tags)

    def parse(self, value: str) -> list[str]:
        """The tags of a value already on a response (the site's own)."""
        splitter = self.wrap or self.separator
        return [t.strip() for t in value.split(splitter) if t.strip()]

    def fits(self, tags: Sequence[str]) -> bool:
        """Whether ``tags`` fit in one value."""
        if self.max_tags is not None and len(tags) > self.max_tags:
            return False
        if any(len(t) > self.max_tag_chars for t in tags):
            return False
        return len(self.value(tags).encode()) <= self.max_bytes


@dataclass(frozen=True)
class CredentialField:
    """One value a zone of this backend needs.

    :ivar name: the zone column that stores it: ``zone_id``, ``account_id``,
        ``api_token``, ``email`` or ``api_key``.
    :ivar label: what the admin calls it for this backend ("Pull zone ID").
    :ivar secret: never shown again once stored; encrypted at rest.
    :ivar required: needed for every authentication kind of the backend (otherwise
        :meth:`Backend.clean_credentials` decides).
    :ivar help_text: where to find the value.
    :ivar auth_kind: for backends with several ways to authenticate, the
        :attr:`Backend.auth_kinds` value this field belongs to ("" for all).
    """

    name: str
    label: StrOrPromise
    secret: bool = False
    required: bool = True
    help_text: StrOrPromise = ""
    auth_kind: str = ""

    @property
    def setting(self) -> str:
        """The key of a zone in ``CFPURGE`` that gives this value (``"API_TOKEN"``)."""
        return self.name.upper()


@dataclass(frozen=True)
class RateBudget:
    """A budget shared by every worker that purges for one :meth:`Backend.rate_limit_key`:
    at most :attr:`capacity` units in any span of :attr:`window` seconds.

    :ivar family: budgets with the same family share their counters (Cloudflare's
        tag, host, prefix and "everything" purges share one bucket).
    """

    family: str
    capacity: int
    window: float

    @property
    def rate(self) -> float:
        """The long-run rate, in units per second."""
        return self.capacity / self.window


@dataclass(frozen=True)
class RemoteZone:
    """What the CDN says about a zone (all optional but :attr:`name`)."""

    name: str
    status: str = ""
    plan: str = ""
    plan_name: str = ""
    account_id: str = ""
    hostnames: tuple[str, ...] = ()
    paused: bool = False


class StepStatus(models.TextChoices):
    """The outcome of one Test connection step."""

    OK = "ok", _("passed")
    WARNING = "warning", _("warning")
    ERROR = "error", _("failed")
    SKIPPED = "skipped", _("skipped")


@dataclass
class StepResult:
    """What one step found.

    :ivar skip_reason: with :attr:`StepStatus.ERROR`, the sentence given for every
        later step, which the runner skips ("Skipped: the credentials were not
        accepted.").
    """

    status: StepStatus
    message: str
    skip_reason: str = ""


@dataclass
class TestContext:
    """Shared by the steps of one Test connection: the backend under test, and what the
    steps learn for the zone (shown in the admin, stored on the zone).

    :ivar site_hostnames: the hostname patterns the site routes to this zone, so a
        step can tell which the CDN does not serve.
    """

    backend: Backend
    site_hostnames: tuple[str, ...] = ()
    remote: RemoteZone | None = None
    token_status: str = ""
    token_expires_on: datetime | None = None
    account_id: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a pytest test class


class Step(ABC):
    """One Test connection step. Subclasses set :attr:`key` and :attr:`label` and
    implement :meth:`run`; a :class:`~django_cfpurge.exceptions.BackendError` raised by
    ``run`` is described by :meth:`Backend.describe_error` (with :attr:`doing`)."""

    key: ClassVar[str]
    label: ClassVar[StrOrPromise]
    #: What the step does, for "…(verifying the token; HTTP 429)" sentences.
    doing: ClassVar[StrOrPromise] = ""

    @abstractmethod
    def run(self, context: TestContext) -> StepResult:
        """Check one thing; return its result (never a secret in the message)."""


class Backend(ABC):
    """A CDN. See the module documentation for the contract.

    :param credentials: what :meth:`clean_credentials` returned for the zone.
    :param plan: the zone's plan as the CDN names it, when known (limits follow it).
    :param max_items: a learnt per-call limit for ``files`` that overrides
        :meth:`max_items` (a zone that refused larger calls).
    """

    #: The name zones and ``CFPURGE["BACKENDS"]`` use: ``"cloudflare"``.
    name: ClassVar[str]
    verbose_name: ClassVar[StrOrPromise]
    #: Supported purge kinds, in sending order. Targets of other kinds are skipped, with
    #: the reason, on this backend's zones.
    kinds: ClassVar[tuple[str, ...]]
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    #: Ways to authenticate as ``(value, label)`` pairs, the first recommended; empty
    #: when there is only one.
    auth_kinds: ClassVar[tuple[tuple[str, StrOrPromise], ...]] = ()
    #: The Test connection steps (see :meth:`test_steps`), in order.
    step_classes: ClassVar[tuple[type[Step], ...]] = ()
    #: The label of the zone identifier in messages ("Zone ID", "Pull zone ID").
    zone_id_label: ClassVar[StrOrPromise] = _("Zone ID")
    #: The response header the CDN reads cache tags from (None: it has none, or the
    #: backend does not purge tags).
    tag_header: ClassVar[TagHeader | None] = None
    #: The response header in which the CDN's edge says whether it answered from its
    #: cache (``HIT``), for the check at the edge (None: it names none).
    cache_status_header: ClassVar[str | None] = None

    def __init__(self, credentials: Any, *, plan: str = "", max_items: int | None = None) -> None:
        self.credentials = credentials
        self.plan = plan
        self.learnt_max_items = max_items

    # -- declarations -----------------------------------------------------------
    @classmethod
    @abstractmethod
    def clean_credentials(cls, values: Mapping[str, str]) -> Any:
        """Validate a zone's raw values (keys: the :attr:`credential_fields` names and
        ``auth_kind``) and return the credentials object the backend is built with.

        :raises ~django_cfpurge.exceptions.InvalidCredentials: the first problem, with
            its ``field`` and a sentence that says where to find the right value.
        """

    @classmethod
    def cleaned_values(cls, values: Mapping[str, str]) -> dict[str, str]:
        """The values as they should be stored: trimmed, normalised (a lower-cased id…).

        :raises ~django_cfpurge.exceptions.InvalidCredentials: as :meth:`clean_credentials`.
        """
        credentials = cls.clean_credentials(values)
        as_values = getattr(credentials, "as_values", None)
        cleaned = {name: str(value or "").strip() for name, value in values.items()}
        if callable(as_values):
            cleaned.update(as_values())
        return cleaned

    @classmethod
    def credential_warning(cls, values: Mapping[str, str]) -> str:
        """A least-privilege warning about valid credentials (a legacy key that can do
        anything on the account), or ``""``."""
        return ""

    @classmethod
    def has_secret(cls, values: Mapping[str, str]) -> bool:
        """True when the values hold what is needed to authenticate (possibly wrong)."""
        return any(values.get(f.name) for f in cls.credential_fields if f.secret)

    @abstractmethod
    def max_items(self, kind: str) -> int:
        """Items per API call for ``kind`` on this zone."""

    def safe_max_items(self, kind: str) -> int:
        """Items per call the CDN accepts on every plan (a call refused as too large is
        split to this size and sent again). Defaults to :meth:`max_items`."""
        return self.max_items(kind)

    @abstractmethod
    def rate_limit_key(self) -> str:
        """What shares one rate limit (an account id, a hash of an API key…). Shown in
        cache keys, so never a secret."""

    @abstractmethod
    def budget(self, kind: str) -> RateBudget:
        """The budget an API call of ``kind`` spends (for this zone's plan)."""

    def cost(self, kind: str, n_items: int) -> int:
        """What one call of ``kind`` with ``n_items`` items costs against
        :meth:`budget`. Default: one per call."""
        return 1

    # -- actions ----------------------------------------------------------------
    @abstractmethod
    def purge(self, kind: str, items: Sequence[Any]) -> str:
        """Make ONE API call that purges ``items`` (at most :meth:`max_items`; ``[]``
        for ``everything``) and return the CDN's receipt (an id, or ``""``).

        :raises ~django_cfpurge.exceptions.BackendError: a subclass that classifies
            the answer.
        """

    @abstractmethod
    def describe_zone(self) -> RemoteZone:
        """Ask the CDN about the zone.

        :raises ~django_cfpurge.exceptions.BackendError: it could not be read.
        """

    def test_steps(self) -> list[Step]:
        """The Test connection steps after the local check of the values, in order.
        Default: one instance of each of :attr:`step_classes`."""
        return [cls() for cls in self.step_classes]

    def describe_error(self, error: Exception, *, doing: StrOrPromise) -> str:
        """A sentence for an error a step did not describe itself. Default: the
        error's own message."""
        return str(error)

    def close(self) -> None:  # noqa: B027  (optional hook: most backends hold a session)
        """Release connections. Called once the unit of work is over."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.rate_limit_key()!r}>"


def items_of(kind: str, items: Sequence[Any]) -> int:
    """How many items a call carries, for counting (``everything`` is one)."""
    return 1 if kind == Kind.EVERYTHING else len(items)
