"""The "Purge by hand" page: URLs, prefixes, hostnames, cache tags or everything, on one
zone or routed by hostname (``purge_cache`` permission; "everything" asks first and
has a cooldown)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext

from .. import api
from ..enums import Kind, Source
from ..exceptions import CfPurgeError
from ..forms import ManualPurgeForm
from .guards import PURGE_PERMISSION, cooldown_message, everything_cooldown_taken

TEMPLATE = "admin/django_cfpurge/purgerequest/purge.html"


class ManualPurgeMixin:
    """Adds ``purge/`` (``admin:django_cfpurge_purgerequest_purge``) to the log's admin."""

    admin_site: Any
    opts: Any

    if TYPE_CHECKING:  # ConsoleMixin's

        def worker_context(self) -> dict[str, Any]:
            """Context of the worker banner."""

    def manual_purge_urls(self) -> list[Any]:
        """The page's URL pattern."""
        return [
            path(
                "purge/",
                self.admin_site.admin_view(self.manual_purge_view),
                name="django_cfpurge_purgerequest_purge",
            )
        ]

    def manual_purge_view(self, request: HttpRequest) -> HttpResponse:
        """Show the form; record the purge once valid (and confirmed, for everything)."""
        if not request.user.has_perm(PURGE_PERMISSION):
            raise PermissionDenied
        form = ManualPurgeForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            **self.worker_context(),
            "title": gettext("Purge the CDN cache"),
            "opts": self.opts,
            "form": form,
            "confirm": False,
        }
        if request.method != "POST" or not form.is_valid():
            return TemplateResponse(request, TEMPLATE, context)
        data = form.cleaned_data
        if data["kind"] == Kind.EVERYTHING:
            if request.POST.get("confirmed") != "yes":
                context["confirm"] = True
                context["zone"] = data.get("zone")
                return TemplateResponse(request, TEMPLATE, context)
            if not everything_cooldown_taken():
                cooldown_message(request)
                return HttpResponseRedirect(request.path)
        try:
            row = api.purge(
                data["kind"],
                data["item_list"],
                zone=data.get("zone"),
                user=request.user,
                source=Source.MANUAL,
            )
        except CfPurgeError as err:
            messages.error(request, str(err))
            return TemplateResponse(request, TEMPLATE, context)
        messages.success(
            request,
            gettext("Purge request #%(id)s recorded; it is sent within seconds.") % {"id": row.pk},
        )
        return HttpResponseRedirect(
            reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk])
        )
