"""Models: Cloudflare zones (credentials, hostnames, last test) and the purge outbox/log."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .credentials import AUTH_GLOBAL_KEY, AUTH_TOKEN

SECRET_FIELDS = ("api_token", "api_key")


class CloudflareZone(models.Model):
    """One Cloudflare zone this site purges, with its credentials and hostnames.

    A zone defined in settings (``CFPURGE["ZONE_ID"]`` or ``CFPURGE["ZONES"]``) is
    mirrored here with :attr:`from_settings` set; its credentials are then read
    from settings at use time and never stored in the database.
    """

    class AuthKind:
        TOKEN: str = AUTH_TOKEN
        GLOBAL_KEY: str = AUTH_GLOBAL_KEY
        choices: ClassVar[list[tuple[str, Any]]] = [
            (AUTH_TOKEN, _("API token (recommended)")),
            (AUTH_GLOBAL_KEY, _("Account email + Global API Key (legacy)")),
        ]

    name = models.CharField(
        _("name"),
        max_length=253,
        unique=True,
        help_text=_("The zone's domain, e.g. “example.com”. Also a default public hostname."),
    )
    zone_id = models.CharField(
        _("Zone ID"),
        max_length=32,
        help_text=_("32 hexadecimal characters, from the zone's Overview page, section “API”."),
    )
    hostnames = models.TextField(
        _("hostnames"),
        blank=True,
        help_text=_(
            "Hostnames this zone serves, one per line, as in ALLOWED_HOSTS: “.example.com” "
            "matches example.com and every subdomain. Empty: the zone's name and its subdomains."
        ),
    )
    auth_kind = models.CharField(
        _("authentication"), max_length=16, choices=AuthKind.choices, default=AuthKind.TOKEN
    )
    api_token = models.CharField(_("API token"), max_length=255, blank=True)
    email = models.EmailField(_("account email"), blank=True)
    api_key = models.CharField(_("Global API Key"), max_length=255, blank=True)
    account_id = models.CharField(
        _("Account ID"),
        max_length=32,
        blank=True,
        help_text=_("Needed for account-owned tokens (cfat_…). Not the Zone ID."),
    )
    plan = models.CharField(
        _("plan"),
        max_length=32,
        blank=True,
        help_text=_(
            "Cloudflare plan (free, pro, business, enterprise); learnt by Test connection."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    from_settings = models.BooleanField(_("set by the environment"), default=False, editable=False)

    last_test_at = models.DateTimeField(_("last tested"), null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(_("last test passed"), null=True, editable=False)
    last_test_steps = models.JSONField(_("last test steps"), default=list, editable=False)
    cf_zone_name = models.CharField(_("zone name at Cloudflare"), max_length=253, blank=True)
    cf_zone_status = models.CharField(_("zone status"), max_length=32, blank=True)
    token_status = models.CharField(_("token status"), max_length=32, blank=True)
    token_expires_on = models.DateTimeField(_("token expires"), null=True, blank=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("Cloudflare zone")
        verbose_name_plural = _("Cloudflare zones")
        ordering = ("name",)
        permissions = [("purge_cache", _("Can purge the Cloudflare cache by hand"))]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<CloudflareZone {self.name!r} zone_id={self.zone_id!r}>"

    @property
    def hostname_patterns(self) -> list[str]:
        """The hostname patterns this zone serves (ALLOWED_HOSTS syntax), lower-cased."""
        from .zones import hostname_patterns

        return hostname_patterns(self)

    def has_secret(self) -> bool:
        """True when the credentials needed by :attr:`auth_kind` are present."""
        from .zones import resolved_credentials_values

        values = resolved_credentials_values(self)
        if values["auth_kind"] == AUTH_TOKEN:
            return bool(values["api_token"])
        return bool(values["api_key"] and values["email"])


class PurgeRequest(models.Model):
    """One change to purge (the outbox) and, once handled, its record (the purge log)."""

    class Status:
        HELD: str = "held"
        PENDING: str = "pending"
        DONE: str = "done"
        FAILED: str = "failed"
        SKIPPED: str = "skipped"
        IGNORED: str = "ignored"
        DROPPED: str = "dropped"
        choices: ClassVar[list[tuple[str, Any]]] = [
            (HELD, _("held (suspended)")),
            (PENDING, _("waiting")),
            (DONE, _("purged")),
            (FAILED, _("failed")),
            (SKIPPED, _("skipped")),
            (IGNORED, _("ignored")),
            (DROPPED, _("dropped")),
        ]

    class Source:
        MODEL: str = "model"
        MANUAL: str = "manual"
        API: str = "api"
        choices: ClassVar[list[tuple[str, Any]]] = [
            (MODEL, _("model change")),
            (MANUAL, _("manual")),
            (API, _("code")),
        ]

    class Event:
        CREATED: str = "created"
        REPLACED: str = "replaced"
        OVERWRITTEN: str = "overwritten"
        CHANGED: str = "changed"
        DELETED: str = "deleted"
        BULK: str = "bulk"
        MANUAL: str = "manual"
        choices: ClassVar[list[tuple[str, Any]]] = [
            (CREATED, _("created")),
            (REPLACED, _("file replaced")),
            (OVERWRITTEN, _("file overwritten")),
            (CHANGED, _("watched field changed")),
            (DELETED, _("deleted")),
            (BULK, _("bulk helper")),
            (MANUAL, _("manual")),
        ]

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    event = models.CharField(_("event"), max_length=16, choices=Event.choices)
    model_label = models.CharField(_("model"), max_length=200, blank=True)
    object_pk = models.CharField(_("object id"), max_length=255, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    change = models.JSONField(
        _("change"), default=dict, blank=True, help_text=_("Old and new values captured.")
    )
    targets = models.JSONField(
        _("targets"),
        default=dict,
        blank=True,
        help_text=_("What to purge, by kind: files, tags, hosts, prefixes, everything."),
    )
    resolved = models.BooleanField(_("resolved"), default=False)
    skipped_targets = models.JSONField(_("skipped targets"), default=list, blank=True)
    zone = models.ForeignKey(
        CloudflareZone,
        verbose_name=_("zone"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="purge_requests",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # Rows are pruned after RETENTION_DAYS; an index would only slow every INSERT.
        db_index=False,
    )
    batch = models.CharField(_("batch"), max_length=32, blank=True)

    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    api_calls = models.PositiveIntegerField(_("API calls"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    error_kind = models.CharField(_("error kind"), max_length=32, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    result = models.JSONField(_("Cloudflare's answer"), default=dict, blank=True)

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    done_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("purge request")
        verbose_name_plural = _("purge log")
        ordering = ("-created_at", "-id")
        # Few indexes: every save of a registered model inserts a row. Claiming uses the
        # first; releasing a suspended batch the second, which holds held rows only.
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="cfpurge_due_idx"),
            models.Index(fields=["batch"], condition=~Q(batch=""), name="cfpurge_batch_idx"),
        ]

    def __str__(self) -> str:
        if self.source == self.Source.MODEL:
            what = self.object_repr or f"{self.model_label} #{self.object_pk}"
            return f"{self.get_event_display()}: {what}"
        return gettext("%(source)s purge #%(id)s") % {
            "source": capfirst(self.get_source_display()),
            "id": self.pk,
        }

    def __repr__(self) -> str:
        return f"<PurgeRequest {self.pk} {self.status} {self.event} {self.model_label}>"

    def target_count(self) -> int:
        """How many items (URLs, tags…) this row purges once resolved."""
        return sum(len(v) if isinstance(v, list) else 1 for v in (self.targets or {}).values())

    def all_targets(self) -> list[str]:
        """Flat list of targets for display and search."""
        flat: list[str] = []
        for kind, items in (self.targets or {}).items():
            if kind == "everything":
                flat.append("everything")
            else:
                flat.extend(_target_text(item) for item in items)
        return flat


def _target_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("url", ""))
    return str(item)
