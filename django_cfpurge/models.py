"""Models: CDN zones (backend, credentials, hostnames, health) and the purge outbox/log."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .enums import ErrorKind, Event, Kind, Source, Status
from .fields import SecretField
from .outbox.queries import PurgeRequestQuerySet

#: The values a zone stores for its backend (see ``Backend.credential_fields``).
CREDENTIAL_COLUMNS = ("zone_id", "account_id", "auth_kind", "api_token", "email", "api_key")
#: The columns that hold secrets (encrypted, never shown).
SECRET_COLUMNS = ("api_token", "api_key")


class Zone(models.Model):
    """One CDN zone this site purges: its backend, credentials and hostnames.

    A zone defined in settings (``CFPURGE["ZONE_ID"]`` or ``CFPURGE["ZONES"]``) is
    mirrored here with :attr:`from_settings` set; its credentials are then read from
    settings at use time and never stored in the database.
    """

    name = models.CharField(
        _("name"),
        max_length=253,
        unique=True,
        help_text=_("The zone's domain, e.g. “example.com”. Also a default public hostname."),
    )
    backend = models.CharField(_("CDN"), max_length=64, default="cloudflare")
    zone_id = models.CharField(_("zone identifier"), max_length=64, blank=True)
    hostnames = models.TextField(
        _("hostnames"),
        blank=True,
        help_text=_(
            "Hostnames this zone serves, one per line, as in ALLOWED_HOSTS: “.example.com” "
            "matches example.com and every subdomain. Empty: what the CDN reports, or the "
            "zone's name and its subdomains."
        ),
    )
    auth_kind = models.CharField(_("authentication"), max_length=16, blank=True, default="token")
    api_token = SecretField(_("API token"), blank=True)
    email = models.EmailField(_("account email"), blank=True)
    api_key = SecretField(_("API key"), blank=True)
    account_id = models.CharField(_("Account ID"), max_length=64, blank=True)
    plan = models.CharField(
        _("plan"),
        max_length=32,
        blank=True,
        help_text=_(
            "The CDN plan (Cloudflare: free, pro, business, enterprise); learnt by Test connection."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    from_settings = models.BooleanField(_("set by the environment"), default=False, editable=False)
    settings_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    credentials_changed_at = models.DateTimeField(
        _("credentials changed"), null=True, blank=True, editable=False
    )

    last_test_at = models.DateTimeField(_("last tested"), null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(_("last test passed"), null=True, editable=False)
    last_test_steps = models.JSONField(_("last test steps"), default=list, editable=False)
    remote_name = models.CharField(_("name at the CDN"), max_length=253, blank=True)
    remote_status = models.CharField(_("status at the CDN"), max_length=32, blank=True)
    remote_account_id = models.CharField(
        _("account at the CDN"), max_length=64, blank=True, editable=False
    )
    remote_hostnames = models.JSONField(
        _("hostnames at the CDN"), default=list, blank=True, editable=False
    )
    token_status = models.CharField(_("token status"), max_length=32, blank=True)
    token_expires_on = models.DateTimeField(_("token expires"), null=True, blank=True)
    max_items = models.PositiveIntegerField(
        _("items per call that worked"), null=True, blank=True, editable=False
    )
    max_items_learnt_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("CDN zone")
        verbose_name_plural = _("CDN zones")
        ordering = ("name",)
        permissions = [("purge_cache", _("Can purge the CDN cache by hand"))]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Zone {self.name!r} backend={self.backend!r} zone_id={self.zone_id!r}>"


class PurgeChange(models.Model):
    """A model change as the request path records it: what changed, which object.

    The narrowest row that can carry a change: its time (from the database) and one text
    column, in a table with no index but its key, so that a save pays for one small
    INSERT and nothing else. A worker moves these rows into :class:`PurgeRequest` (the
    queue and log) before each drain pass. See :mod:`django_cfpurge.outbox.ingest`.
    """

    created_at = models.DateTimeField(_("recorded"), db_default=Now())
    payload = models.TextField(_("change"))

    class Meta:
        verbose_name = _("recorded change")
        verbose_name_plural = _("recorded changes")

    def __str__(self) -> str:
        return f"recorded change #{self.pk}"


class PurgeRequest(models.Model):
    """One change to purge (the outbox) and, once handled, its record (the purge log)."""

    Status = Status
    Source = Source
    Event = Event

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
        Zone,
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
    error_kind = models.CharField(
        _("error kind"), max_length=32, blank=True, choices=ErrorKind.choices
    )
    last_error = models.TextField(_("last error"), blank=True)
    result = models.JSONField(_("the CDN's answer"), default=dict, blank=True)

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    done_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = PurgeRequestQuerySet.as_manager()

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
        if self.source == Source.MODEL:
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
            if kind == Kind.EVERYTHING:
                flat.append(str(Kind.EVERYTHING.label))
            else:
                flat.extend(target_text(item) for item in items)
        return flat


def target_text(item: Any) -> str:
    """A target as text: a URL item's ``url``, anything else as it is."""
    if isinstance(item, dict):
        return str(item.get("url", ""))
    return str(item)


class PurgeCall(models.Model):
    """One API call a drain made to a CDN, whatever its answer (the purge log's detail)."""

    class Outcome(models.TextChoices):
        OK = "ok", _("accepted")
        RATE_LIMITED = "rate_limited", _("rate limited")
        RETRY = "retry", _("will be retried")
        FAILED = "failed", _("failed")
        SPLIT = "split", _("refused as too large, split")

    zone = models.ForeignKey(
        Zone, verbose_name=_("zone"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    backend = models.CharField(_("CDN"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    items = models.PositiveIntegerField(_("items"))
    sample = models.JSONField(_("first items"), default=list, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    codes = models.JSONField(_("error codes"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    retry_after = models.FloatField(_("Retry-After"), null=True, blank=True)
    receipt = models.CharField(_("receipt"), max_length=255, blank=True)
    started_at = models.DateTimeField(_("sent"), db_index=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    requests = models.ManyToManyField(PurgeRequest, related_name="calls", blank=True)

    class Meta:
        verbose_name = _("API call")
        verbose_name_plural = _("API calls")
        ordering = ("started_at", "id")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} x{self.items}: {self.get_outcome_display()}"
