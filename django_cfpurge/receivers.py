"""Model receivers for registered senders: capture what changed and write outbox rows.

Runs on the request path, so it does no network I/O and imports no HTTP client.
A save or delete adds at most one INSERT to its own transaction; the drain is
dispatched after commit.

Old values come from a snapshot of file *names* (never ``FieldFile`` objects, whose
deep copy drags the whole instance along) and watched values, taken from the
instance's ``__dict__`` when it is loaded. Writes that leave the name unchanged are
noted by :mod:`django_cfpurge.tracking`; :func:`django_cfpurge.changes.classify_save`
decides what the save was.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.core.files import File
from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_init, post_save, pre_save

from . import changes
from .enums import Event
from .outbox.write import record_change
from .registry import Registration, registry
from .tags.collector import current as current_page_use
from .tracking import SNAPSHOT_ATTR, take_notes, track_writes, untrack_writes

logger = logging.getLogger(__name__)

PRESAVE_ATTR = "_cfpurge_presave"


def _uid(kind: str, model: type[models.Model]) -> str:
    return f"django_cfpurge:{kind}:{model._meta.label_lower}"


def _senders(model: type[models.Model]) -> list[type[models.Model]]:
    """``model`` and its proxy models: Django sends a proxy's signals with the proxy as
    sender, so each needs its own receivers. Proxies are known once the app registry is
    ready; ``ready()`` connects them for models registered earlier."""
    senders = [model]
    if apps.models_ready:
        senders += [
            m
            for m in apps.get_models(include_auto_created=False)
            if m._meta.proxy and m._meta.concrete_model is model
        ]
    return senders


def connect_model(model: type[models.Model]) -> None:
    """Connect the receivers for one registered model and its proxies, and track writes
    to its registered file fields (idempotent)."""
    registration = registry.get(model)
    if registration is not None:
        track_writes(model, registration)
    for sender in _senders(model):
        post_init.connect(_on_post_init, sender=sender, dispatch_uid=_uid("post_init", sender))
        pre_save.connect(_on_pre_save, sender=sender, dispatch_uid=_uid("pre_save", sender))
        post_save.connect(_on_post_save, sender=sender, dispatch_uid=_uid("post_save", sender))
        post_delete.connect(
            _on_post_delete, sender=sender, dispatch_uid=_uid("post_delete", sender)
        )


def disconnect_model(model: type[models.Model]) -> None:
    """Disconnect the receivers of one model and its proxies, and stop tracking writes."""
    untrack_writes(model)
    for sender in _senders(model):
        post_init.disconnect(sender=sender, dispatch_uid=_uid("post_init", sender))
        pre_save.disconnect(sender=sender, dispatch_uid=_uid("pre_save", sender))
        post_save.disconnect(sender=sender, dispatch_uid=_uid("post_save", sender))
        post_delete.disconnect(sender=sender, dispatch_uid=_uid("post_delete", sender))


def file_name(value: Any) -> str | None:
    """The stored name of a file field value (str, ``FieldFile``, ``File`` or None)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, File):
        return value.name or None
    return str(value) or None


def plain_value(value: Any) -> Any:
    """A JSON-friendly copy of a watched value (compared, stored and given to callables)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def snapshot(instance: models.Model, registration: Registration) -> dict[str, Any]:
    """File names and watched values currently held by ``instance`` (deferred ones absent)."""
    data = instance.__dict__
    values: dict[str, Any] = {}
    for name in registration.fields:
        attname = registration.attnames.get(name, name)
        if attname in data:
            values[name] = file_name(data[attname])
    for name in registration.watch:
        attname = registration.attnames.get(name, name)
        if attname in data:
            values[name] = plain_value(data[attname])
    return values


def _on_post_init(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    registration = registry.get(sender)
    if registration is not None:
        instance.__dict__[SNAPSHOT_ATTR] = snapshot(instance, registration)
        page_use = current_page_use()
        if page_use is not None and instance.pk is not None:
            # Loaded while a page is made: the page shows it, or may (cache tags).
            page_use.note_object(registration.label, instance.pk)


def _stored_values(
    sender: type[models.Model], instance: models.Model, names: list[str], reg: Registration
) -> dict[str, Any]:
    """Values of ``names`` as stored in the database (for fields deferred at load)."""
    attnames = [reg.attnames.get(n, n) for n in names]
    row = sender._base_manager.filter(pk=instance.pk).values(*attnames).first()
    if row is None:
        return {}
    values = {}
    for name, attname in zip(names, attnames, strict=True):
        raw = row[attname]
        values[name] = file_name(raw) if name in reg.fields else plain_value(raw)
    return values


def _on_pre_save(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    registration = registry.get(sender)
    if registration is None or raw:
        return
    old: dict[str, Any] = dict(instance.__dict__.get(SNAPSHOT_ATTR) or {})
    if instance._state.adding:
        old = {}
    else:
        missing = [n for n in (*registration.fields, *registration.watch) if n not in old]
        if missing and instance.pk is not None:
            old.update(_stored_values(sender, instance, missing, registration))
    uploading = []
    for name in registration.fields:
        value = instance.__dict__.get(registration.attnames.get(name, name))
        # A file assigned but not yet written to storage (forms, the admin,
        # ``instance.image = File(...)``): it is written now, possibly over the old
        # name on storages that overwrite.
        if isinstance(value, FieldFile):
            if not getattr(value, "_committed", True):
                uploading.append(name)
        elif isinstance(value, File):
            uploading.append(name)
    instance.__dict__[PRESAVE_ATTR] = (old, uploading)


def _saved_names(registration: Registration, update_fields: Any) -> set[str]:
    """Registered file and watched fields written by a save with ``update_fields``."""
    names = (*registration.fields, *registration.watch)
    if update_fields is None:
        return set(names)
    return {
        name
        for name in names
        if name in update_fields or registration.attnames.get(name, name) in update_fields
    }


def _on_post_save(
    sender: type[models.Model],
    instance: models.Model,
    created: bool = False,
    raw: bool = False,
    update_fields: frozenset[str] | None = None,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    registration = registry.get(sender)
    if registration is None:
        return
    presave = instance.__dict__.pop(PRESAVE_ATTR, None)
    new = snapshot(instance, registration)
    if raw or presave is None:
        instance.__dict__[SNAPSHOT_ATTR] = new
        return
    old, uploading = presave
    saved = _saved_names(registration, update_fields)
    if update_fields is not None:
        # Only what was written counts: other in-memory changes are not in the database.
        new = {name: value for name, value in new.items() if name in saved}
        if not saved:
            return
    current = {**old, **new}
    noted, uploaded = take_notes(instance, saved & set(registration.fields))
    written = [
        name
        for name in registration.fields
        if name in saved and (name in uploading or current.get(name) in noted.get(name, ()))
    ]
    described = changes.classify_save(
        registration.fields,
        registration.watch,
        old,
        current,
        created=created,
        written=written,
        uploaded=[*uploading, *uploaded],
    )
    instance.__dict__[SNAPSHOT_ATTR] = current
    if described is not None:
        event, change = described
        record_change(registration, instance, event, change, using=using)


def _on_post_delete(
    sender: type[models.Model], instance: models.Model, using: str | None = None, **kwargs: Any
) -> None:
    registration = registry.get(sender)
    if registration is None:
        return
    stored = dict(instance.__dict__.get(SNAPSHOT_ATTR) or {})
    current = snapshot(instance, registration)
    # The stored name is what the CDN served; an unsaved in-memory change is not.
    files: dict[str, list[str | None]] = {
        name: [value, None]
        for name in registration.fields
        if (value := stored.get(name) or current.get(name))
    }
    values = {name: current.get(name, stored.get(name)) for name in registration.watch}
    change = changes.payload(files=files, values=values)
    record_change(registration, instance, Event.DELETED, change, using=using)
