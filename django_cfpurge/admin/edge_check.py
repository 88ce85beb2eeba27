""" "Verify at the edge" on a purge request's page: request one of its URLs through the
CDN, purge it, request it again, and say whether the zone's purges reach what visitors
get (:mod:`django_cfpurge.edge`). Needs the permission to change purge requests; only
URLs the row asked for, of a host a zone serves, are checked."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from ..edge import NOT_CACHED, UNSUPPORTED, verify_at_edge
from ..enums import Kind
from ..exceptions import CfPurgeConfigurationError
from ..models import PurgeRequest, Zone
from ..zones import ZoneRouter, active_zones, backend_class

#: URLs of a row offered for the check (the first ones).
MAX_CHOICES = 20


def checkable_urls(row: PurgeRequest) -> list[str]:
    """The row's URLs that could be checked at the edge (its own file URLs)."""
    urls = [item for item in (row.targets or {}).get(Kind.FILES, []) if isinstance(item, str)]
    return urls[:MAX_CHOICES]


def zone_for(row: PurgeRequest, url: str) -> Zone | None:
    """The zone that serves ``url``: the row's, if it serves the host, else the routed one."""
    router = ZoneRouter(active_zones())
    zone = router.route(urlsplit(url).hostname or "")
    if row.zone is not None and zone != row.zone:
        return None
    return zone


def _has_edge(zone: Zone | None) -> bool:
    try:
        return zone is not None and backend_class(zone).cache_status_header is not None
    except CfPurgeConfigurationError:  # an unknown backend: nothing to check
        return False


class EdgeCheckMixin:
    """Adds ``<id>/verify-edge/`` (``admin:django_cfpurge_purgerequest_verify_edge``)."""

    admin_site: Any

    def edge_check_urls(self) -> list[Any]:
        """The view's URL pattern."""
        return [
            path(
                "<path:object_id>/verify-edge/",
                self.admin_site.admin_view(require_POST(self.verify_edge_view)),
                name="django_cfpurge_purgerequest_verify_edge",
            )
        ]

    def edge_check_context(self, request: HttpRequest, row: PurgeRequest) -> dict[str, Any]:
        """What the request page needs to offer the check (nothing when it cannot run)."""
        if not self.has_change_permission(request, row):  # type: ignore[attr-defined]
            return {}
        urls = [url for url in checkable_urls(row) if _has_edge(zone_for(row, url))]
        if not urls:
            return {}
        action = reverse("admin:django_cfpurge_purgerequest_verify_edge", args=[row.pk])
        return {"cfpurge_edge_urls": urls, "cfpurge_edge_action": action}

    def verify_edge_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Check the chosen URL of the row at the edge; say what was found."""
        row = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if row is None:
            raise Http404
        if not self.has_change_permission(request, row):  # type: ignore[attr-defined]
            raise PermissionDenied
        back = reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk])
        url = request.POST.get("url", "")
        zone = zone_for(row, url) if url in checkable_urls(row) else None
        if zone is None:
            messages.error(
                request,
                gettext("%(url)s is not a URL of this request that a zone serves.")
                % {"url": url or "—"},
            )
            return HttpResponseRedirect(back)
        check = verify_at_edge(zone, url)
        if check.proven:
            messages.success(request, check.message)
        elif check.verdict in (NOT_CACHED, UNSUPPORTED):
            messages.warning(request, check.message)
        else:
            messages.error(request, check.message)
        return HttpResponseRedirect(back)
