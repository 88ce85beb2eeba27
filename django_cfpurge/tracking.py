"""Noting writes to registered file fields that leave nothing to compare.

A file written again under the name it already has (``FieldFile.save()`` on a storage
that overwrites, or ``storage.save()`` then assigning the name) leaves nothing to
compare: ``FieldFile.save()`` writes to the storage before the model's ``pre_save``, and
the name does not change. So, for registered file fields only, the model's descriptor
and the field's ``attr_class`` are replaced by subclasses that note on the instance each
name written or assigned after ``post_init``, and each file whose content was written.
They are installed by :func:`track_writes` and removed by :func:`untrack_writes`;
users' models are not edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile, FileDescriptor

from .registry import Registration, registry
from .tags.collector import note_object

#: On an instance: the snapshot taken at ``post_init`` (its presence means "built").
SNAPSHOT_ATTR = "_cfpurge_snapshot"
#: On an instance: file field name → names written or assigned since its last save.
WRITTEN_ATTR = "_cfpurge_written"
#: On an instance: file fields whose content ``FieldFile.save()`` wrote since its last save.
UPLOADED_ATTR = "_cfpurge_uploaded"
_MISSING = object()


def _built(instance: models.Model) -> bool:
    # Before post_init there is no snapshot: that is Django building the instance
    # (``__init__``, ``from_db``), not a write.
    return SNAPSHOT_ATTR in instance.__dict__ and registry.get(type(instance)) is not None


def _note_written(instance: models.Model, field_name: str, name: Any) -> None:
    """Remember that ``name`` was written to, or assigned to, ``field_name``."""
    if not name or not isinstance(name, str) or not _built(instance):
        return
    instance.__dict__.setdefault(WRITTEN_ATTR, {}).setdefault(field_name, set()).add(name)


def _note_uploaded(instance: models.Model, field_name: str) -> None:
    """Remember that new content was written for ``field_name``."""
    if _built(instance):
        instance.__dict__.setdefault(UPLOADED_ATTR, set()).add(field_name)


def take_notes(instance: models.Model, fields: set[str]) -> tuple[dict[str, set[str]], set[str]]:
    """The notes of ``fields``: ``(names written or assigned, fields uploaded)``; they are
    cleared (the save that asks has handled them)."""
    written: dict[str, set[str]] = instance.__dict__.get(WRITTEN_ATTR) or {}
    uploaded: set[str] = instance.__dict__.get(UPLOADED_ATTR) or set()
    taken = {name: written.pop(name) for name in list(written) if name in fields}
    taken_uploads = uploaded & fields
    uploaded -= taken_uploads
    if not written:
        instance.__dict__.pop(WRITTEN_ATTR, None)
    if not uploaded:
        instance.__dict__.pop(UPLOADED_ATTR, None)
    return taken, taken_uploads


class _NoteWrittenName:
    """Mixin for a registered field's ``attr_class``: notes each name set after construction.

    ``FieldFile.save()`` sets ``name`` to what the storage wrote; ``instance.field.name =
    "..."`` assigns one. Both note it on the instance.
    """

    _cfpurge_base: type[FieldFile]

    def save(self, name: str, content: Any, save: bool = True) -> None:
        # Noted first: with ``save=True`` the model is saved inside.
        _note_uploaded(self.instance, self.field.name)  # type: ignore[attr-defined]
        super().save(name, content, save)  # type: ignore[misc]

    def __setattr__(self, attr: str, value: Any) -> None:
        super().__setattr__(attr, value)
        # ``File.__init__`` sets the name before ``FieldFile.__init__`` sets the instance.
        if attr == "name" and "instance" in self.__dict__:
            _note_written(self.instance, self.field.name, value)  # type: ignore[attr-defined]

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickle and copy as the field's own class, which outlives any registration
        # (model instances are often cached with their files). Not ``copyreg.__newobj__``:
        # pickle insists that it be given the object's own class.
        state = self.__getstate__()
        return (object.__new__, (self._cfpurge_base,), state)


class _NoteAssignedName:
    """Mixin for a registered field's descriptor: notes a name assigned after ``post_init``.

    ``instance.field = "photos/a.jpg"`` is how a file written with ``storage.save()`` is
    attached. A ``File`` assigned is written by ``pre_save`` (noted there by
    :class:`_NoteWrittenName`), and a committed ``FieldFile`` assigned (Django's forms do
    so on every save) writes nothing, so neither is noted here.
    """

    field: models.FileField

    def __get__(self, instance: models.Model | None, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)  # type: ignore[misc]
        if instance is not None:
            # A file read while a page is made (an object from a cache has no post_init).
            note_object(instance)
        return value

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


def track_writes(model: type[models.Model], registration: Registration) -> None:
    """Install the tracking descriptor and ``attr_class`` on ``registration``'s file fields."""
    untrack_writes(model)
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


def untrack_writes(model: type[models.Model]) -> None:
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
