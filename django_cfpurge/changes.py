"""What happened to one object: the :class:`Change` given to registration callables, and
the JSON payload an outbox row stores it as (built here only)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.db import models

from .enums import Event

_MISSING = object()


def payload(
    *,
    files: dict[str, list[str | None]] | None = None,
    fields: dict[str, list[Any]] | None = None,
    values: dict[str, Any] | None = None,
    current: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The ``change`` JSON of an outbox row.

    :param files: file field name → ``[old name, new name]`` for files that changed.
    :param fields: watched field name → ``[old, new]`` for watched fields that changed.
    :param values: every watched field's value after the change (before, for a delete).
    :param current: file field name → the name stored after the change.
    """
    return {
        "files": files or {},
        "fields": fields or {},
        "values": values or {},
        "current": current or {},
    }


def classify_save(
    file_fields: tuple[str, ...],
    watched: tuple[str, ...],
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    created: bool,
    written: list[str],
    uploaded: list[str],
) -> tuple[str, dict[str, Any]] | None:
    """What a save was: ``(event, payload)``, or None when nothing registered changed.

    :param old: file names and watched values before the save.
    :param new: the same after it.
    :param written: file fields whose name was written or assigned for this save: one
        whose name did not change was overwritten in place.
    :param uploaded: file fields whose content was written for this save: a name change
        with new content is a replacement, without it a rename or move.
    """
    if created:
        files = {name: [None, new[name]] for name in file_fields if new.get(name)}
        return Event.CREATED, payload(
            files=files,
            values={name: new.get(name) for name in watched},
            current={name: new.get(name) for name in file_fields},
        )
    files, event = _file_changes(file_fields, old, new, written, uploaded)
    fields = {
        name: [old.get(name), new[name]]
        for name in watched
        if name in new and old.get(name, _MISSING) != new[name]
    }
    if fields and not event:
        event = Event.CHANGED
    if not event:
        return None
    return event, payload(
        files=files,
        fields=fields,
        values={name: new.get(name) for name in watched},
        current={name: new.get(name) for name in file_fields},
    )


def _file_changes(
    file_fields: tuple[str, ...],
    old: dict[str, Any],
    new: dict[str, Any],
    written: list[str],
    uploaded: list[str],
) -> tuple[dict[str, list[str | None]], str]:
    files: dict[str, list[str | None]] = {}
    events: list[str] = []
    for name in file_fields:
        # No file is no file, whether stored as "" or None.
        before, after = old.get(name) or None, new.get(name) or None
        if before != after:
            files[name] = [before, after]
            replaced = name in uploaded or not before or not after
            events.append(Event.REPLACED if replaced else Event.RENAMED)
        elif name in written and after:
            files[name] = [after, after]
            events.append(Event.OVERWRITTEN)
    for event in (Event.REPLACED, Event.RENAMED, Event.OVERWRITTEN):
        if event in events:
            return files, event
    return files, ""


@dataclass
class Change:
    """What happened to one object; given to ``urls=``/``tags=``/``prefixes=`` callables.

    :ivar event: an :class:`~django_cfpurge.enums.Event` value (``created``,
        ``replaced``, ``renamed``, ``overwritten``, ``changed``, ``deleted``, ``bulk``).
    :ivar model: the model class (None if it no longer exists in the code).
    :ivar pk: the object's primary key, as a string.
    :ivar instance: the object as it is now, or None when it was deleted.
    :ivar files: file field name → ``(old_name, new_name)`` for files that changed.
    :ivar fields: watched field name → ``(old, new)`` for watched fields that changed.
    :ivar values: watched field values at the time of the change (also for deletes).
    :ivar current: file field name → the name stored after the change.
    """

    event: str
    model: type[models.Model] | None
    pk: str
    instance: models.Model | None = None
    files: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    current: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_payload(
        cls,
        event: str,
        data: dict[str, Any],
        *,
        model: type[models.Model] | None = None,
        pk: str = "",
        instance: models.Model | None = None,
    ) -> Change:
        """The change stored as :func:`payload` on a row."""
        return cls(
            event=event,
            model=model,
            pk=pk,
            instance=instance,
            files={k: (v[0], v[1]) for k, v in (data.get("files") or {}).items()},
            fields={k: (v[0], v[1]) for k, v in (data.get("fields") or {}).items()},
            values=dict(data.get("values") or {}),
            current=dict(data.get("current") or {}),
        )

    @property
    def old_names(self) -> list[str]:
        """File names the object had before the change (to purge)."""
        return unique(old for old, _new in self.files.values() if old)

    @property
    def new_names(self) -> list[str]:
        """File names the object has after the change (to purge: a 404 may be cached)."""
        names = [new for _old, new in self.files.values() if new]
        if self.touches_every_file:
            names += [name for name in self.current.values() if name]
        return unique(names)

    @property
    def touches_every_file(self) -> bool:
        """A watched field (visibility, blocking…) decides whether every file of the
        object is served, so its change affects them all, even in a save that also
        replaced one of them."""
        return self.event in (Event.CHANGED, Event.BULK, Event.CREATED) or bool(self.fields)

    @property
    def file_names(self) -> list[str]:
        """Every file name affected by the change: old ones first, then new ones."""
        return unique([*self.old_names, *self.new_names])

    @property
    def current_names(self) -> list[str]:
        """File names the object uses after the change (none after a delete)."""
        if self.event == Event.DELETED:
            return []
        return unique(name for name in self.current.values() if name)

    @property
    def values_before(self) -> dict[str, Any]:
        """Watched values as they were before the change (for a creation, a delete or the
        bulk helper: as recorded, nothing having changed)."""
        return {**self.values, **{name: old for name, (old, _new) in self.fields.items()}}

    def before(self) -> Change:
        """The same change seen from before it: :attr:`values` hold the old values and
        :attr:`instance` is None (the object as it was is not loaded)."""
        return replace(self, instance=None, values=self.values_before)

    def names_for(self, field_name: str) -> list[str]:
        """Affected names of one file field."""
        names: list[str] = []
        if field_name in self.files:
            names += [n for n in self.files[field_name] if n]
        current = self.current.get(field_name)
        if self.touches_every_file and current:
            names.append(current)
        return unique(names)


def unique(items: Any) -> list[Any]:
    """``items`` without repeats, in order (dicts compared by their ``repr``)."""
    seen: set[Any] = set()
    out = []
    for item in items:
        key = repr(item) if isinstance(item, dict) else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
