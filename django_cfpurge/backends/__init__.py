"""CDN backends, selected by name from ``CFPURGE["BACKENDS"]``.

Each zone names its backend (``"cloudflare"``, ``"bunny"``, ``"cloudflare_images"``).
``CFPURGE["BACKENDS"]`` maps names to dotted paths and is merged over the built-in
ones, so a site can add a CDN, and a test can swap one with ``override_settings``, the
way Django selects an email backend. See :mod:`django_cfpurge.backends.base` for the
contract.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from ..conf import get_setting, key
from ..exceptions import CfPurgeConfigurationError
from .base import Backend

#: The backends django-cfpurge ships.
BUILTIN_BACKENDS: dict[str, str] = {
    "cloudflare": "django_cfpurge.backends.cloudflare.CloudflareBackend",
    "bunny": "django_cfpurge.backends.bunny.BunnyBackend",
    "cloudflare_images": "django_cfpurge.backends.cloudflare_images.CloudflareImagesBackend",
}
DEFAULT_BACKEND = "cloudflare"


#: A top-level setting that wins over ``CFPURGE["BACKENDS"]``, for tests only:
#: :func:`django_cfpurge.testing.capture_purges` sets it, so that a test's own
#: ``override_settings(CFPURGE=...)`` does not undo the capture.
TEST_SETTING = "CFPURGE_TEST_BACKENDS"


def backend_paths() -> dict[str, str]:
    """Backend names → dotted paths: the built-in ones, then ``CFPURGE["BACKENDS"]``, then
    (in tests) ``CFPURGE_TEST_BACKENDS``."""
    paths = dict(BUILTIN_BACKENDS)
    for configured in (get_setting("BACKENDS"), getattr(settings, TEST_SETTING, None)):
        if isinstance(configured, dict):
            paths.update({str(k): str(v) for k, v in configured.items()})
    return paths


def get_backend_class(name: str | None) -> type[Backend]:
    """The backend class called ``name`` (``None`` or ``""``: Cloudflare).

    :raises CfPurgeConfigurationError: no such name, or the path does not import a
        :class:`~django_cfpurge.backends.base.Backend` subclass.
    """
    name = name or DEFAULT_BACKEND
    paths = backend_paths()
    if name not in paths:
        raise CfPurgeConfigurationError(
            gettext("Unknown CDN backend %(name)s; known: %(known)s (see %(setting)s).")
            % {"name": repr(name), "known": ", ".join(sorted(paths)), "setting": key("BACKENDS")}
        )
    try:
        cls = import_string(paths[name])
    except ImportError as err:
        raise CfPurgeConfigurationError(
            gettext("The CDN backend %(name)s cannot be imported from %(path)s: %(error)s")
            % {"name": repr(name), "path": paths[name], "error": err}
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise CfPurgeConfigurationError(
            gettext("%(path)s is not a django-cfpurge backend class.") % {"path": paths[name]}
        )
    return cls


def backend_choices() -> list[tuple[str, str]]:
    """``(name, verbose name)`` of every backend that imports (for forms)."""
    choices = []
    for name in backend_paths():
        try:
            choices.append((name, str(get_backend_class(name).verbose_name)))
        except CfPurgeConfigurationError:
            continue
    return choices
