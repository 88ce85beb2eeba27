"""The purge log's filters by zone and by CDN."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..backends import backend_choices
from ..models import PurgeRequest, Zone


class ZoneFilter(admin.SimpleListFilter):
    """Rows of one zone, or of none (``?zone=<pk>``, ``?zone=none``)."""

    title = _("zone")
    parameter_name = "zone"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        zones = [(z.pk, z.name) for z in Zone.objects.all()]
        return [*zones, ("none", gettext("no zone"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PurgeRequest]) -> Any:
        value = self.value()
        if value == "none":
            return queryset.filter(zone__isnull=True)
        if value and value.isdigit():
            return queryset.filter(zone_id=int(value))
        return queryset


class CdnFilter(admin.SimpleListFilter):
    """Rows sent (or to be sent) to zones of one CDN (``?cdn=bunny``), by the CDN's name."""

    title = _("CDN")
    parameter_name = "cdn"
    #: The field that holds the backend's name.
    field = "zone__backend"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        used = set(Zone.objects.values_list("backend", flat=True))
        return [(name, label) for name, label in backend_choices() if name in used]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class ZoneCdnFilter(CdnFilter):
    """Zones of one CDN (``?cdn=bunny``)."""

    field = "backend"
