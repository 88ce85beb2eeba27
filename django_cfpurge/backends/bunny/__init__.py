"""The bunny.net backend: purge a pull zone by URL, prefix (wildcard), tag, or whole.

What each kind becomes (bunny.net takes **one item per call**):

* ``files`` — ``POST /purge?url=…``; a URL whose path ends in ``/`` is sent with
  ``exactPath=true``, so a file never turns into a wildcard purge by accident;
* ``prefixes`` — ``POST /purge?url=https://host/path*``: the wildcard the prefix asks for;
* ``tags`` — ``POST /pullzone/{id}/purgeCache`` with ``{"CacheTag": tag}``;
* ``hosts`` — a host the pull zone serves: the whole pull zone (``purgeCache`` with no
  body), once, however many of its hosts are asked for;
* ``everything`` — the whole pull zone.

Rate limits are bunny.net's, per account (so the limiter's key is a hash of the API
key) and per purge type: exact URLs a burst of 120 then 5 per second, wildcards a burst
of 20 then one every 2 seconds. Tag and whole-zone purges are paced as wildcards: bunny.net
does not say which bucket they take, and the smaller one is the safe guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.utils.translation import gettext, gettext_lazy

from ...enums import Kind
from ...tags import page_tags_enabled
from ..base import Backend, CredentialField, RateBudget, RemoteZone, Step, TagHeader
from ..http import HttpClient
from . import steps
from .client import BunnyClient
from .credentials import API_KEY_LABEL, PULL_ZONE_ID_LABEL, BunnyCredentials

__all__ = ["EXACT_BUDGET", "PREFIX_BUDGET", "BunnyBackend", "wildcard_url"]

#: bunny.net's exact-URL purge bucket: a burst of 120, refilled at 5 per second.
EXACT_BUDGET = RateBudget("bunny-exact", 120, 120 / 5)
#: Its prefix (wildcard) bucket: a burst of 20, refilled at 0.5 per second. Tag and
#: whole-zone purges are paced with it too (bunny.net does not say; the cautious guess).
PREFIX_BUDGET = RateBudget("bunny-prefix", 20, 20 / 0.5)
#: Hosts per call: any number of the pull zone's hosts is one purge of the whole zone.
HOSTS_PER_CALL = 100


def wildcard_url(prefix: str) -> str:
    """``host/path`` (a prefix as django-cfpurge keeps it) → ``https://host/path*``."""
    host, _, path = prefix.partition("/")
    url = f"https://{host}/{path}"
    return url if url.endswith("*") else url + "*"


def _url_of(item: Any) -> str:
    # A {"url", "headers"} item: bunny.net has no per-header purge; its URL is purged.
    return str(item["url"]) if isinstance(item, dict) else str(item)


class BunnyBackend(Backend):
    """bunny.net's purge API on one pull zone."""

    name = "bunny"
    verbose_name = gettext_lazy("bunny.net")
    kinds = (Kind.FILES, Kind.PREFIXES, Kind.HOSTS, Kind.TAGS, Kind.EVERYTHING)
    #: ``CDN-Tag``: at most 1,024 bytes. bunny.net matches a purged tag against the whole
    #: value, with ``*`` as a wildcard, so page tags are written ``~a~b~`` and purged as
    #: ``*~a~*`` (see :meth:`tag_purge_value`).
    tag_header = TagHeader("CDN-Tag", max_bytes=1024, max_tag_chars=255, wrap="~")
    cache_status_header = "CDN-Cache"
    zone_id_label = PULL_ZONE_ID_LABEL
    step_classes: ClassVar[tuple[type[Step], ...]] = (
        steps.ReadPullZone,
        steps.ServedHostnames,
        steps.ProbePurge,
    )
    credential_fields = (
        CredentialField(
            "zone_id",
            PULL_ZONE_ID_LABEL,
            help_text=gettext_lazy(
                "A number: in the bunny.net dashboard, CDN → the pull zone, the number in "
                "the page's address."
            ),
        ),
        CredentialField(
            "api_key",
            API_KEY_LABEL,
            secret=True,
            help_text=gettext_lazy(
                "The account's API key: bunny.net dashboard → Account settings → API. Not a "
                "Storage Zone password."
            ),
        ),
    )

    def __init__(
        self,
        credentials: BunnyCredentials,
        *,
        plan: str = "",
        max_items: int | None = None,
        session: Any = None,
    ) -> None:
        super().__init__(credentials, plan=plan, max_items=max_items)
        self.client = BunnyClient(
            credentials,
            HttpClient.from_settings(
                "BUNNY_API_URL",
                service=gettext("bunny.net's API"),
                secrets=credentials.secrets,
                session=session,
            ),
        )

    @classmethod
    def clean_credentials(cls, values: Mapping[str, str]) -> BunnyCredentials:
        return BunnyCredentials.from_values(values)

    def max_items(self, kind: str) -> int:
        # One URL, prefix or tag per call; hosts all become one purge of the zone.
        return HOSTS_PER_CALL if kind == Kind.HOSTS else 1

    def rate_limit_key(self) -> str:
        # bunny.net limits purges per account: the account is named by its key's hash.
        return f"bunny-{self.credentials.account_hash}"

    def budget(self, kind: str) -> RateBudget:
        return EXACT_BUDGET if kind == Kind.FILES else PREFIX_BUDGET

    def purge(self, kind: str, items: Sequence[Any]) -> str:
        if kind in (Kind.HOSTS, Kind.EVERYTHING):
            self.client.purge_zone()
            return ""
        if len(items) != 1:
            raise ValueError(f"bunny.net takes one item per call, not {len(items)}.")
        (item,) = items
        if kind == Kind.FILES:
            self.client.purge_url(_url_of(item))
        elif kind == Kind.PREFIXES:
            self.client.purge_url(wildcard_url(str(item)), exact_path=False)
        elif kind == Kind.TAGS:
            self.client.purge_zone(tag_purge_value(str(item)))
        else:
            raise ValueError(f"bunny.net cannot purge {kind}.")
        return ""

    def describe_zone(self) -> RemoteZone:
        return self.client.get_pull_zone().remote

    def describe_error(self, error: Exception, *, doing: Any) -> str:
        return steps.describe(error, doing=str(doing))

    def close(self) -> None:
        self.client.close()


def tag_purge_value(tag: str) -> str:
    """What to send as ``CacheTag`` to purge ``tag``: with page tags on, every
    ``CDN-Tag`` value is written ``~a~b~`` (by the middleware, the site's own tags
    folded in), so the tag is matched with wildcards, ``*~a~*``; otherwise as given."""
    return f"*~{tag}~*" if page_tags_enabled() else tag
