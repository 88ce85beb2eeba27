"""The purge log's actions: "Retry now" (wide purges need ``purge_cache`` and a
confirmation, "everything" a cooldown) and "Ignore"."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..enums import Kind
from ..models import PurgeRequest
from ..outbox import outcomes
from ..outbox.queries import PurgeRequestQuerySet
from .guards import PURGE_PERMISSION, cooldown_message, everything_cooldown_taken, is_wide


class LogActionsMixin:
    """The actions "Retry now" and "Ignore", for :class:`~.purge_log.PurgeRequestAdmin`."""

    admin_site: Any
    opts: Any

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry_now(
        self, request: HttpRequest, queryset: QuerySet[PurgeRequest]
    ) -> HttpResponse | None:
        # Rows "Retry now" would not send again (purged already) ask nothing.
        wide = [row for row in cast(PurgeRequestQuerySet, queryset).retryable() if is_wide(row)]
        if wide and not request.user.has_perm(PURGE_PERMISSION):
            messages.error(
                request,
                ngettext(
                    "%(count)d selected request purges hostnames, prefixes or everything: "
                    "re-sending it needs the “Can purge the CDN cache by hand” permission. "
                    "Nothing was retried.",
                    "%(count)d selected requests purge hostnames, prefixes or everything: "
                    "re-sending them needs the “Can purge the CDN cache by hand” permission. "
                    "Nothing was retried.",
                    len(wide),
                )
                % {"count": len(wide)},
            )
            return None
        if wide and request.POST.get("confirmed") != "yes":
            return self._confirm_retry(request, queryset, wide)
        if (
            any(Kind.EVERYTHING in (row.targets or {}) for row in wide)
            and not everything_cooldown_taken()
        ):
            cooldown_message(request)
            return None
        count = outcomes.retry_rows(queryset)
        messages.success(
            request,
            ngettext(
                "%(count)d purge request will be sent again.",
                "%(count)d purge requests will be sent again.",
                count,
            )
            % {"count": count},
        )
        return None

    def _confirm_retry(
        self, request: HttpRequest, queryset: QuerySet[PurgeRequest], wide: list[PurgeRequest]
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Re-send wide purges?"),
            "opts": self.opts,
            "rows": wide,
            "ids": [row.pk for row in queryset],
            "action": "retry_now",
        }
        return TemplateResponse(
            request, "admin/django_cfpurge/purgerequest/confirm_retry.html", context
        )

    @admin.action(description=_("Ignore"), permissions=["change"])
    def ignore(self, request: HttpRequest, queryset: QuerySet[PurgeRequest]) -> None:
        count = outcomes.ignore_rows(queryset)
        messages.success(
            request,
            ngettext("%(count)d purge request ignored.", "%(count)d purge requests ignored.", count)
            % {"count": count},
        )
