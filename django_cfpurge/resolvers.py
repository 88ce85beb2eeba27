"""From a recorded change to what must be purged: absolute URLs, tags, prefixes.

* File URLs come from the field's own storage (``storage.url(name)``), so custom
  storages and CDNs with their own domain work.
* A relative URL (``MEDIA_URL = "/media/"``) is made absolute with every origin of
  ``BASE_URLS``: the cache key holds scheme and host.
* The registration's ``urls=``, ``tags=`` and ``prefixes=`` add what pages show the
  object; an item they return that cannot be purged is skipped with the reason.
* With page tags on (:mod:`django_cfpurge.tags`), the object's tag, its model's tag and,
  when the change can alter what a query finds, its model's listing tag: every page
  that showed the object, or listed the model, without a ``urls=`` list.
* Each file URL is also given its state when the object's use of it changed (see
  :class:`~django_cfpurge.enums.Kind`): ``gone`` (no longer used), ``hide`` (must no
  longer be public, by the registration's ``private=``) or ``show`` (may be public
  again). CDNs that purge URLs take ``files``, which lists every URL as before; CDNs that
  store the files take the states.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils.translation import gettext

from .changes import Change, unique
from .enums import FILE_STATE_KINDS, Event, Kind, Source
from .exceptions import CfPurgeConfigurationError, InvalidTarget
from .registry import Registration, TargetSpec, registry
from .tags import change_tags, page_tags_enabled
from .targets import clean_file, clean_prefix, clean_tag

logger = logging.getLogger(__name__)


@dataclass
class Resolution:
    """What a row purges, by kind, and what it cannot purge (with the reason).

    :ivar targets: the kinds a person or code may ask for (``files``, ``tags``…).
    :ivar states: the file states of a model change (``gone``, ``hide``, ``show``): URLs
        that ``targets["files"]`` lists too.
    """

    targets: dict[str, list[Any]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    states: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, kind: str, items: list[Any]) -> None:
        """Add items of ``kind`` (repeats dropped)."""
        if not items:
            return
        into = self.states if kind in FILE_STATE_KINDS else self.targets
        into[kind] = unique([*into.get(kind, []), *items])

    def all_targets(self) -> list[tuple[str, list[Any]]]:
        """``(kind, items)`` of the targets, then of the file states."""
        return [*self.targets.items(), *self.states.items()]

    def skip(self, target: str, reason: str) -> None:
        """Record a target that is not purged, and why."""
        self.skipped.append({"target": target, "reason": reason})


def change_for(row: Any, registration: Registration | None) -> Change:
    """The :class:`Change` recorded on an outbox row (loads the instance if it exists)."""
    model = registration.model if registration else None
    instance = None
    if model is not None and row.event != "deleted" and row.object_pk:
        instance = model._base_manager.filter(pk=row.object_pk).first()
    return Change.from_payload(
        row.event, row.change or {}, model=model, pk=row.object_pk, instance=instance
    )


def file_urls(registration: Registration, field_name: str, name: str) -> list[str]:
    """Public URLs of the file ``name`` stored by ``field_name``'s storage."""
    field_obj = registration.model._meta.get_field(field_name)
    if not isinstance(field_obj, models.FileField):  # register() accepts file fields only
        raise CfPurgeConfigurationError(
            gettext("%(field)s is not a file field.")
            % {"field": f"{registration.label}.{field_name}"}
        )
    return [str(url) for url in clean_file(field_obj.storage.url(name))]


def _spec_values(spec: TargetSpec, change: Change) -> list[str]:
    if spec is None:
        return []
    values = spec(change) if callable(spec) else spec
    if isinstance(values, str):
        # A callable that returns one URL means that URL, not its characters.
        values = [values]
    return [str(v) for v in (values or []) if v]


def _visibility(before: bool | None, after: bool, *, new_file: bool, event: str) -> Kind | None:
    """``hide``, ``show`` or None (nothing to change) for a file the object still uses.

    :param before: private before the change; None when unknown (a creation, the bulk
        helper) — a new upload is public.
    :param after: private after it.
    :param new_file: the name is new to the object (an upload or a rename).
    """
    if after:
        return Kind.HIDE if before is not True or new_file else None
    if before is True or (before is None and event == Event.BULK):
        # The bulk helper says what the object is now, not what changed: assert it.
        return Kind.SHOW
    return None


def _privacy(registration: Registration, change: Change) -> tuple[bool | None, bool | None]:
    """Whether the object was, and is, private: ``(before, after)``; ``after`` is None
    when the registration has no ``private=`` or the object was deleted."""
    if registration.private is None or change.event == Event.DELETED:
        return None, None
    after = registration.is_private(change)
    if change.event in (Event.CREATED, Event.BULK):
        return None, after
    return registration.is_private(change.before()), after


def add_file_states(registration: Registration, change: Change, result: Resolution) -> None:
    """Add the ``gone``/``hide``/``show`` URLs of a change (see the module documentation)."""
    kept = set(change.current_names)
    before, after = _privacy(registration, change)
    for field_name in registration.fields:
        old, new = change.files.get(field_name, (None, None))
        if old and old not in kept:
            result.add(Kind.GONE, file_urls(registration, field_name, old))
        current = change.current.get(field_name)
        if not current or after is None:
            continue
        state = _visibility(before, after, new_file=bool(new) and new != old, event=change.event)
        if state is not None:
            result.add(state, file_urls(registration, field_name, current))


def resolve_change(registration: Registration, change: Change) -> Resolution:
    """What a model change purges: its files' URLs (and their states) and the
    registration's extras."""
    result = Resolution()
    for field_name in registration.fields:
        for name in change.names_for(field_name):
            result.add(Kind.FILES, file_urls(registration, field_name, name))
    add_file_states(registration, change, result)
    if page_tags_enabled():
        result.add(
            Kind.TAGS,
            change_tags(
                registration.label, change.pk, change.event, watched_changed=bool(change.fields)
            ),
        )
    for kind, spec, clean in (
        (Kind.FILES, registration.urls, clean_file),
        (Kind.TAGS, registration.tags, lambda v: [clean_tag(v)]),
        (Kind.PREFIXES, registration.prefixes, lambda v: [clean_prefix(v)]),
    ):
        for value in _spec_values(spec, change):
            try:
                result.add(kind, clean(value))
            except InvalidTarget as err:
                result.skip(value, str(err))
    return result


def resolve_row(row: Any) -> Resolution:
    """What an outbox row purges (a model change, or explicit targets checked when they
    were written).

    :raises CfPurgeConfigurationError: the row's model is no longer registered.
    :raises InvalidTarget: a file's storage gives a URL that cannot be purged.
    """
    if row.source != Source.MODEL:
        result = Resolution()
        for kind, items in (row.targets or {}).items():
            result.add(kind, list(items))
        return result
    registration = registry.get_by_label(row.model_label)
    if registration is None:
        raise CfPurgeConfigurationError(
            gettext(
                "%(model)s is no longer registered with django-cfpurge; its change cannot be "
                "resolved to URLs."
            )
            % {"model": row.model_label}
        )
    return resolve_change(registration, change_for(row, registration))
