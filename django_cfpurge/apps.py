"""App configuration: loads registrations, connects receivers, registers checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CfPurgeConfig(AppConfig):
    """``django_cfpurge``'s AppConfig. ``ready()`` does no I/O and no queries."""

    name = "django_cfpurge"
    verbose_name = _("Cloudflare cache purge")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .receivers import connect_receivers
        from .registry import registry

        # A bad CFPURGE['MODELS'] entry is reported by `manage.py check` (cfpurge.E007)
        # and logged; the other registrations work.
        registry.load_from_settings(collect_errors=True)
        connect_receivers()
