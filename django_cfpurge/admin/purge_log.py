"""The purge log: the list an operator scans (when, what, event, status, how many, zone
and CDN, the error in short) under the 48-hour chart, and each row's page (the change as
sentences, the targets, every API call)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db.models import Model, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..enums import Source
from ..models import PurgeRequest
from ..status import hourly_activity
from . import display
from .chart import build_chart
from .edge_check import EdgeCheckMixin
from .filters import CdnFilter, ZoneFilter
from .guards import PURGE_PERMISSION
from .log_actions import LogActionsMixin
from .manual_purge import ManualPurgeMixin
from .mixins import ConsoleMixin, NoSecretLookupsMixin, RefuseUnavailableActionsMixin
from .zone_columns import stamp

#: Hours the chart shows.
CHART_HOURS = 48


def admin_url(request: HttpRequest, model_admin: admin.ModelAdmin, obj: Model | None) -> str:
    """The admin page of ``obj`` when the user may see it, else ""."""
    if obj is None or obj.pk is None:
        return ""
    other = model_admin.admin_site._registry.get(type(obj))
    if other is None or not other.has_view_or_change_permission(request, obj):
        return ""
    opts = obj._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return ""


def object_url(request: HttpRequest, model_admin: admin.ModelAdmin, row: PurgeRequest) -> str:
    """The admin page of the object a model change is about, if there is one to see."""
    if row.source != Source.MODEL or not row.model_label:
        return ""
    try:
        model = apps.get_model(row.model_label)
    except (LookupError, ValueError):
        return ""
    other = model_admin.admin_site._registry.get(model)
    if other is None or not other.has_view_or_change_permission(request):
        return ""
    opts = model._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.object_pk])
    except NoReverseMatch:
        return ""


class PurgeRequestAdmin(
    EdgeCheckMixin,
    LogActionsMixin,
    ManualPurgeMixin,
    NoSecretLookupsMixin,
    RefuseUnavailableActionsMixin,
    ConsoleMixin,
    admin.ModelAdmin,
):
    """The purge log: read-only, with retry/ignore, an activity chart and manual purge."""

    list_display = (
        "when",
        "what",
        "event",
        "row_status",
        "url_count",
        "zone_cdn",
        "error_short",
    )
    list_display_links = ("when", "what")
    list_filter = ("status", ZoneFilter, CdnFilter, "event", "source", "created_at")
    search_fields = ("object_repr", "model_label", "object_pk")
    date_hierarchy = "created_at"
    actions = ["retry_now", "ignore"]
    list_select_related = ("zone", "requested_by")
    change_list_template = "admin/django_cfpurge/purgerequest/change_list.html"
    change_form_template = "admin/django_cfpurge/purgerequest/change_form.html"
    readonly_fields = [
        f.name for f in PurgeRequest._meta.fields if f.name not in ("claim_token", "claimed_until")
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The log is pruned after RETENTION_DAYS; "Ignore" takes a row out of the queue.
        return False

    # -- the list ------------------------------------------------------------------------
    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: PurgeRequest) -> SafeString:
        return format_html(
            '<time datetime="{}">{}</time>', obj.created_at.isoformat(), stamp(obj.created_at)
        )

    @admin.display(description=_("object"))
    def what(self, obj: PurgeRequest) -> SafeString:
        if obj.source == Source.MODEL:
            title = obj.object_repr or f"#{obj.object_pk}"
            detail = f"{obj.model_label} #{obj.object_pk}"
        else:
            title = display.explicit_title(obj)
            who = obj.requested_by.get_username() if obj.requested_by else ""
            detail = gettext("by %(user)s") % {"user": who} if who else ""
        request_no = gettext("request #%(id)s") % {"id": obj.pk}
        detail = f"{detail} · {request_no}" if detail else request_no
        return format_html(
            '<span class="cfpurge-what">{}</span> <span class="cfpurge-quiet">{}</span>',
            display.short(title, 80),
            detail,
        )

    @admin.display(description=_("status"), ordering="status")
    def row_status(self, obj: PurgeRequest) -> SafeString:
        icon = display.STATUS_ICONS.get(obj.status, "")  # type: ignore[call-overload]
        return format_html(
            '<span class="cfpurge-status cfpurge-status-{}"><span aria-hidden="true">{}</span> '
            "{}</span>",
            obj.status,
            icon,
            obj.get_status_display(),
        )

    @admin.display(description=_("URLs"))
    def url_count(self, obj: PurgeRequest) -> SafeString:
        if not obj.targets and not obj.resolved:
            return format_html(
                '<span class="cfpurge-quiet" title="{}">…</span>',
                gettext("worked out when sent"),
            )
        return format_html_join(
            " ", '<span class="cfpurge-line">{}</span>', ((p,) for p in display.count_parts(obj))
        ) or format_html("—")

    @admin.display(description=_("zone"), ordering="zone__name")
    def zone_cdn(self, obj: PurgeRequest) -> SafeString:
        if obj.zone is None:
            return format_html('<span class="cfpurge-quiet">{}</span>', gettext("no zone"))
        return format_html(
            '{} <span class="cfpurge-quiet">{}</span>',
            display.breakable(obj.zone.name),
            display.zone_cdn(obj.zone),
        )

    @admin.display(description=_("error"))
    def error_short(self, obj: PurgeRequest) -> SafeString:
        if not obj.last_error:
            return SafeString("")
        return format_html(
            '<span class="cfpurge-error-text" title="{}">{}</span>',
            obj.last_error,
            display.short(obj.last_error),
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PurgeRequest], search_term: str
    ) -> Any:
        results, distinct = super().get_search_results(request, queryset, search_term)
        if search_term:
            by_target = queryset.annotate(_targets=Cast("targets", TextField())).filter(
                _targets__icontains=search_term
            )
            results = results | by_target
        return results, distinct

    def get_urls(self) -> list[Any]:
        return [*self.manual_purge_urls(), *self.edge_check_urls(), *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        self.refuse_unavailable_action(request)
        log_url = reverse("admin:django_cfpurge_purgerequest_changelist")
        extra_context = {
            **(extra_context or {}),
            **self.worker_context(),
            "title": gettext("Purge log"),
            "cfpurge_chart": build_chart(hourly_activity(CHART_HOURS), log_url),
            "cfpurge_can_purge": request.user.has_perm(PURGE_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    # -- a row's page --------------------------------------------------------------------
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every field is read-only: a page to read, with no Save buttons. Rows change
        # through the "Retry now" and "Ignore" actions only.
        extra = {
            **(extra_context or {}),
            **self.worker_context(),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        row = self.get_object(request, object_id)
        if row is not None and self.has_view_or_change_permission(request, row):
            extra.update(self.request_page_context(request, row))
            extra["title"] = gettext("Purge request #%(id)s") % {"id": row.pk}
        return super().change_view(request, object_id, form_url, extra)

    def request_page_context(self, request: HttpRequest, row: PurgeRequest) -> dict[str, Any]:
        """What the request page shows of ``row``."""
        calls = display.call_rows(row.calls.order_by("started_at", "id"))
        related = [row.parent] if row.parent else []
        related += list(row.parts.select_related("zone").order_by("id"))
        return {
            "cfpurge_row": row,
            "cfpurge_status_icon": display.STATUS_ICONS.get(row.status, ""),  # type: ignore[call-overload]
            "cfpurge_sentences": display.change_sentences(row),
            "cfpurge_targets": display.targets_of(row),
            "cfpurge_calls": calls,
            "cfpurge_calls_summary": display.calls_summary(calls),
            "cfpurge_cdn": display.zone_cdn(row.zone),
            "cfpurge_zone_url": admin_url(request, self, row.zone),
            "cfpurge_object_url": object_url(request, self, row),
            "cfpurge_related": [
                (other, admin_url(request, self, other), display.zone_cdn(other.zone))
                for other in related
            ],
            **self.edge_check_context(request, row),
        }


__all__ = ["PurgeRequestAdmin"]
