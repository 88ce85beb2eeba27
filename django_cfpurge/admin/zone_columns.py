"""The zone list's columns and the zone page's read-only values: health at a glance
(last purge, queue, 24-hour success), the last Test connection and the token's expiry.

A Test connection result older than the last change of the credentials is about the
previous ones: it is shown as "not tested since the change", and so is the token's
expiry it learnt.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..backends.cloudflare.steps import EXPIRY_WARNING_DAYS
from ..enums import Status
from ..exceptions import CfPurgeConfigurationError
from ..models import Zone
from ..status import ConnectionTestState, ZoneHealth, connection_test_state, zones_health
from ..zones import backend_class
from .display import backend_label, breakable, short

if TYPE_CHECKING:  # pragma: no cover
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str

#: Icons of the steps of a Test connection.
STEP_ICONS = {"ok": "✔", "warning": "⚠", "error": "✘", "skipped": "-"}
#: Below this 24-hour success rate, the zone list marks the rate.
LOW_SUCCESS_RATE = 0.9
#: Attribute of a zone instance holding what :func:`attach_health` computed.
_HEALTH = "_cfpurge_health"
_LOG_URL = "_cfpurge_log_url"


def ago(when: datetime) -> str:
    """How long ago, in its largest unit: "3 hours ago", or "just now"."""
    if timezone.now() - when < timedelta(minutes=1):
        return gettext("just now")
    return gettext("%(age)s ago") % {"age": timesince(when, depth=1)}


def stamp(when: datetime) -> str:
    """A time as people read it on the console: "2025-11-28 14:02"."""
    return f"{timezone.localtime(when):%Y-%m-%d %H:%M}"


def attach_health(zones: Any, log_url: str) -> None:
    """Compute the health of ``zones`` (the page's) in a few queries and keep it on
    each instance for the columns; ``log_url`` ("" if the user may not read the log)
    is where the queue's counts link to."""
    zones = list(zones)
    health = zones_health(zones)
    for zone in zones:
        setattr(zone, _HEALTH, health[zone.pk])
        setattr(zone, _LOG_URL, log_url)


def health_of(zone: Zone) -> ZoneHealth:
    """The health :func:`attach_health` kept on ``zone``, or computed now."""
    found = getattr(zone, _HEALTH, None)
    return found if found is not None else zones_health([zone])[zone.pk]


def log_link(log_url: str, text: str, **filters: Any) -> SafeString:
    """``text``, linked to the log filtered by ``filters`` when ``log_url`` is set."""
    if not log_url:
        return format_html("{}", text)
    return format_html('<a href="{}?{}">{}</a>', log_url, urlencode(filters), text)


def uses_token(zone: Zone) -> bool:
    """True when ``zone`` authenticates with an API token (whose expiry a test learns)."""
    try:
        cls = backend_class(zone)
    except CfPurgeConfigurationError:
        return False
    if "api_token" not in {f.name for f in cls.credential_fields}:
        return False
    return not cls.auth_kinds or zone.auth_kind == "token"


def test_summary(zone: Zone) -> SafeString:
    """The last Test connection in a few words, with its age."""
    state = connection_test_state(zone)
    if state == ConnectionTestState.NEVER:
        return format_html('<span class="cfpurge-quiet">{}</span>', state.label)
    if state == ConnectionTestState.STALE:
        return format_html(
            '<span class="cfpurge-warn" title="{}">⚠ {}</span>',
            gettext("Credentials changed %(when)s; the last test was of the previous ones.")
            % {"when": stamp(zone.credentials_changed_at)}
            if zone.credentials_changed_at
            else "",
            state.label,
        )
    age = ago(zone.last_test_at) if zone.last_test_at else ""
    if state == ConnectionTestState.PASSED:
        return format_html(
            '<span class="cfpurge-ok">✔ {}</span> <span class="cfpurge-quiet">{}</span>',
            state.label,
            age,
        )
    failed = [s for s in zone.last_test_steps if s.get("status") == "error"]
    message = f"{failed[0].get('label', '')}: {failed[0].get('message', '')}" if failed else ""
    return format_html(
        '<span class="cfpurge-bad" title="{}">✘ {}</span> <span class="cfpurge-quiet">{}</span>',
        message,
        short(message, 120) or state.label,
        age,
    )


def token_summary(zone: Zone) -> StrOrPromise:
    """The token's expiry as the last test learnt it (nothing it learnt of a token
    since replaced)."""
    if connection_test_state(zone) == ConnectionTestState.STALE:
        return format_html(
            '<span class="cfpurge-quiet">{}</span>', gettext("unknown until tested again")
        )
    if zone.token_expires_on is None:
        if zone.last_test_at is None or not uses_token(zone):
            return "—"
        return gettext("no expiry")
    now = timezone.now()
    date = f"{timezone.localtime(zone.token_expires_on):%Y-%m-%d}"
    if zone.token_expires_on <= now:
        return format_html(
            '<strong class="cfpurge-bad">✘ {}</strong>',
            gettext("expired on %(date)s") % {"date": date},
        )
    if zone.token_expires_on <= now + timedelta(days=EXPIRY_WARNING_DAYS):
        return format_html(
            '<strong class="cfpurge-warn">⚠ {}</strong>',
            gettext("expires soon: %(date)s") % {"date": date},
        )
    return date


class ZoneColumnsMixin:
    """Display methods of :class:`~django_cfpurge.admin.zones.ZoneAdmin`."""

    @admin.display(description=_("name"), ordering="name")
    def zone_name(self, obj: Zone) -> SafeString:
        badges = []
        if not obj.enabled:
            badges.append(("cfpurge-badge cfpurge-badge-off", gettext("disabled")))
        if obj.from_settings:
            badges.append(("cfpurge-quiet", gettext("set by the environment")))
        return format_html(
            "{}{}",
            breakable(obj.name),
            format_html_join("", ' <span class="{}">{}</span>', badges),
        )

    @admin.display(description=_("CDN"), ordering="backend")
    def cdn(self, obj: Zone) -> str:
        return backend_label(obj.backend)

    @admin.display(description=_("last purge"))
    def last_purge(self, obj: Zone) -> StrOrPromise:
        when = health_of(obj).last_success_at
        if when is None:
            return format_html('<span class="cfpurge-quiet">{}</span>', gettext("never"))
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', when.isoformat(), stamp(when), ago(when)
        )

    @admin.display(description=_("queue"))
    def queue(self, obj: Zone) -> SafeString:
        health = health_of(obj)
        log_url = getattr(obj, _LOG_URL, "")
        waiting = log_link(
            log_url,
            gettext("%(count)d waiting") % {"count": health.waiting},
            zone=obj.pk,
            status__in=f"{Status.PENDING},{Status.HELD}",
        )
        failed = log_link(
            log_url,
            gettext("%(count)d failed") % {"count": health.failed},
            zone=obj.pk,
            status__exact=Status.FAILED,
        )
        css = "cfpurge-line cfpurge-bad" if health.failed else "cfpurge-line"
        return format_html(
            '<span class="cfpurge-line">{}</span> <span class="{}">{}</span>', waiting, css, failed
        )

    @admin.display(description=_("24 h success"))
    def success_24h(self, obj: Zone) -> SafeString:
        health = health_of(obj)
        rate = health.success_rate
        if rate is None:
            return format_html('<span class="cfpurge-quiet">{}</span>', gettext("no calls"))
        css = "cfpurge-bad" if rate < LOW_SUCCESS_RATE else ""
        return format_html(
            '<span class="{}">{} %</span> <span class="cfpurge-quiet">{}</span>',
            css,
            f"{rate * 100:.0f}",
            ngettext("of %(count)d call", "of %(count)d calls", health.calls_24h)
            % {"count": health.calls_24h},
        )

    @admin.display(description=_("last test"))
    def test_status(self, obj: Zone) -> SafeString:
        return test_summary(obj)

    @admin.display(description=_("token expires"))
    def token_expiry(self, obj: Zone) -> StrOrPromise:
        return token_summary(obj)

    @admin.display(description=_("result"))
    def test_result(self, obj: Zone) -> StrOrPromise:
        if not obj.last_test_steps:
            return gettext("Not tested yet. Save, then click “Test connection”.")
        when = stamp(obj.last_test_at) if obj.last_test_at else ""
        items = format_html_join(
            "",
            '<li class="cfpurge-step cfpurge-{}"><span>{}</span> <strong>{}</strong>: {}</li>',
            (
                (s["status"], STEP_ICONS.get(s["status"], "?"), s["label"], s["message"])
                for s in obj.last_test_steps
            ),
        )
        steps = format_html('<ul class="cfpurge-steps">{}</ul>', items)
        # Translators: %(when)s is the date and time of the last Test connection.
        tested = gettext("Tested %(when)s") % {"when": when}
        if connection_test_state(obj) != ConnectionTestState.STALE:
            return format_html("<p>{}</p>{}", tested, steps)
        changed = stamp(obj.credentials_changed_at) if obj.credentials_changed_at else ""
        return format_html(
            '<p class="cfpurge-stale"><strong>⚠ {}</strong> {}</p>'
            "<details><summary>{}</summary>{}</details>",
            ConnectionTestState.STALE.label,
            gettext("The credentials changed on %(changed)s: click “Test connection” to test them.")
            % {"changed": changed},
            gettext("Result of the previous credentials (%(when)s)") % {"when": when},
            steps,
        )
