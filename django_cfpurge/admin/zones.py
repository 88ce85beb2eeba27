"""CDN zones in the admin: the list with each zone's health, the "which CDN?" page, the
form built for one backend (secrets never rendered back; zones set by the environment
read-only), and Test connection."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from ..backends import backend_choices, get_backend_class
from ..diagnostics import run_connection_test
from ..exceptions import CfPurgeConfigurationError
from ..forms import ZoneForm, mask
from ..models import SECRET_COLUMNS, PurgeRequest, Zone
from ..outbox import outcomes
from ..status import Overlap, connection_test_state, outbox_status, zone_overlaps, zones_health
from ..zones import sync_settings_zones, zone_values
from .filters import ZoneCdnFilter
from .mixins import (
    ConsoleMixin,
    NoSecretLookupsMixin,
    RefuseUnavailableActionsMixin,
    guard_secrets,
)
from .zone_columns import StrOrPromise, ZoneColumnsMixin, attach_health

logger = logging.getLogger(__name__)

_SETTINGS_LOCKED = ("backend", "zone_id", "account_id", "hostnames", "auth_kind", "email")
_CREDENTIAL_INPUTS = {"zone_id", "account_id", "auth_kind", "email", *SECRET_COLUMNS}


def overlap_sentence(overlap: Overlap) -> str:
    """An overlap of zones as the zone pages warn of it."""
    names = ", ".join(overlap.names)
    if overlap.what == "zone_id":
        return gettext(
            "The zones %(names)s have the same Zone ID %(value)s: purges are sent twice, "
            "or to the wrong one. Keep one zone per CDN zone; disable or delete the others."
        ) % {"names": names, "value": overlap.value}
    return gettext(
        "The zones %(names)s all claim the hostname %(value)s: URLs on it go to one of them "
        "only. Give each hostname to one zone."
    ) % {"names": names, "value": overlap.value}


def overlap_warnings(zone: Zone | None = None) -> list[str]:
    """The warnings of overlapping enabled zones (those of ``zone`` only, if given)."""
    overlaps = zone_overlaps(Zone.objects.filter(enabled=True))
    if zone is not None:
        overlaps = [o for o in overlaps if zone.name in o.names]
    return [overlap_sentence(o) for o in overlaps]


def log_url_for(request: HttpRequest, model_admin: admin.ModelAdmin) -> str:
    """The purge log's address, or "" when the user may not read it."""
    log_admin = model_admin.admin_site._registry.get(PurgeRequest)
    if log_admin is None or not log_admin.has_view_permission(request):
        return ""
    return reverse("admin:django_cfpurge_purgerequest_changelist")


class ZoneAdmin(
    ZoneColumnsMixin,
    NoSecretLookupsMixin,
    RefuseUnavailableActionsMixin,
    ConsoleMixin,
    admin.ModelAdmin,
):
    """Zones: health at a glance; secrets never rendered back; settings-defined zones
    read-only; Test connection."""

    form = ZoneForm
    list_display = (
        "zone_name",
        "cdn",
        "last_purge",
        "queue",
        "success_24h",
        "test_status",
        "token_expiry",
    )
    list_filter = ("enabled", ZoneCdnFilter, "from_settings")
    search_fields = ("name", "zone_id", "remote_name")
    actions = ["test_connection_action"]
    readonly_fields = (
        "stored_credentials",
        "test_result",
        "token_expiry",
        "remote_name",
        "remote_status",
        "environment_note",
    )
    change_form_template = "admin/django_cfpurge/zone/change_form.html"
    change_list_template = "admin/django_cfpurge/zone/change_list.html"

    # -- the form of one backend (secrets: never a lookup, never a value) ------------------
    def get_form(
        self, request: HttpRequest, obj: Zone | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        backend = request.GET.get("backend") or request.POST.get("backend")

        class BoundZoneForm(form):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, backend=backend, **kw)

        return BoundZoneForm

    def _backend_cls(self, request: HttpRequest, obj: Zone | None) -> Any:
        name = obj.backend if obj is not None else request.GET.get("backend") or "cloudflare"
        return _backend_or_none(name)

    def _credential_fields(self, request: HttpRequest, obj: Zone | None) -> list[str]:
        cls = self._backend_cls(request, obj)
        editable = obj is None or (
            self.has_change_permission(request, obj) and not obj.from_settings
        )
        fields = [f.name for f in cls.credential_fields] if cls else []
        secret = {f.name for f in cls.credential_fields if f.secret} if cls else set()
        if cls and cls.auth_kinds:
            fields.insert(0, "auth_kind")
        if not editable:
            # Read-only pages show secrets masked, never through the field itself.
            fields = [f for f in fields if f not in secret] + ["stored_credentials"]
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Zone | None = None) -> Any:
        fieldsets: list[Any] = []
        if obj is not None and obj.from_settings:
            fieldsets.append((None, {"fields": ("environment_note",)}))
        fieldsets += [
            # An existing zone keeps its CDN: shown by name ("Cloudflare"), not edited.
            (None, {"fields": ("name", "backend" if obj is None else "cdn", "enabled")}),
            (gettext("Zone"), {"fields": ("hostnames", "plan")}),
            (
                gettext("Credentials"),
                {
                    "fields": self._credential_fields(request, obj),
                    "description": gettext(
                        "Recommended: a token or key limited to purging this zone. Stored "
                        "secrets are encrypted and never shown again."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    gettext("Last Test connection"),
                    {"fields": ("test_result", "token_expiry", "remote_name", "remote_status")},
                )
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Zone | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["backend", "cdn"]
        if obj is not None and obj.from_settings:
            fields += ["name", *_SETTINGS_LOCKED]
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Zone]:
        sync_settings_zones()
        return super().get_queryset(request)

    # -- pages ---------------------------------------------------------------------------
    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if "backend" not in request.GET and request.method == "GET":
            # Django checks the add permission in the form view only; this page is ours.
            if not self.has_add_permission(request):
                raise PermissionDenied
            context = {
                **self.admin_site.each_context(request),
                **self.worker_context(),
                "title": gettext("Add a CDN zone: which CDN?"),
                "opts": self.opts,
                "backends": backend_choices(),
            }
            return TemplateResponse(
                request, "admin/django_cfpurge/zone/choose_backend.html", context
            )
        return super().add_view(
            request, form_url, {**(extra_context or {}), **self.worker_context()}
        )

    @method_decorator(sensitive_post_parameters(*SECRET_COLUMNS))
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        guard_secrets(request)
        extra = {**(extra_context or {}), **self.worker_context()}
        return super().changeform_view(request, object_id, form_url, extra)

    @method_decorator(sensitive_post_parameters(*SECRET_COLUMNS))
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        guard_secrets(request)
        extra = dict(extra_context or {})
        zone = self.get_object(request, unquote(object_id))
        if zone is not None and self.has_view_or_change_permission(request, zone):
            health = zones_health([zone], last_error=True)[zone.pk]
            extra.update(
                cfpurge_health=health,
                cfpurge_test_state=connection_test_state(zone),
                cfpurge_log_url=log_url_for(request, self),
                cfpurge_overlaps=overlap_warnings(zone),
            )
        return super().change_view(request, object_id, form_url, extra)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        self.refuse_unavailable_action(request)
        log_url = log_url_for(request, self)
        extra_context = {
            **(extra_context or {}),
            **self.worker_context(),
            "title": gettext("CDN zones"),
            "cfpurge_status": outbox_status(),
            "cfpurge_log_url": log_url,
            "cfpurge_overlaps": overlap_warnings(),
        }
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # The page's zones, evaluated once here: the columns read what this kept.
            attach_health(changelist.result_list, log_url)
        return response

    def save_model(self, request: HttpRequest, obj: Zone, form: Any, change: bool) -> None:
        credentials_changed = (
            not change
            or bool(set(form.changed_data) & _CREDENTIAL_INPUTS)
            or any(
                (form.cleaned_data.get(c) or "").strip() for c in SECRET_COLUMNS if c in form.fields
            )
        )
        if credentials_changed:
            obj.credentials_changed_at = timezone.now()
        if change and {"zone_id", "plan", "backend"} & set(form.changed_data):
            # Another zone or plan may take larger calls: learn the size again.
            obj.max_items = obj.max_items_learnt_at = None
        super().save_model(request, obj, form, change)
        if credentials_changed:
            # What waited for these credentials to be fixed goes out now.
            outcomes.requeue_for_fix(obj)

    # -- read-only values (no secret ever) -----------------------------------------------
    @admin.display(description=_("stored credentials"))
    def stored_credentials(self, obj: Zone) -> StrOrPromise:
        cls = _backend_or_none(obj.backend)
        secrets = [f for f in cls.credential_fields if f.secret] if cls else []
        # A zone set by the environment keeps its secrets in settings: mask those.
        values = zone_values(obj) if obj.from_settings else {}
        return (
            format_html_join(
                "",
                "<div>{}: {}</div>",
                ((f.label, mask(values.get(f.name, getattr(obj, f.name)))) for f in secrets),
            )
            or "—"
        )

    @admin.display(description=_("set by the environment"))
    def environment_note(self, obj: Zone) -> StrOrPromise:
        return format_html(
            "<strong>{}</strong>",
            gettext(
                "This zone is set by the environment (settings): its IDs and credentials are "
                "read-only here. Change them in the environment and restart."
            ),
        )

    # -- Test connection -----------------------------------------------------------------
    @method_decorator(sensitive_variables())
    def _test(self, request: HttpRequest, zone: Zone) -> None:
        try:
            report = run_connection_test(zone)
        except Exception as err:  # noqa: BLE001  (a button must never become an error page)
            # The runner turns every step's failure into a message; this is for a bug
            # outside the steps. The type and where it was raised are logged, not the
            # message nor the variables: either may hold a credential.
            logger.error(
                "django-cfpurge: Test connection of zone %s failed unexpectedly (%s), at:\n%s",
                zone.name,
                type(err).__name__,
                "".join(traceback.format_tb(err.__traceback__)),
            )
            self.message_user(
                request,
                gettext(
                    "Zone %(zone)s: Test connection failed unexpectedly (%(error)s). The "
                    "server's log says where."
                )
                % {"zone": zone.name, "error": type(err).__name__},
                messages.ERROR,
            )
            return
        if report.ok:
            self.message_user(
                request,
                gettext("Zone %(zone)s: %(summary)s")
                % {"zone": zone.name, "summary": report.summary()},
                messages.SUCCESS,
            )
            return
        for step in report.failures:
            self.message_user(
                request,
                gettext("Zone %(zone)s — %(step)s: %(message)s")
                % {"zone": zone.name, "step": step.label, "message": step.message},
                messages.ERROR,
            )

    @admin.action(description=_("Test connection"), permissions=["change"])
    def test_connection_action(self, request: HttpRequest, queryset: QuerySet[Zone]) -> None:
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

    @method_decorator(sensitive_post_parameters())
    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        guard_secrets(request)
        # The permission first, as Django's own views do: a user who may not test any
        # zone learns nothing from a 404 either.
        if not self.has_change_permission(request):
            raise PermissionDenied
        zone = self.get_object(request, unquote(object_id))
        if zone is None:
            raise Http404
        if not self.has_change_permission(request, zone):
            raise PermissionDenied
        if request.method == "POST":
            self._test(request, zone)
        return HttpResponseRedirect(reverse("admin:django_cfpurge_zone_change", args=[zone.pk]))


def _backend_or_none(name: str) -> Any:
    try:
        return get_backend_class(name)
    except CfPurgeConfigurationError:
        return None
