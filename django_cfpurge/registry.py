"""The registry of models whose files django-cfpurge keeps purged."""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext, ngettext

from .conf import SETTING_NAME, get_setting
from .exceptions import AlreadyRegistered, CfPurgeConfigurationError, NotRegistered

if TYPE_CHECKING:  # pragma: no cover
    from .changes import Change

logger = logging.getLogger(__name__)

#: What ``urls=``, ``tags=`` and ``prefixes=`` accept: a list of strings, or a
#: callable that receives the :class:`~django_cfpurge.changes.Change` and
#: returns an iterable of strings (or a dotted path to such a callable, in settings).
TargetSpec = Union[Iterable[str], Callable[["Change"], Iterable[str]], None]  # noqa: UP007  (runtime alias)
#: What ``private=`` accepts: the name of a boolean field (``"is_blocked"``; ``"!is_public"``
#: for its negation), or a callable that receives the
#: :class:`~django_cfpurge.changes.Change` and returns whether the object's files must not
#: be public (or a dotted path to such a callable, in settings).
PrivateSpec = Union[str, Callable[["Change"], Any], None]  # noqa: UP007  (runtime alias)


@dataclass(frozen=True)
class FieldFlag:
    """``private="is_blocked"``: the object is private when the watched field is true
    (``negate``: when it is false, as for ``"!is_public"``)."""

    name: str
    negate: bool = False

    def __call__(self, change: Change) -> bool:
        return bool(change.values.get(self.name)) != self.negate

    def __str__(self) -> str:
        return f"{'!' if self.negate else ''}{self.name}"


@dataclass(frozen=True)
class Registration:
    """How one model is purged.

    :ivar model: the registered model class.
    :ivar fields: names of its ``FileField``/``ImageField`` fields to purge.
    :ivar watch: other fields whose change purges the files and extras
        (``is_public``, ``status``, ``folder``…).
    :ivar urls: extra URLs (absolute, or paths joined with ``BASE_URLS``), e.g.
        thumbnails, gallery and listing pages.
    :ivar tags: Cloudflare cache tags to purge with the object.
    :ivar prefixes: URL prefixes (``host/path``) to purge with the object.
    :ivar private: whether the object's files must not be public, from the change (see
        :data:`PrivateSpec`); None when the registration does not say. CDNs that store
        the files (Cloudflare Images) hide and show them by it.
    """

    model: type[models.Model]
    fields: tuple[str, ...]
    watch: tuple[str, ...] = ()
    urls: TargetSpec = None
    tags: TargetSpec = None
    prefixes: TargetSpec = None
    attnames: dict[str, str] = field(default_factory=dict, compare=False)
    private: Callable[[Change], Any] | None = None

    @property
    def label(self) -> str:
        """The model's ``app_label.ModelName``."""
        return self.model._meta.label

    def is_private(self, change: Change) -> bool | None:
        """Whether ``change`` leaves the object's files private (None: no ``private=``)."""
        if self.private is None:
            return None
        return bool(self.private(change))


_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _is_module(name: str) -> bool:
    """True if ``name`` is an importable top-level module (so "www.example.com", a host,
    is not mistaken for a dotted path to a callable)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _as_spec(value: Any, where: str) -> TargetSpec:
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        if _DOTTED_PATH.fullmatch(value) and _is_module(value.partition(".")[0]):
            try:
                return import_string(value)
            except ImportError as err:
                raise CfPurgeConfigurationError(
                    gettext("%(where)s: cannot import %(value)s (%(error)s).")
                    % {"where": where, "value": repr(value), "error": err}
                ) from err
        return (value,)
    try:
        return tuple(str(v) for v in value)
    except TypeError:
        raise CfPurgeConfigurationError(
            gettext("%(where)s must be a list of strings or a callable, not %(type)s.")
            % {"where": where, "type": type(value).__name__}
        ) from None


def _as_private(value: Any, model: type[models.Model]) -> Callable[[Change], Any] | None:
    """``private=`` as a callable: a field name (``"!"`` in front negates it), a
    callable, or a dotted path to one."""
    label = model._meta.label
    if value is None or callable(value):
        return value
    if not isinstance(value, str):
        raise CfPurgeConfigurationError(
            gettext("%(where)s must be a field name or a callable, not %(type)s.")
            % {"where": f"{label} private", "type": type(value).__name__}
        )
    name = value.strip()
    negate = name.startswith("!")
    name = name.lstrip("!").strip()
    if name in {f.name for f in model._meta.concrete_fields}:
        return FieldFlag(name, negate)
    spec = _as_spec(value, f"{label} private")
    if callable(spec) and not negate:
        return spec
    names = ", ".join(f.name for f in model._meta.concrete_fields)
    raise CfPurgeConfigurationError(
        gettext(
            "%(model)s has no field %(name)s (in private=), and it is no dotted path to a "
            "callable either. Fields: %(fields)s."
        )
        % {"model": label, "name": repr(name), "fields": names}
    )


def _resolve_model(model: type[models.Model] | str) -> type[models.Model]:
    if isinstance(model, str):
        try:
            return apps.get_model(model)
        except (LookupError, ValueError) as err:
            raise CfPurgeConfigurationError(
                gettext(
                    "Cannot register %(model)s: no such model (%(error)s). Use "
                    "“app_label.ModelName”."
                )
                % {"model": repr(model), "error": err}
            ) from err
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise CfPurgeConfigurationError(
            gettext("register() takes a model class, not %(model)s.") % {"model": repr(model)}
        )
    return model


class Registry:
    """Holds the :class:`Registration` of every registered model."""

    def __init__(self) -> None:
        self._registrations: dict[type[models.Model], Registration] = {}
        #: Errors of ``CFPURGE["MODELS"]`` entries that could not be registered at
        #: startup, reported by the system check ``cfpurge.E007``.
        self.settings_errors: list[str] = []
        #: ``CFPURGE["MODELS"]`` entries for models registered in code too (the code's
        #: registration wins), reported by the system check ``cfpurge.W011``.
        self.settings_duplicates: list[str] = []
        self._observers: list[tuple[Callable[[Any], None], Callable[[Any], None]]] = []

    def observe(
        self,
        connect: Callable[[type[models.Model]], None],
        disconnect: Callable[[type[models.Model]], None],
    ) -> None:
        """Call ``connect(model)`` for every registered model, now and on each later
        registration, and ``disconnect(model)`` on each unregistration (the receivers
        use this; the registry itself knows no signals)."""
        self._observers.append((connect, disconnect))
        for model in list(self._registrations):
            connect(model)

    def register(
        self,
        model: type[models.Model] | str,
        *,
        fields: Iterable[str] | None = None,
        watch: Iterable[str] = (),
        urls: TargetSpec = None,
        tags: TargetSpec = None,
        prefixes: TargetSpec = None,
        private: PrivateSpec = None,
    ) -> Registration:
        """Register ``model`` so that changes to its files (and watched fields) are purged.

        :param fields: file fields to purge; all of the model's file fields when omitted.
        :param watch: non-file fields whose change purges the files and extras.
        :param urls: extra URLs (see :data:`TargetSpec`).
        :param tags: cache tags (see :data:`TargetSpec`).
        :param prefixes: URL prefixes without scheme (see :data:`TargetSpec`).
        :param private: whether the object's files must not be public (see
            :data:`PrivateSpec`); a field named here is watched.
        :raises AlreadyRegistered: the model is registered already.
        :raises CfPurgeConfigurationError: a field does not exist or is not a file field.
        """
        model = _resolve_model(model)
        label = model._meta.label
        if model in self._registrations:
            raise AlreadyRegistered(
                gettext("%(model)s is already registered with django-cfpurge.") % {"model": label}
            )
        opts = model._meta
        file_fields = [f.name for f in opts.concrete_fields if isinstance(f, models.FileField)]
        chosen = tuple(fields) if fields is not None else tuple(file_fields)
        if isinstance(fields, str):
            raise CfPurgeConfigurationError(
                gettext("%(model)s: fields= takes a list of names, not a string.")
                % {"model": label}
            )
        if not chosen:
            raise CfPurgeConfigurationError(
                gettext("%(model)s has no FileField or ImageField to purge; pass fields=[...].")
                % {"model": label}
            )
        attnames: dict[str, str] = {}
        for name in chosen:
            fld = self._field(model, name, "fields")
            if not isinstance(fld, models.FileField):
                raise CfPurgeConfigurationError(
                    gettext(
                        "%(field)s is a %(type)s, not a FileField or ImageField. Put non-file "
                        "fields in watch=[...]."
                    )
                    % {"field": f"{label}.{name}", "type": type(fld).__name__}
                )
            attnames[name] = fld.attname
        watch = (watch,) if isinstance(watch, str) else tuple(watch)
        private_spec = _as_private(private, model)
        if isinstance(private_spec, FieldFlag) and private_spec.name not in watch:
            # Its changes must be recorded to hide or show the files.
            watch = (*watch, private_spec.name)
        for name in watch:
            fld = self._field(model, name, "watch")
            attnames[name] = fld.attname
        registration = Registration(
            model=model,
            fields=chosen,
            watch=watch,
            urls=_as_spec(urls, f"{label} urls"),
            tags=_as_spec(tags, f"{label} tags"),
            prefixes=_as_spec(prefixes, f"{label} prefixes"),
            attnames=attnames,
            private=private_spec,
        )
        self._registrations[model] = registration
        for connect, _disconnect in self._observers:
            connect(model)
        return registration

    @staticmethod
    def _field(model: type[models.Model], name: str, where: str) -> Any:
        try:
            fld = model._meta.get_field(name)
        except FieldDoesNotExist:
            names = ", ".join(f.name for f in model._meta.concrete_fields)
            raise CfPurgeConfigurationError(
                # Translators: %(where)s is the argument: fields or watch.
                gettext("%(model)s has no field %(name)s (in %(where)s=). Fields: %(fields)s.")
                % {"model": model._meta.label, "name": repr(name), "where": where, "fields": names}
            ) from None
        if not getattr(fld, "concrete", False) or fld.many_to_many:
            raise CfPurgeConfigurationError(
                gettext(
                    "%(field)s cannot be tracked: only concrete, single-valued fields can be "
                    "watched."
                )
                % {"field": f"{model._meta.label}.{name}"}
            )
        return fld

    def unregister(self, model: type[models.Model] | str) -> None:
        """Stop purging ``model``. :raises NotRegistered: it was not registered."""
        model = _resolve_model(model)
        if model not in self._registrations:
            raise NotRegistered(
                gettext("%(model)s is not registered with django-cfpurge.")
                % {"model": model._meta.label}
            )
        del self._registrations[model]
        for _connect, disconnect in self._observers:
            disconnect(model)

    def get(self, model: type[models.Model]) -> Registration | None:
        """The registration of ``model`` (or of its concrete parent for proxies), or None."""
        registration = self._registrations.get(model)
        concrete = model._meta.concrete_model
        if registration is None and model._meta.proxy and concrete is not None:
            registration = self._registrations.get(concrete)
        return registration

    def get_by_label(self, label: str) -> Registration | None:
        """The registration for ``app_label.ModelName``, or None."""
        for registration in self._registrations.values():
            if registration.label.lower() == label.lower():
                return registration
        return None

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self._registrations.values()))

    def __len__(self) -> int:
        return len(self._registrations)

    def __contains__(self, model: object) -> bool:
        return model in self._registrations

    def load_from_settings(self, *, collect_errors: bool = False) -> None:
        """Register the models of ``CFPURGE["MODELS"]`` not registered yet in code.

        :param collect_errors: keep going past a bad entry and record its message in
            :attr:`settings_errors` (``ready()`` does this, so that ``manage.py check``
            reports every bad entry as ``cfpurge.E007`` instead of the first one
            stopping the site).
        :raises CfPurgeConfigurationError: a bad entry, unless ``collect_errors``.
        """
        self.settings_errors = []
        self.settings_duplicates = []
        if not collect_errors:
            self._load_from_settings()
            return
        try:
            self._load_from_settings(errors=self.settings_errors)
        except CfPurgeConfigurationError as err:
            self.settings_errors.append(str(err))
        for message in self.settings_errors:
            logger.error("django-cfpurge: %s", message)

    def _load_from_settings(self, errors: list[str] | None = None) -> None:
        models_setting = get_setting("MODELS") or {}
        if not isinstance(models_setting, dict):
            raise CfPurgeConfigurationError(
                gettext(
                    "%(setting)s['MODELS'] must be a dict of "
                    "{'app_label.Model': {'fields': [...], 'watch': [...], ...}}."
                )
                % {"setting": SETTING_NAME}
            )
        allowed = {"fields", "watch", "urls", "tags", "prefixes", "private"}
        for label, options in models_setting.items():
            try:
                self._register_setting(label, options or {}, allowed)
            except CfPurgeConfigurationError as err:
                message = f"{SETTING_NAME}['MODELS'][{label!r}]: {err}"
                if errors is None:
                    raise CfPurgeConfigurationError(message) from err
                errors.append(message)

    def _register_setting(self, label: str, options: dict[str, Any], allowed: set[str]) -> None:
        if not isinstance(options, dict):
            raise CfPurgeConfigurationError(
                # Translators: follows a setting's path (CFPURGE['MODELS']['app.Model']: ).
                gettext("must be a dict such as {'fields': [...], 'watch': [...]}.")
            )
        unknown = set(options) - allowed
        if unknown:
            raise CfPurgeConfigurationError(
                ngettext(
                    # Translators: follows a setting's path (CFPURGE['MODELS']['app.Model']: ).
                    # The English singular keeps "keys"; translate each form.
                    "unknown keys %(unknown)s; known keys: %(known)s.",
                    "unknown keys %(unknown)s; known keys: %(known)s.",
                    len(unknown),
                )
                % {"unknown": sorted(unknown), "known": ", ".join(sorted(allowed))}
            )
        model = _resolve_model(label)
        if model in self._registrations:
            self.settings_duplicates.append(label)
            return
        self.register(model, **options)

    def reset(self) -> None:
        """Unregister every model (for tests)."""
        for model in list(self._registrations):
            self.unregister(model)

    @contextmanager
    def override(self) -> Iterator[Registry]:
        """Context manager for tests: changes inside are undone at exit."""
        saved = dict(self._registrations)
        saved_errors = list(self.settings_errors)
        saved_duplicates = list(self.settings_duplicates)
        try:
            yield self
        finally:
            self.settings_errors = saved_errors
            self.settings_duplicates = saved_duplicates
            for model in list(self._registrations):
                if model not in saved:
                    self.unregister(model)
            for model, registration in saved.items():
                current = self._registrations.get(model)
                if current is registration:
                    continue
                if current is not None:
                    # Registered again inside with other options: undo its receivers.
                    for _connect, disconnect in self._observers:
                        disconnect(model)
                self._registrations[model] = registration
                for connect, _disconnect in self._observers:
                    connect(model)


#: The registry used by :func:`django_cfpurge.register` and the receivers.
registry = Registry()


def register(
    model: type[models.Model] | str,
    *,
    fields: Iterable[str] | None = None,
    watch: Iterable[str] = (),
    urls: TargetSpec = None,
    tags: TargetSpec = None,
    prefixes: TargetSpec = None,
    private: PrivateSpec = None,
) -> Registration:
    """Register ``model`` with the default registry. See :meth:`Registry.register`."""
    return registry.register(
        model,
        fields=fields,
        watch=watch,
        urls=urls,
        tags=tags,
        prefixes=prefixes,
        private=private,
    )
