"""The vocabulary of django-cfpurge, defined once: purge kinds, row statuses, events,
sources and error kinds.

Each is a Django ``TextChoices``: the value is what the database stores and the API
speaks (``"files"``, ``"pending"``…), the label is what people read in the admin.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    """What one purge API call carries; a call carries exactly one kind.

    The first five are what a person or code may ask to purge; a backend sends its
    kinds in the order of its ``kinds``. The last three are *file states*: a model
    change lists each file URL under ``files`` (every URL, for CDNs that purge URLs)
    and, when the object's use of it changed, under one of them too, for CDNs that
    store the files themselves (Cloudflare Images deletes or hides an image):

    * ``gone``: the object no longer uses the file (the old name after a replace or a
      rename, every name after a delete);
    * ``hide``: the object still uses it and it must no longer be public (the
      registration's ``private=`` became true, or a new file of a private object);
    * ``show``: the object still uses it and it may be public again.
    """

    FILES = "files", _("URLs")
    PREFIXES = "prefixes", _("prefixes")
    HOSTS = "hosts", _("hostnames")
    TAGS = "tags", _("cache tags")
    EVERYTHING = "everything", _("everything")
    GONE = "gone", _("files no longer used")
    HIDE = "hide", _("files made private")
    SHOW = "show", _("files made public")


#: Every kind, in sending order.
KINDS: tuple[Kind, ...] = tuple(Kind)
#: The kinds a person or code may ask to purge (``purge_urls`` & co., the admin, the
#: ``cfpurge`` command).
EXPLICIT_KINDS: tuple[Kind, ...] = (
    Kind.FILES,
    Kind.PREFIXES,
    Kind.HOSTS,
    Kind.TAGS,
    Kind.EVERYTHING,
)
#: What became of a file URL that a model change also lists under ``files``.
FILE_STATE_KINDS: frozenset[str] = frozenset({Kind.GONE, Kind.HIDE, Kind.SHOW})
#: Kinds whose items are URLs.
URL_KINDS: frozenset[str] = frozenset({Kind.FILES, *FILE_STATE_KINDS})
#: Kinds whose items name a host (routed to the zone serving it).
HOST_KINDS: frozenset[str] = frozenset({*URL_KINDS, Kind.PREFIXES, Kind.HOSTS})


class Status(models.TextChoices):
    """Where a purge request stands."""

    HELD = "held", _("held (suspended)")
    PENDING = "pending", _("waiting")
    DONE = "done", _("purged")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")
    IGNORED = "ignored", _("ignored")
    DROPPED = "dropped", _("dropped")


#: Statuses of rows that are finished (pruned after ``RETENTION_DAYS``).
FINISHED: tuple[Status, ...] = (Status.DONE, Status.SKIPPED, Status.DROPPED, Status.IGNORED)


class Source(models.TextChoices):
    """Who asked for a purge."""

    MODEL = "model", _("model change")
    MANUAL = "manual", _("manual")
    API = "api", _("code")


class Event(models.TextChoices):
    """What happened to the object (or, for explicit purges, that it was asked for)."""

    CREATED = "created", _("created")
    REPLACED = "replaced", _("file replaced")
    RENAMED = "renamed", _("file renamed or moved")
    OVERWRITTEN = "overwritten", _("file overwritten")
    CHANGED = "changed", _("watched field changed")
    DELETED = "deleted", _("deleted")
    BULK = "bulk", _("bulk helper")
    MANUAL = "manual", _("manual")


class ErrorKind(models.TextChoices):
    """Why a row waits, failed or was skipped.

    Each error class of :mod:`django_cfpurge.exceptions` names its kind.
    """

    AUTH = "auth", _("credentials refused")
    ZONE = "zone", _("zone not found")
    CREDENTIALS = "credentials", _("credentials malformed")
    UNREADABLE = "unreadable", _("stored credentials unreadable")
    UNCONFIGURED = "unconfigured", _("no zone configured")
    SETTINGS = "settings", _("a setting is invalid")
    DISABLED = "disabled", _("purging switched off")
    RATE_LIMITED = "rate_limited", _("rate limited")
    SERVER = "server", _("CDN server error")
    NETWORK = "network", _("network")
    INVALID_RESPONSE = "invalid_response", _("unexpected answer")
    REJECTED = "rejected", _("request rejected")
    RESOLVE = "resolve", _("could not resolve URLs")
    UNROUTABLE = "unroutable", _("no zone serves the host")
    TIMEOUT = "timeout", _("timed out")
    ERROR = "error", _("unexpected error")


#: Error kinds that wait for a person to fix the configuration: retried at once when
#: the zone's credentials or settings change, or its Test connection passes.
NEEDS_FIX: tuple[ErrorKind, ...] = (
    ErrorKind.AUTH,
    ErrorKind.ZONE,
    ErrorKind.CREDENTIALS,
    ErrorKind.UNREADABLE,
    ErrorKind.UNCONFIGURED,
    ErrorKind.SETTINGS,
)
#: Error kinds that say nothing about the zone's configuration: a row that failed with
#: one of them is retried once a later purge of its zone succeeds.
TRANSIENT: tuple[ErrorKind, ...] = (
    ErrorKind.RATE_LIMITED,
    ErrorKind.SERVER,
    ErrorKind.NETWORK,
    ErrorKind.INVALID_RESPONSE,
    ErrorKind.TIMEOUT,
)
