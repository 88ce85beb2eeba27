"""App configuration: loads registrations, connects receivers, registers checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CfPurgeConfig(AppConfig):
    """``django_cfpurge``'s AppConfig. ``ready()`` does no I/O and no queries."""

    name = "django_cfpurge"
    verbose_name = _("CDN cache purge")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: these modules use the models, which exist only
        # once the app registry is ready.
        from . import checks, tasks  # noqa: F401  (register the checks and the tasks)
        from .dispatch import on_purge_requested
        from .receivers import connect_model, disconnect_model
        from .registry import registry
        from .signals import purge_requested
        from .tags.headers import connect_signals as connect_tag_signals

        purge_requested.connect(on_purge_requested, dispatch_uid="django_cfpurge:dispatch")
        connect_tag_signals()
        registry.observe(connect_model, disconnect_model)
        # A bad CFPURGE['MODELS'] entry is reported by `manage.py check` (cfpurge.E007)
        # and logged; the other registrations work.
        registry.load_from_settings(collect_errors=True)
