"""Model receivers for registered senders: capture what changed and write outbox rows.

Runs on the request path, so it does no network I/O and imports no HTTP client.
A save or delete adds at most one INSERT (``bulk_create``) to its own transaction;
the drain is dispatched after commit.

Old values come from a snapshot of file *names* (never ``FieldFile`` objects, whose
deep copy drags the whole instance along) and watched values, taken from the
instance's ``__dict__`` when it is loaded.

A file written again under the name it already has (``FieldFile.save()`` on a storage
that overwrites, or ``storage.save()`` then assigning the name) leaves nothing to
compare: ``FieldFile.save()`` writes to the storage before the model's ``pre_save``,
and the name does not change. So, for registered file fields only, the model's
descriptor and the field's ``attr_class`` are replaced by subclasses that note on the
instance each name written or assigned after ``post_init``; a save whose name is
unchanged but was noted is an overwrite. They are installed by :func:`connect_model`
and removed by :func:`disconnect_model`; users' models are not edited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.files import File
from django.db import models
from django.db.models.fields.files import FieldFile, FileDescriptor
from django.db.models.signals import post_delete, post_init, post_save, pre_save

from .outbox.write import record_change
from .registry import Registration, registry

logger = logging.getLogger(__name__)

SNAPSHOT_ATTR = "_cfpurge_snapshot"
PRESAVE_ATTR = "_cfpurge_presave"
#: On an instance: file field name → names written or assigned since its last save.
WRITTEN_ATTR = "_cfpurge_written"
_MISSING = object()


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
        _track_writes(model, registration)
    for sender in _senders(model):
        post_init.connect(_on_post_init, sender=sender, dispatch_uid=_uid("post_init", sender))
        pre_save.connect(_on_pre_save, sender=sender, dispatch_uid=_uid("pre_save", sender))
        post_save.connect(_on_post_save, sender=sender, dispatch_uid=_uid("post_save", sender))
        post_delete.connect(
            _on_post_delete, sender=sender, dispatch_uid=_uid("post_delete", sender)
        )


def disconnect_model(model: type[models.Model]) -> None:
    """Disconnect the receivers of one model and its proxies, and stop tracking writes."""
    _untrack_writes(model)
    for sender in _senders(model):
        post_init.disconnect(sender=sender, dispatch_uid=_uid("post_init", sender))
        pre_save.disconnect(sender=sender, dispatch_uid=_uid("pre_save", sender))
        post_save.disconnect(sender=sender, dispatch_uid=_uid("post_save", sender))
        post_delete.disconnect(sender=sender, dispatch_uid=_uid("post_delete", sender))


# -- same-name writes ---------------------------------------------------------------------------


def _note_written(instance: models.Model, field_name: str, name: Any) -> None:
    """Remember that ``name`` was written to, or assigned to, ``field_name``."""
    # Before post_init there is no snapshot: that is Django building the instance
    # (``__init__``, ``from_db``), not a write.
    if not name or not isinstance(name, str) or SNAPSHOT_ATTR not in instance.__dict__:
        return
    if registry.get(type(instance)) is None:  # a subclass, or a model unregistered since
        return
    instance.__dict__.setdefault(WRITTEN_ATTR, {}).setdefault(field_name, set()).add(name)


class _NoteWrittenName:
    """Mixin for a registered field's ``attr_class``: notes each name set after construction.

    ``FieldFile.save()`` sets ``name`` to what the storage wrote; ``instance.field.name =
    "..."`` assigns one. Both note it on the instance.
    """

    _cfpurge_base: type[FieldFile]

    def __setattr__(self, attr: str, value: Any) -> None:
        super().__setattr__(attr, value)
        # ``File.__init__`` sets the name before ``FieldFile.__init__`` sets the instance.
        if attr == "name" and "instance" in self.__dict__:
            _note_written(self.instance, self.field.name, value)  # type: ignore[attr-defined]

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickle and copy as the field's own class, which outlives any registration
        # (model instances are often cached with their files). Not ``copyreg.__newobj__``:
        # pickle insists that it be given the object's own class.
        state = self.__getstate__()  # type: ignore[attr-defined]
        return (object.__new__, (self._cfpurge_base,), state)


class _NoteAssignedName:
    """Mixin for a registered field's descriptor: notes a name assigned after ``post_init``.

    ``instance.field = "photos/a.jpg"`` is how a file written with ``storage.save()`` is
    attached. A ``File`` assigned is written by ``pre_save`` (noted there by
    :class:`_NoteWrittenName`), and a committed ``FieldFile`` assigned (Django's forms do
    so on every save) writes nothing, so neither is noted here.
    """

    field: models.FileField

    def __set__(self, instance: models.Model, value: Any) -> None:
        super().__set__(instance, value)  # type: ignore[misc]
        if isinstance(value, str):
            _note_written(instance, self.field.name, value)


_subclasses: dict[tuple[type, type], type] = {}


def _tracking_subclass(mixin: type, base: type) -> type:
    """``base`` with ``mixin`` in front, one class per base (a tracking class as is)."""
    if issubclass(base, mixin):
        return base
    key = (mixin, base)
    if key not in _subclasses:
        attrs = {"__module__": __name__, "_cfpurge_base": base}
        _subclasses[key] = type(f"Tracked{base.__name__}", (mixin, base), attrs)
    return _subclasses[key]


@dataclass(frozen=True)
class _Tracking:
    """What tracking replaced on one model.

    :ivar previous: attname → the model's own class attribute before (``_MISSING``: it
        inherited the descriptor).
    :ivar fields: the file fields whose ``attr_class`` it uses.
    """

    previous: dict[str, Any]
    fields: list[models.FileField]


_tracked_models: dict[type[models.Model], _Tracking] = {}
#: Field → its own ``attr_class`` attribute before tracking (``_MISSING``: the class's).
_tracked_fields: dict[models.FileField, Any] = {}


def _track_writes(model: type[models.Model], registration: Registration) -> None:
    """Install the tracking descriptor and ``attr_class`` on ``registration``'s file fields."""
    _untrack_writes(model)
    previous: dict[str, Any] = {}
    fields: list[models.FileField] = []
    for name in registration.fields:
        fld = model._meta.get_field(name)
        if not isinstance(fld, models.FileField):  # register() accepts file fields only
            continue
        descriptor = getattr(model, fld.attname, None)
        if not isinstance(descriptor, FileDescriptor):
            continue  # a descriptor replaced by something else: leave it alone
        previous[fld.attname] = model.__dict__.get(fld.attname, _MISSING)
        fields.append(fld)
        setattr(model, fld.attname, _tracking_subclass(_NoteAssignedName, type(descriptor))(fld))
        if fld not in _tracked_fields:
            _tracked_fields[fld] = fld.__dict__.get("attr_class", _MISSING)
            fld.attr_class = _tracking_subclass(_NoteWrittenName, fld.attr_class)
    _tracked_models[model] = _Tracking(previous, fields)


def _untrack_writes(model: type[models.Model]) -> None:
    """Put back what :func:`_track_writes` replaced on ``model`` (a no-op if nothing)."""
    tracking = _tracked_models.pop(model, None)
    if tracking is None:
        return
    for attname, previous in tracking.previous.items():
        if previous is _MISSING:
            delattr(model, attname)
        else:
            setattr(model, attname, previous)
    in_use = {fld for other in _tracked_models.values() for fld in other.fields}
    for fld in tracking.fields:
        if fld in in_use or fld not in _tracked_fields:
            continue
        previous = _tracked_fields.pop(fld)
        if previous is _MISSING:
            del fld.attr_class
        else:
            fld.attr_class = previous


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


def describe_save(
    registration: Registration,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    created: bool,
    uploading: list[str],
) -> tuple[str, dict[str, Any]] | None:
    """Classify a save: ``(event, change)`` or None when nothing registered changed.

    ``uploading`` names the file fields written (or assigned a name) for this save: one
    whose name did not change was overwritten in place.

    ``change`` holds ``files`` (name → [old, new]), ``fields`` (watched name →
    [old, new]) and ``values`` (current watched values).
    """
    files: dict[str, list[str | None]] = {}
    fields: dict[str, list[Any]] = {}
    event = ""
    for name in registration.fields:
        before, after = old.get(name), new.get(name)
        if created:
            if after:
                files[name] = [None, after]
        elif before != after:
            files[name] = [before, after]
            event = event or "replaced"
        elif name in uploading and after:
            files[name] = [after, after]
            event = event or "overwritten"
    if not created:
        for name in registration.watch:
            if name in new and old.get(name, _MISSING) != new[name]:
                fields[name] = [old.get(name), new[name]]
        if fields and not event:
            event = "changed"
    if created:
        event = "created"
    if not event:
        return None
    values = {name: new.get(name) for name in registration.watch}
    change = {
        "files": files,
        "fields": fields,
        "values": values,
        "current": _names(new, registration),
    }
    return event, change


def _names(values: dict[str, Any], registration: Registration) -> dict[str, str | None]:
    return {name: values.get(name) for name in registration.fields}


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


def _written_fields(
    instance: models.Model,
    registration: Registration,
    saved: set[str],
    current: dict[str, Any],
    uploading: list[str],
) -> list[str]:
    """Saved file fields whose stored name was written or assigned since the last save.

    A file committed by this save (``uploading``) counts; so does a name noted by the
    tracking classes (``FieldFile.save()``, ``instance.field = name``, ``instance.field.name
    = name``). Their notes are cleared: this save has handled them.
    """
    noted: dict[str, set[str]] = instance.__dict__.get(WRITTEN_ATTR) or {}
    written = []
    for name in registration.fields:
        if name not in saved:
            continue
        if name in uploading or current.get(name) in noted.get(name, ()):
            written.append(name)
        noted.pop(name, None)
    if not noted:
        instance.__dict__.pop(WRITTEN_ATTR, None)
    return written


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
    written = _written_fields(instance, registration, saved, current, uploading)
    described = describe_save(registration, old, current, created=created, uploading=written)
    instance.__dict__[SNAPSHOT_ATTR] = current
    if described is None:
        return
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
    files: dict[str, list[str | None]] = {}
    for name in registration.fields:
        # The stored name is what the CDN served; an unsaved in-memory change is not.
        value = stored.get(name) or current.get(name)
        if value:
            files[name] = [value, None]
    values = {name: current.get(name, stored.get(name)) for name in registration.watch}
    change = {"files": files, "fields": {}, "values": values, "current": {}}
    record_change(registration, instance, "deleted", change, using=using)
