"""The Cloudflare backend: purge by URL, tag, host, prefix or everything on one zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.utils.translation import gettext, gettext_lazy

from ...conf import get_max_items
from ...enums import Kind
from ..base import Backend, CredentialField, RateBudget, RemoteZone, Step, TagHeader
from ..http import HttpClient
from . import steps
from .client import CloudflareClient
from .credentials import AUTH_GLOBAL_KEY, AUTH_TOKEN, CloudflareCredentials

__all__ = ["PLAN_LIMITS", "CloudflareBackend", "PlanLimits"]

#: Items per call Cloudflare accepts on every plan, in every era of its limits.
SAFE_MAX_ITEMS = 30
#: Items per call on current plans (Cloudflare's documentation, 2025 onwards) ...
CURRENT_MAX_ITEMS = 100
#: ... and for URLs on Enterprise.
ENTERPRISE_MAX_URLS = 500


@dataclass(frozen=True)
class PlanLimits:
    """Cloudflare's purge rate limits for one plan, per account.

    :ivar urls_per_second: single-file purge: URLs purged per second.
    :ivar operations: tag/host/prefix/everything purge: requests per
        :attr:`operations_period` seconds, with a bucket of :attr:`operations_burst`.
    """

    plan: str
    urls_per_second: int
    operations: int
    operations_period: float
    operations_burst: int


#: Purge rate limits by plan ``legacy_id`` (Cloudflare's "Purge limits" table, 2025
#: onwards). Unknown plans get the free plan's, the lowest.
PLAN_LIMITS: dict[str, PlanLimits] = {
    "free": PlanLimits("free", 800, 5, 60.0, 25),
    "pro": PlanLimits("pro", 1500, 5, 1.0, 25),
    "business": PlanLimits("business", 1500, 10, 1.0, 50),
    "enterprise": PlanLimits("enterprise", 3000, 50, 1.0, 500),
}


def limits_for_plan(plan: str | None) -> PlanLimits:
    """The limits of a plan ``legacy_id``; the free plan's when unknown."""
    return PLAN_LIMITS.get((plan or "").strip().lower(), PLAN_LIMITS["free"])


class CloudflareBackend(Backend):
    """Cloudflare's cache purge API on one zone."""

    name = "cloudflare"
    verbose_name = gettext_lazy("Cloudflare")
    kinds = (Kind.FILES, Kind.PREFIXES, Kind.HOSTS, Kind.TAGS, Kind.EVERYTHING)
    #: ``Cache-Tag``: comma-separated; at most 16 KB in all, about 1,000 tags, each at
    #: most 1,024 characters (a little margin kept under the 16 KB).
    tag_header = TagHeader("Cache-Tag", max_bytes=16_000, max_tags=1000, max_tag_chars=1024)
    cache_status_header = "CF-Cache-Status"
    auth_kinds = (
        (AUTH_TOKEN, gettext_lazy("API token (recommended)")),
        (AUTH_GLOBAL_KEY, gettext_lazy("Account email + Global API Key (legacy)")),
    )
    step_classes: ClassVar[tuple[type[Step], ...]] = (
        steps.VerifyCredentials,
        steps.ReadZone,
        steps.ProbePurge,
    )
    credential_fields = (
        CredentialField(
            "zone_id",
            gettext_lazy("Zone ID"),
            help_text=gettext_lazy(
                "32 hexadecimal characters, from the zone's Overview page, section “API”."
            ),
        ),
        CredentialField(
            "account_id",
            gettext_lazy("Account ID"),
            required=False,
            help_text=gettext_lazy(
                "Optional. Verifies account-owned tokens; read from the zone when empty. "
                "Not the Zone ID."
            ),
        ),
        CredentialField(
            "api_token",
            gettext_lazy("API token"),
            secret=True,
            auth_kind=AUTH_TOKEN,
            help_text=gettext_lazy("A token with Zone → Cache Purge → Purge on this zone."),
        ),
        CredentialField("email", gettext_lazy("account email"), auth_kind=AUTH_GLOBAL_KEY),
        CredentialField(
            "api_key", gettext_lazy("Global API Key"), secret=True, auth_kind=AUTH_GLOBAL_KEY
        ),
    )

    def __init__(
        self,
        credentials: CloudflareCredentials,
        *,
        plan: str = "",
        max_items: int | None = None,
        session: Any = None,
    ) -> None:
        # The plan as limits_for_plan() reads it, so that items per call and the rate
        # budget always follow the same plan.
        super().__init__(credentials, plan=(plan or "").strip().lower(), max_items=max_items)
        self.client = CloudflareClient(
            credentials,
            HttpClient.from_settings(
                "API_URL",
                service=gettext("Cloudflare's API"),
                secrets=credentials.secrets,
                session=session,
            ),
        )

    @classmethod
    def clean_credentials(cls, values: Mapping[str, str]) -> CloudflareCredentials:
        return CloudflareCredentials.from_values(values)

    @classmethod
    def credential_warning(cls, values: Mapping[str, str]) -> str:
        kind = values.get("auth_kind") or (AUTH_TOKEN if values.get("api_token") else "")
        if kind == AUTH_GLOBAL_KEY:
            return gettext(
                "It uses the legacy Global API Key, which can do anything on the account."
            )
        return ""

    @classmethod
    def has_secret(cls, values: Mapping[str, str]) -> bool:
        if (values.get("auth_kind") or AUTH_TOKEN) == AUTH_TOKEN:
            return bool(values.get("api_token"))
        return bool(values.get("api_key") and values.get("email"))

    def max_items(self, kind: str) -> int:
        configured = get_max_items()
        if kind == Kind.FILES:
            limit = configured or (
                ENTERPRISE_MAX_URLS if self.plan == "enterprise" else CURRENT_MAX_ITEMS
            )
        else:
            limit = min(configured or CURRENT_MAX_ITEMS, CURRENT_MAX_ITEMS)
        if self.learnt_max_items:
            limit = min(limit, self.learnt_max_items)
        return limit

    def safe_max_items(self, kind: str) -> int:
        return min(SAFE_MAX_ITEMS, self.max_items(kind))

    def rate_limit_key(self) -> str:
        # Cloudflare limits purges per account; the zone stands in until it is known.
        return self.credentials.account_id or self.credentials.zone_id

    def budget(self, kind: str) -> RateBudget:
        limits = limits_for_plan(self.plan)
        if kind == Kind.FILES:
            return RateBudget("files", limits.urls_per_second, 1.0)
        rate = limits.operations / limits.operations_period
        return RateBudget("ops", limits.operations_burst, limits.operations_burst / rate)

    def cost(self, kind: str, n_items: int) -> int:
        return max(n_items, 1) if kind == Kind.FILES else 1

    def purge(self, kind: str, items: Sequence[Any]) -> str:
        return self.client.purge(kind, items)

    def describe_zone(self) -> RemoteZone:
        return self.client.get_zone().remote

    def describe_error(self, error: Exception, *, doing: Any) -> str:
        return steps.describe(error, doing=str(doing))

    def close(self) -> None:
        self.client.close()
