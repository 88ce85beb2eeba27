"""Django admin: zones (credentials, Test connection), the purge log, and manual purge."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:  # pragma: no cover
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str

from . import outbox
from .conf import get_setting
from .diagnostics import EXPIRY_WARNING_DAYS, run_connection_test
from .forms import CloudflareZoneForm, ManualPurgeForm
from .models import CloudflareZone, PurgeRequest
from .status import hourly_activity, outbox_status
from .zones import sync_settings_zones

#: Seconds between two "purge everything" of the same scope from the admin.
PURGE_EVERYTHING_COOLDOWN = 60

_STATUS_ICONS = {"ok": "✔", "warning": "⚠", "error": "✘", "skipped": "-"}
_SETTINGS_LOCKED = (
    "zone_id",
    "account_id",
    "hostnames",
    "auth_kind",
    "api_token",
    "email",
    "api_key",
)


@admin.register(CloudflareZone)
class CloudflareZoneAdmin(admin.ModelAdmin):
    """Zones: secrets never rendered back; settings-defined zones read-only; Test connection."""

    form = CloudflareZoneForm
    list_display = (
        "name",
        "zone_id",
        "auth_kind",
        "enabled",
        "test_status",
        "token_expiry",
        "source",
    )
    list_filter = ("enabled", "auth_kind", "from_settings")
    search_fields = ("name", "zone_id", "cf_zone_name")
    actions = ["test_connection_action"]
    readonly_fields = (
        "test_result",
        "token_expiry",
        "cf_zone_name",
        "cf_zone_status",
        "environment_note",
    )
    change_form_template = "admin/django_cfpurge/cloudflarezone/change_form.html"
    change_list_template = "admin/django_cfpurge/cloudflarezone/change_list.html"

    def get_fieldsets(self, request: HttpRequest, obj: CloudflareZone | None = None) -> Any:
        fieldsets: list[Any] = []
        if obj is not None and obj.from_settings:
            fieldsets.append((None, {"fields": ("environment_note",)}))
        fieldsets += [
            (None, {"fields": ("name", "enabled")}),
            (
                gettext("Cloudflare zone"),
                {"fields": ("zone_id", "account_id", "hostnames", "plan")},
            ),
            (
                gettext("Credentials"),
                {
                    "fields": ("auth_kind", "api_token", "email", "api_key"),
                    "description": gettext(
                        "Recommended: an API token with only Zone → Cache Purge → Purge on this "
                        "zone. Stored values are never shown again."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    gettext("Last Test connection"),
                    {"fields": ("test_result", "token_expiry", "cf_zone_name", "cf_zone_status")},
                )
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: CloudflareZone | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.from_settings:
            fields += ["name", *_SETTINGS_LOCKED]
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CloudflareZone]:
        sync_settings_zones()
        return super().get_queryset(request)

    # -- read-only displays (no secret ever) ----------------------------------------
    @admin.display(description=_("set by the environment"))
    def environment_note(self, obj: CloudflareZone) -> StrOrPromise:
        return format_html(
            "<strong>{}</strong>",
            gettext(
                "This zone is set by the environment (settings): its IDs and credentials are "
                "read-only here. Change them in the environment and restart."
            ),
        )

    @admin.display(description=_("source"))
    def source(self, obj: CloudflareZone) -> StrOrPromise:
        return gettext("set by the environment") if obj.from_settings else gettext("admin")

    @admin.display(description=_("last test"))
    def test_status(self, obj: CloudflareZone) -> StrOrPromise:
        if obj.last_test_at is None:
            return gettext("never tested")
        icon = "✔" if obj.last_test_ok else "✘"
        failed = [s for s in obj.last_test_steps if s.get("status") == "error"]
        text = failed[0]["message"] if failed else gettext("passed")
        return format_html("{} {}", icon, text)

    @admin.display(description=_("token expires"))
    def token_expiry(self, obj: CloudflareZone) -> StrOrPromise:
        if obj.token_expires_on is None:
            if obj.last_test_at is None or obj.auth_kind != "token":
                return "—"
            return gettext("no expiry")
        now = timezone.now()
        date = f"{timezone.localtime(obj.token_expires_on):%Y-%m-%d}"
        if obj.token_expires_on <= now:
            return format_html(
                '<strong class="errornote">{}</strong>',
                gettext("expired on %(date)s") % {"date": date},
            )
        if obj.token_expires_on <= now + timedelta(days=EXPIRY_WARNING_DAYS):
            return format_html(
                "<strong>⚠ {}</strong>", gettext("expires soon: %(date)s") % {"date": date}
            )
        return date

    @admin.display(description=_("result"))
    def test_result(self, obj: CloudflareZone) -> StrOrPromise:
        if not obj.last_test_steps:
            return gettext("Not tested yet. Save, then click “Test connection”.")
        when = timezone.localtime(obj.last_test_at) if obj.last_test_at else None
        items = format_html_join(
            "",
            '<li class="cfpurge-step cfpurge-{}"><span>{}</span> <strong>{}</strong>: {}</li>',
            (
                (s["status"], _STATUS_ICONS.get(s["status"], "?"), s["label"], s["message"])
                for s in obj.last_test_steps
            ),
        )
        return format_html(
            '<p>{}</p><ul class="cfpurge-steps">{}</ul>',
            # Translators: %(when)s is the date and time of the last Test connection.
            gettext("Tested %(when)s") % {"when": f"{when:%Y-%m-%d %H:%M}" if when else ""},
            items,
        )

    # -- Test connection ------------------------------------------------------------
    def _test(self, request: HttpRequest, zone: CloudflareZone) -> None:
        report = run_connection_test(zone)
        if report.ok:
            self.message_user(
                request,
                gettext("Zone %(zone)s: %(summary)s")
                % {"zone": zone.name, "summary": report.summary()},
                messages.SUCCESS,
            )
        else:
            for step in report.failures:
                self.message_user(
                    request,
                    gettext("Zone %(zone)s — %(step)s: %(message)s")
                    % {"zone": zone.name, "step": step.label, "message": step.message},
                    messages.ERROR,
                )

    @admin.action(description=_("Test connection"))
    def test_connection_action(
        self, request: HttpRequest, queryset: QuerySet[CloudflareZone]
    ) -> None:
        for zone in queryset:
            self._test(request, zone)

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="{}_{}_test".format(*info),
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        zone = get_object_or_404(CloudflareZone, pk=object_id)
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:django_cfpurge_cloudflarezone_change", args=[zone.pk])
            )
        if not self.has_change_permission(request, zone):
            raise PermissionDenied
        self._test(request, zone)
        return HttpResponseRedirect(
            reverse("admin:django_cfpurge_cloudflarezone_change", args=[zone.pk])
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        status = outbox_status()
        extra_context = {**(extra_context or {}), "cfpurge_status": status}
        extra_context["cfpurge_log_url"] = reverse("admin:django_cfpurge_purgerequest_changelist")
        return super().changelist_view(request, extra_context)


class ZoneFilter(admin.SimpleListFilter):
    title = _("zone")
    parameter_name = "zone"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        zones = [(z.pk, z.name) for z in CloudflareZone.objects.all()]
        return [*zones, ("none", gettext("no zone"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PurgeRequest]) -> Any:
        value = self.value()
        if value == "none":
            return queryset.filter(zone__isnull=True)
        if value and value.isdigit():
            return queryset.filter(zone_id=int(value))
        return queryset


@admin.register(PurgeRequest)
class PurgeRequestAdmin(admin.ModelAdmin):
    """The purge log: read-only, with retry/ignore, an activity chart and manual purge."""

    list_display = (
        "id",
        "status",
        "event",
        "what",
        "zone",
        "targets_short",
        "attempts",
        "last_error_short",
        "created_at",
        "done_at",
    )
    list_filter = ("status", ZoneFilter, "event", "source", "created_at")
    search_fields = ("object_repr", "model_label", "object_pk")
    date_hierarchy = "created_at"
    actions = ["retry_now", "ignore"]
    list_select_related = ("zone",)
    change_list_template = "admin/django_cfpurge/purgerequest/change_list.html"
    readonly_fields = [
        f.name for f in PurgeRequest._meta.fields if f.name not in ("claim_token", "claimed_until")
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The log is pruned after RETENTION_DAYS; "Ignore" takes a row out of the queue.
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every field is read-only: a page to read, with no Save buttons. Rows change
        # through the "Retry now" and "Ignore" actions only.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

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

    @admin.display(description=_("object"))
    def what(self, obj: PurgeRequest) -> str:
        if obj.source == PurgeRequest.Source.MODEL:
            return f"{obj.model_label} #{obj.object_pk} {obj.object_repr}".strip()
        who = getattr(obj.requested_by, "get_username", lambda: "")()
        return f"{obj.get_source_display()} {who}".strip()

    @admin.display(description=_("targets"))
    def targets_short(self, obj: PurgeRequest) -> StrOrPromise:
        flat = obj.all_targets()
        if not flat:
            return "—" if obj.resolved else gettext("(resolved when sent)")
        more = f" (+{len(flat) - 3})" if len(flat) > 3 else ""
        return ", ".join(flat[:3]) + more

    @admin.display(description=_("last error"))
    def last_error_short(self, obj: PurgeRequest) -> str:
        return (obj.last_error[:140] + "…") if len(obj.last_error) > 140 else obj.last_error

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[PurgeRequest]) -> None:
        count = outbox.retry_rows(queryset)
        self.message_user(
            request,
            ngettext(
                "%(count)d purge request will be sent again.",
                "%(count)d purge requests will be sent again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Ignore"), permissions=["change"])
    def ignore(self, request: HttpRequest, queryset: QuerySet[PurgeRequest]) -> None:
        count = queryset.exclude(status=PurgeRequest.Status.DONE).update(
            status=PurgeRequest.Status.IGNORED, done_at=timezone.now(), claimed_until=None
        )
        self.message_user(
            request,
            ngettext("%(count)d purge request ignored.", "%(count)d purge requests ignored.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "purge/",
                self.admin_site.admin_view(self.manual_purge_view),
                name="django_cfpurge_purgerequest_purge",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        series = hourly_activity(48)
        peak = max([s["done"] + s["failed"] + s["waiting"] for s in series] + [1])
        extra_context = {
            **(extra_context or {}),
            "cfpurge_chart": _chart(series, peak),
            "cfpurge_can_purge": request.user.has_perm("django_cfpurge.purge_cache"),
        }
        return super().changelist_view(request, extra_context)

    def manual_purge_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("django_cfpurge.purge_cache"):
            raise PermissionDenied
        form = ManualPurgeForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Purge the Cloudflare cache"),
            "opts": self.opts,
            "form": form,
            "confirm": False,
        }
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if data["kind"] == "everything":
                if request.POST.get("confirmed") != "yes":
                    context["confirm"] = True
                    context["zone"] = data.get("zone")
                    return TemplateResponse(
                        request, "admin/django_cfpurge/purgerequest/purge.html", context
                    )
                scope = data["zone"].pk if data.get("zone") else "all"
                cache = caches[get_setting("RATE_LIMIT_CACHE")]
                if not cache.add(
                    f"cfpurge:everything-cooldown:{scope}", 1, PURGE_EVERYTHING_COOLDOWN
                ):
                    messages.error(
                        request,
                        ngettext(
                            "Everything was purged less than %(s)d second ago; "
                            "wait before purging again.",
                            "Everything was purged less than %(s)d seconds ago; "
                            "wait before purging again.",
                            PURGE_EVERYTHING_COOLDOWN,
                        )
                        % {"s": PURGE_EVERYTHING_COOLDOWN},
                    )
                    return HttpResponseRedirect(request.path)
            from . import api

            func = {
                "files": api.purge_urls,
                "prefixes": api.purge_prefixes,
                "hosts": api.purge_hosts,
                "tags": api.purge_tags,
            }.get(data["kind"])
            try:
                if func is None:
                    row = api.purge_everything(
                        zone=data.get("zone"), user=request.user, source="manual"
                    )
                else:
                    row = func(
                        data["item_list"], zone=data.get("zone"), user=request.user, source="manual"
                    )
            except Exception as err:  # noqa: BLE001  (shown to the user; nothing was written)
                messages.error(request, str(err))
                return TemplateResponse(
                    request, "admin/django_cfpurge/purgerequest/purge.html", context
                )
            messages.success(
                request,
                gettext("Purge request #%(id)s recorded; it is sent within seconds.")
                % {"id": row.pk},
            )
            return HttpResponseRedirect(
                reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk])
            )
        return TemplateResponse(request, "admin/django_cfpurge/purgerequest/purge.html", context)


def _chart(series: list[dict[str, Any]], peak: int) -> list[dict[str, Any]]:
    """Bar heights (percent of the busiest hour) for the 48-hour chart."""
    bars = []
    for point in series:
        bars.append(
            {
                "hour": point["hour"],
                "done": point["done"],
                "failed": point["failed"],
                "waiting": point["waiting"],
                "done_pct": round(100 * point["done"] / peak, 1),
                "failed_pct": round(100 * point["failed"] / peak, 1),
                "waiting_pct": round(100 * point["waiting"] / peak, 1),
            }
        )
    return bars
