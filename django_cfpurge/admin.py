"""Django admin: zones (credentials, Test connection), the purge log, and manual purge.

Who may do what (one table, asserted for every URL and action in
``tests/test_permissions.py`` and shown in ``docs/security.rst``):

* viewing zones or the log needs the ``view`` permission; secrets are never shown to
  anyone, at most masked ("set, ends in …1a2b"), and lookups, ordering and search on
  secret fields are refused;
* adding a zone, the "which CDN?" page included, needs ``add``;
* Test connection (button and action) needs ``change`` on the zone; the button is shown
  only to those who have it;
* "Retry now" and "Ignore" need ``change`` on purge requests; re-sending a purge of
  hostnames, prefixes or everything also needs ``purge_cache`` and goes through the same
  confirmation and cooldown as the manual purge page (one cooldown for "everything",
  whatever the zone);
* manual purge needs ``purge_cache``;
* an action posted by a user who may not run it is refused with 403.

Error pages of the zone views never show a secret, ``DEBUG`` or not
(:class:`SecretsReporterFilter`).
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, TextField
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import api
from .backends import backend_choices, get_backend_class
from .backends.cloudflare.steps import EXPIRY_WARNING_DAYS
from .conf import get_str
from .diagnostics import run_connection_test
from .enums import Kind, Source
from .exceptions import CfPurgeConfigurationError, CfPurgeError
from .forms import ManualPurgeForm, ZoneForm, mask
from .models import SECRET_COLUMNS, PurgeRequest, Zone
from .outbox import outcomes
from .outbox.queries import PurgeRequestQuerySet
from .status import hourly_activity, outbox_status, worker_state
from .zones import sync_settings_zones, zone_values

if TYPE_CHECKING:  # pragma: no cover
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str

logger = logging.getLogger(__name__)

#: Seconds between two "purge everything" from the admin, whatever the scope.
PURGE_EVERYTHING_COOLDOWN = 60
#: Kinds whose purge empties much of the cache: they need ``purge_cache`` to re-send.
WIDE_KINDS = frozenset({Kind.HOSTS, Kind.PREFIXES, Kind.EVERYTHING})
PURGE_PERMISSION = "django_cfpurge.purge_cache"

_STATUS_ICONS = {"ok": "✔", "warning": "⚠", "error": "✘", "skipped": "-"}
_SETTINGS_LOCKED = ("backend", "zone_id", "account_id", "hostnames", "auth_kind", "email")


def everything_cooldown_taken() -> bool:
    """Start the "purge everything" cooldown; False when one is running already."""
    cache = caches[get_str("RATE_LIMIT_CACHE") or "default"]
    return bool(cache.add("cfpurge:everything-cooldown", 1, PURGE_EVERYTHING_COOLDOWN))


class WorkerBannerMixin:
    """Adds the "no worker has drained since …" banner to every django-cfpurge page."""

    def worker_context(self) -> dict[str, Any]:
        state = worker_state()
        return {"cfpurge_worker": state}


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Cleanses what views that take secrets mark as sensitive, even when ``DEBUG`` is on.

    Django's filter is off when ``DEBUG`` is True ("your site is not safe anyway"), so
    ``sensitive_post_parameters`` and ``sensitive_variables`` would not keep a token
    posted to the zone form out of the ``DEBUG`` error page. The zone views set this
    filter on their requests (Django's ``request.exception_reporter_filter`` hook).
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


def guard_secrets(request: HttpRequest) -> None:
    """Make error reports of ``request`` cleanse its secrets whatever ``DEBUG`` is."""
    request.exception_reporter_filter = SecretsReporterFilter()


class NoSecretLookupsMixin:
    """Refuses every list filter that names a secret column, directly
    (``?api_token__startswith=``) or through a relation (``?zone__api_key=``): Django
    then answers 400, the same for a right guess and a wrong one."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if any(part in SECRET_COLUMNS for part in lookup.split(LOOKUP_SEP)):
            return False
        return bool(super().lookup_allowed(lookup, value, request))  # type: ignore[misc]


class RefuseUnavailableActionsMixin:
    """A POSTed action the user may not run is refused with 403.

    Django would show the list again (or say "No action selected."), which reads like
    a slip rather than a refusal; the permission table asserts a 403 instead.
    """

    def refuse_unavailable_action(self, request: HttpRequest) -> None:
        """:raises PermissionDenied: the request posts an action the user may not run."""
        if request.method != "POST" or helpers.ACTION_CHECKBOX_NAME not in request.POST:
            return
        names = request.POST.getlist("action")
        try:
            index = int(request.POST.get("index", 0))
        except ValueError:
            index = 0
        name = names[index] if 0 <= index < len(names) else ""
        if name and name not in self.get_actions(request):  # type: ignore[attr-defined]
            raise PermissionDenied


@admin.register(Zone)
class ZoneAdmin(
    NoSecretLookupsMixin, RefuseUnavailableActionsMixin, WorkerBannerMixin, admin.ModelAdmin
):
    """Zones: secrets never rendered back; settings-defined zones read-only; Test connection."""

    form = ZoneForm
    list_display = (
        "name",
        "backend",
        "zone_id",
        "enabled",
        "test_status",
        "token_expiry",
        "source",
    )
    list_filter = ("enabled", "backend", "from_settings")
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

    # -- secrets: never a lookup, never a value (see NoSecretLookupsMixin) -------------
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
        try:
            return get_backend_class(name)
        except CfPurgeConfigurationError:
            return None

    def get_fieldsets(self, request: HttpRequest, obj: Zone | None = None) -> Any:
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
        fieldsets: list[Any] = []
        if obj is not None and obj.from_settings:
            fieldsets.append((None, {"fields": ("environment_note",)}))
        fieldsets += [
            (None, {"fields": ("name", "backend", "enabled")}),
            (gettext("Zone"), {"fields": ("hostnames", "plan")}),
            (
                gettext("Credentials"),
                {
                    "fields": fields,
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
            fields.append("backend")
        if obj is not None and obj.from_settings:
            fields += ["name", *_SETTINGS_LOCKED]
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Zone]:
        sync_settings_zones()
        return super().get_queryset(request)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if "backend" not in request.GET and request.method == "GET":
            # Django checks the add permission in the form view only; this page is ours.
            if not self.has_add_permission(request):
                raise PermissionDenied
            choices = backend_choices()
            context = {
                **self.admin_site.each_context(request),
                **self.worker_context(),
                "title": gettext("Add a CDN zone: which CDN?"),
                "opts": self.opts,
                "backends": choices,
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

    def save_model(self, request: HttpRequest, obj: Zone, form: Any, change: bool) -> None:
        credentials_changed = (
            not change
            or bool(
                set(form.changed_data)
                & {"zone_id", "account_id", "auth_kind", "email", *SECRET_COLUMNS}
            )
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

    # -- read-only displays (no secret ever) ------------------------------------------
    @admin.display(description=_("stored credentials"))
    def stored_credentials(self, obj: Zone) -> StrOrPromise:
        cls = self._backend_cls_for(obj)
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

    @staticmethod
    def _backend_cls_for(obj: Zone) -> Any:
        try:
            return get_backend_class(obj.backend)
        except CfPurgeConfigurationError:
            return None

    @admin.display(description=_("set by the environment"))
    def environment_note(self, obj: Zone) -> StrOrPromise:
        return format_html(
            "<strong>{}</strong>",
            gettext(
                "This zone is set by the environment (settings): its IDs and credentials are "
                "read-only here. Change them in the environment and restart."
            ),
        )

    @admin.display(description=_("source"))
    def source(self, obj: Zone) -> StrOrPromise:
        return gettext("set by the environment") if obj.from_settings else gettext("admin")

    @admin.display(description=_("last test"))
    def test_status(self, obj: Zone) -> StrOrPromise:
        if obj.last_test_at is None:
            return gettext("never tested")
        if obj.credentials_changed_at and obj.credentials_changed_at > obj.last_test_at:
            return gettext("not tested since the credentials changed")
        icon = "✔" if obj.last_test_ok else "✘"
        failed = [s for s in obj.last_test_steps if s.get("status") == "error"]
        text = failed[0]["message"] if failed else gettext("passed")
        return format_html("{} {}", icon, text)

    @admin.display(description=_("token expires"))
    def token_expiry(self, obj: Zone) -> StrOrPromise:
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
    def test_result(self, obj: Zone) -> StrOrPromise:
        if not obj.last_test_steps:
            return gettext("Not tested yet. Save, then click “Test connection”.")
        when = timezone.localtime(obj.last_test_at) if obj.last_test_at else None
        stale = ""
        if (
            obj.credentials_changed_at
            and obj.last_test_at
            and obj.credentials_changed_at > obj.last_test_at
        ):
            stale = gettext(
                "Not tested since the credentials changed: this result is for the previous ones."
            )
        items = format_html_join(
            "",
            '<li class="cfpurge-step cfpurge-{}"><span>{}</span> <strong>{}</strong>: {}</li>',
            (
                (s["status"], _STATUS_ICONS.get(s["status"], "?"), s["label"], s["message"])
                for s in obj.last_test_steps
            ),
        )
        return format_html(
            '<p>{}</p><p class="cfpurge-stale">{}</p><ul class="cfpurge-steps">{}</ul>',
            # Translators: %(when)s is the date and time of the last Test connection.
            gettext("Tested %(when)s") % {"when": f"{when:%Y-%m-%d %H:%M}" if when else ""},
            stale,
            items,
        )

    # -- Test connection -------------------------------------------------------------
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

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        self.refuse_unavailable_action(request)
        extra_context = {
            **(extra_context or {}),
            **self.worker_context(),
            "cfpurge_status": outbox_status(),
            "cfpurge_log_url": reverse("admin:django_cfpurge_purgerequest_changelist"),
        }
        return super().changelist_view(request, extra_context)


class ZoneFilter(admin.SimpleListFilter):
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


def _wide(row: PurgeRequest) -> bool:
    return bool(set(row.targets or {}) & WIDE_KINDS)


@admin.register(PurgeRequest)
class PurgeRequestAdmin(
    NoSecretLookupsMixin, RefuseUnavailableActionsMixin, WorkerBannerMixin, admin.ModelAdmin
):
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
            **self.worker_context(),
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
        if obj.source == Source.MODEL:
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
    def retry_now(
        self, request: HttpRequest, queryset: QuerySet[PurgeRequest]
    ) -> HttpResponse | None:
        # Rows "Retry now" would not send again (purged already) ask nothing.
        wide = [row for row in cast(PurgeRequestQuerySet, queryset).retryable() if _wide(row)]
        if wide and not request.user.has_perm(PURGE_PERMISSION):
            self.message_user(
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
                messages.ERROR,
            )
            return None
        if wide and request.POST.get("confirmed") != "yes":
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
        if (
            any(Kind.EVERYTHING in (row.targets or {}) for row in wide)
            and not everything_cooldown_taken()
        ):
            self._cooldown_message(request)
            return None
        count = outcomes.retry_rows(queryset)
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
        return None

    def _cooldown_message(self, request: HttpRequest) -> None:
        self.message_user(
            request,
            ngettext(
                "Everything was purged less than %(s)d second ago; wait before purging again.",
                "Everything was purged less than %(s)d seconds ago; wait before purging again.",
                PURGE_EVERYTHING_COOLDOWN,
            )
            % {"s": PURGE_EVERYTHING_COOLDOWN},
            messages.ERROR,
        )

    @admin.action(description=_("Ignore"), permissions=["change"])
    def ignore(self, request: HttpRequest, queryset: QuerySet[PurgeRequest]) -> None:
        count = outcomes.ignore_rows(queryset)
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
        self.refuse_unavailable_action(request)
        series = hourly_activity(48)
        peak = max([s["done"] + s["failed"] + s["waiting"] for s in series] + [1])
        extra_context = {
            **(extra_context or {}),
            **self.worker_context(),
            "cfpurge_chart": _chart(series, peak),
            "cfpurge_can_purge": request.user.has_perm(PURGE_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def manual_purge_view(self, request: HttpRequest) -> HttpResponse:
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
        template = "admin/django_cfpurge/purgerequest/purge.html"
        if request.method != "POST" or not form.is_valid():
            return TemplateResponse(request, template, context)
        data = form.cleaned_data
        if data["kind"] == Kind.EVERYTHING:
            if request.POST.get("confirmed") != "yes":
                context["confirm"] = True
                context["zone"] = data.get("zone")
                return TemplateResponse(request, template, context)
            if not everything_cooldown_taken():
                self._cooldown_message(request)
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
            return TemplateResponse(request, template, context)
        messages.success(
            request,
            gettext("Purge request #%(id)s recorded; it is sent within seconds.") % {"id": row.pk},
        )
        return HttpResponseRedirect(
            reverse("admin:django_cfpurge_purgerequest_change", args=[row.pk])
        )


def _chart(series: list[dict[str, Any]], peak: int) -> list[dict[str, Any]]:
    """Bar heights (percent of the busiest hour) for the 48-hour chart."""
    return [
        {
            **point,
            "done_pct": round(100 * point["done"] / peak, 1),
            "failed_pct": round(100 * point["failed"] / peak, 1),
            "waiting_pct": round(100 * point["waiting"] / peak, 1),
        }
        for point in series
    ]
