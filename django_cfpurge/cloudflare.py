"""The HTTP client for the four Cloudflare API calls django-cfpurge makes.

* ``POST /zones/{zone_id}/purge_cache`` — :meth:`CloudflareClient.purge_request`
  (one call) and :meth:`CloudflareClient.purge` (deduplicated and chunked);
* ``GET /user/tokens/verify`` and ``GET /accounts/{account_id}/tokens/verify`` —
  :meth:`CloudflareClient.verify_token`;
* ``GET /zones/{zone_id}`` — :meth:`CloudflareClient.get_zone`.

Every failure is raised as a subclass of
:class:`~django_cfpurge.exceptions.CloudflareAPIError`, chosen from the HTTP status
and Cloudflare's numeric error codes (``errors[*].code`` and the nested
``error_chain[*].code``), never from the wording of Cloudflare's messages, which
Cloudflare may change at any time. Each message is a sentence a site owner can act
on and repeats Cloudflare's own codes and messages; it never contains a credential
or a request header.
"""

from __future__ import annotations

import email.utils
import errno
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext, pgettext_lazy

from . import conf
from ._version import __version__
from .credentials import Credentials
from .exceptions import (
    CloudflareAPIError,
    CloudflareAuthError,
    CloudflareInvalidResponse,
    CloudflareMessage,
    CloudflareNetworkError,
    CloudflareRateLimited,
    CloudflareRequestRejected,
    CloudflareServerError,
    CloudflareZoneNotFound,
    InvalidCredentials,
)

logger = logging.getLogger(__name__)

#: Items per purge call when nothing else is configured: 30 is accepted on every
#: plan, in both the older (30 per call) and the current (100, Enterprise 500) limits.
DEFAULT_MAX_ITEMS = 30
#: The per-call limits Cloudflare documents: 30 (older limit, every plan),
#: 100 (current limit, every plan) and 500 (current Enterprise limit for URLs).
MAX_ITEMS_CHOICES = (30, 100, 500)
#: Tags, hosts and prefixes per call never exceed this, whatever the plan: Cloudflare's
#: 500 per call is for URLs (Enterprise) only.
MAX_FLEX_ITEMS = 100
#: The purge kinds; one API call carries exactly one of them.
PURGE_KINDS = ("files", "tags", "hosts", "prefixes", "everything")

FileItem = str | Mapping[str, Any]

#: Codes that mean "these credentials were refused or lack a permission".
AUTH_CODES = frozenset({1000, 6003, 6102, 6103, 6111, 9103, 9106, 9109, 10000})
#: Codes that mean "no such zone (or account) for these credentials / bad identifier".
ZONE_NOT_FOUND_CODES = frozenset({1003, 7000, 7003})
#: Codes Cloudflare uses when throttling: 971 (global API limit), 1134 (purge limit).
RATE_LIMIT_CODES = frozenset({971, 1134})

CODE_INVALID_TOKEN = 1000
CODE_BAD_HEADERS = 6003
CODE_BAD_EMAIL_FORMAT = 6102
CODE_BAD_KEY_FORMAT = 6103
CODE_BAD_AUTHORIZATION_FORMAT = 6111
CODE_UNKNOWN_KEY = 9103
CODE_NO_CREDENTIALS = 9106
CODE_UNAUTHORIZED = 9109
CODE_NO_PERMISSION = 10000

#: The operations, as named inside messages ("the purge request can be retried").
_OPERATION_NAMES = {
    "purge": pgettext_lazy("Cloudflare API request", "purge"),
    "verify": pgettext_lazy("Cloudflare API request", "verify"),
    "zone": pgettext_lazy("Cloudflare API request", "zone"),
}
_SNIPPET_CHARS = 300
_RATELIMIT_RESET = re.compile(r"(?:^|[;,\s])t\s*=\s*(\d+(?:\.\d+)?)")
_RATELIMIT_REMAINING = re.compile(r"(?:^|[;,\s])r\s*=\s*(\d+(?:\.\d+)?)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

Operation = Literal["purge", "verify", "zone"]


@dataclass(frozen=True)
class PurgeResult:
    """What :meth:`CloudflareClient.purge` did.

    :ivar kind: one of :data:`PURGE_KINDS`.
    :ivar items: distinct items sent (``1`` for ``everything``).
    :ivar calls: API calls made.
    :ivar ids: ``result.id`` of each call, in order.
    """

    kind: str
    items: int
    calls: int
    ids: tuple[str, ...]


@dataclass(frozen=True)
class TokenInfo:
    """An API token's state as reported by Cloudflare's verify endpoint.

    Verify says nothing about the token's permissions or the zones it can reach.

    :ivar id: the token's identifier (not the secret).
    :ivar status: ``"active"``, ``"disabled"`` or ``"expired"``.
    :ivar not_before: aware datetime before which the token is refused, if set.
    :ivar expires_on: aware datetime from which the token is refused, if set.
    :ivar endpoint: ``"user"`` or ``"account"``: the endpoint that accepted it.
    :ivar messages: Cloudflare's ``messages`` entries.
    """

    id: str
    status: str
    not_before: datetime | None
    expires_on: datetime | None
    endpoint: str
    messages: tuple[CloudflareMessage, ...]

    @property
    def is_active(self) -> bool:
        """True when Cloudflare says ``active`` (validity dates are not checked)."""
        return self.status == "active"


@dataclass(frozen=True)
class ZoneInfo:
    """The fields of ``GET /zones/{zone_id}`` django-cfpurge uses.

    :ivar permissions: the deprecated ``result.permissions`` list (e.g.
        ``"#cache_purge:edit"``), or ``None`` when Cloudflare did not send it. A soft
        signal only: Cloudflare marks it as legacy.
    """

    id: str
    name: str
    status: str
    paused: bool
    plan_legacy_id: str
    plan_name: str
    account_id: str
    permissions: tuple[str, ...] | None

    @property
    def can_purge(self) -> bool | None:
        """``True``/``False`` from ``permissions``, or ``None`` when unknown."""
        if self.permissions is None:
            return None
        return "#cache_purge:edit" in self.permissions


def user_agent() -> str:
    """The ``User-Agent`` sent with every request."""
    return f"django-cfpurge/{__version__} python-requests/{requests.__version__}"


class CloudflareClient:
    """A small client for Cloudflare's v4 API, bound to one zone's credentials.

    Settings are read when the client is built (``None`` arguments fall back to
    ``CFPURGE["API_URL"]``, ``["TIMEOUT"]``, ``["CONNECT_TIMEOUT"]`` and
    ``["MAX_ITEMS_PER_REQUEST"]``), so build one per unit of work. Use it as a
    context manager, or call :meth:`close`.

    :param credentials: the zone and the way to authenticate.
    :param api_url: API base URL, ending in ``/client/v4``.
    :param timeout: seconds to wait for an answer once connected.
    :param connect_timeout: seconds to wait for the connection.
    :param max_items: items per purge call, one of :data:`MAX_ITEMS_CHOICES`.
    :param session: a ``requests.Session`` to use (and not close); by default the
        client makes its own.
    :raises ValueError: an argument is out of range.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        api_url: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_items: int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.credentials = credentials
        self.api_url = (api_url if api_url is not None else conf.get_setting("API_URL")).rstrip("/")
        self.timeout = _positive(
            timeout if timeout is not None else conf.get_float("TIMEOUT"), "timeout"
        )
        self.connect_timeout = _positive(
            connect_timeout if connect_timeout is not None else conf.get_float("CONNECT_TIMEOUT"),
            "connect_timeout",
        )
        if max_items is None:
            max_items = conf.get_int("MAX_ITEMS_PER_REQUEST", minimum=1, choices=MAX_ITEMS_CHOICES)
        if isinstance(max_items, bool) or max_items not in MAX_ITEMS_CHOICES:
            raise ValueError(
                gettext("max_items must be one of %(choices)s, not %(value)s.")
                % {"choices": ", ".join(map(str, MAX_ITEMS_CHOICES)), "value": repr(max_items)}
            )
        self.max_items = max_items
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()

    def __repr__(self) -> str:
        return (
            f"<CloudflareClient zone_id={self.credentials.zone_id!r} "
            f"auth={self.credentials.auth_kind} api_url={self.api_url!r}>"
        )

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session, if the client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> CloudflareClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- purge -------------------------------------------------------------

    def purge_request(self, kind: str, items: Sequence[Any]) -> str:
        """Make ONE purge API call and return Cloudflare's ``result.id``.

        :param kind: one of :data:`PURGE_KINDS`.
        :param items: the URLs (``str`` or ``{"url": ..., "headers": {...}}``), tags,
            hosts or prefixes; at most :meth:`limit_for` ``(kind)``; ``[]`` for
            ``"everything"``. A list mixing URL strings and ``{url, headers}`` dicts
            is sent as dicts (Cloudflare takes one form per body).
            Hosts and prefixes given with a scheme have it removed.
        :raises ValueError: a wrong kind, an empty or too long list, a malformed item.
        :raises CloudflareAPIError: Cloudflare did not purge (see the subclasses).
        """
        body = self._purge_body(kind, _normalise(kind, items))
        payload = self._call(
            "POST", f"/zones/{self.credentials.zone_id}/purge_cache", "purge", json=body
        )
        result = payload.get("result")
        purge_id = result.get("id") if isinstance(result, dict) else None
        return purge_id if isinstance(purge_id, str) else ""

    def purge(
        self,
        *,
        files: Iterable[FileItem] | None = None,
        tags: Iterable[str] | None = None,
        hosts: Iterable[str] | None = None,
        prefixes: Iterable[str] | None = None,
        everything: bool = False,
        before_call: Callable[[str, int], None] | None = None,
    ) -> PurgeResult:
        """Purge one kind of item, deduplicated (order kept) and split into calls
        of at most :meth:`limit_for` ``(kind)`` items.

        ``before_call(kind, n_items)`` runs before each API call (a rate limiter
        may sleep or raise there); ``everything`` counts as one item. An empty list
        makes no call.

        :raises ValueError: no kind or more than one kind given, or a malformed item.
        :raises CloudflareAPIError: a call failed; the calls before it went through.
        """
        given = {
            name: value
            for name, value in (
                ("files", files),
                ("tags", tags),
                ("hosts", hosts),
                ("prefixes", prefixes),
            )
            if value is not None
        }
        if everything:
            given["everything"] = []
        if len(given) != 1:
            raise ValueError(
                gettext(
                    "Give exactly one of files, tags, hosts, prefixes or everything=True "
                    "(got %(given)s): Cloudflare takes one kind per call."
                )
                % {"given": ", ".join(given) or "none"}
            )
        ((kind, values),) = given.items()
        if isinstance(values, str | bytes):
            raise ValueError(
                gettext("%(kind)s must be a list of items, not a single string.") % {"kind": kind}
            )
        if kind == "everything":
            if before_call is not None:
                before_call(kind, 1)
            return PurgeResult(kind, 1, 1, (self.purge_request(kind, []),))
        items = _dedupe(_normalise(kind, list(values)))
        ids = []
        for chunk in _chunks(items, self.limit_for(kind)):
            if before_call is not None:
                before_call(kind, len(chunk))
            ids.append(self.purge_request(kind, chunk))
        logger.info(
            "Purged %d %s in %d call(s) on zone %s",
            len(items),
            kind,
            len(ids),
            self.credentials.zone_id,
        )
        return PurgeResult(kind, len(items), len(ids), tuple(ids))

    def limit_for(self, kind: str) -> int:
        """Items per call for ``kind``: :attr:`max_items`, at most
        :data:`MAX_FLEX_ITEMS` for tags, hosts and prefixes."""
        return self.max_items if kind == "files" else min(self.max_items, MAX_FLEX_ITEMS)

    def _purge_body(self, kind: str, items: list[Any]) -> dict[str, Any]:
        if kind == "everything":
            if items:
                raise ValueError(gettext("A purge of everything takes no items."))
            return {"purge_everything": True}
        if not items:
            raise ValueError(
                gettext("Nothing to purge: the list of %(kind)s is empty.") % {"kind": kind}
            )
        limit = self.limit_for(kind)
        if len(items) > limit:
            raise ValueError(
                ngettext(
                    # Translators: %(kind)s is files, tags, hosts or prefixes, as in the API.
                    "%(count)d %(kind)s in one call exceed the limit of %(limit)d per call; "
                    "use purge(), which splits them.",
                    "%(count)d %(kind)s in one call exceed the limit of %(limit)d per call; "
                    "use purge(), which splits them.",
                    len(items),
                )
                % {"count": len(items), "kind": kind, "limit": limit}
            )
        if kind == "files" and len({isinstance(item, str) for item in items}) > 1:
            # Cloudflare's body is a list of URL strings or a list of {url, headers}
            # objects, never a mix: write the plain URLs as objects without headers.
            items = [{"url": item} if isinstance(item, str) else item for item in items]
        return {kind: items}

    # -- verify and zone ---------------------------------------------------

    def verify_token(self) -> TokenInfo:
        """Ask Cloudflare whether the API token is valid, and until when.

        User-owned tokens are verified at ``/user/tokens/verify``; account-owned
        ones (``cfat_…``, or any token when an Account ID is set) at
        ``/accounts/{account_id}/tokens/verify``. A legacy token is not recognisably
        one or the other, so when the first endpoint answers code 1000 and an Account
        ID is set, the other endpoint is tried before giving up.

        :raises ValueError: the credentials are an email + Global API Key, which the
            verify endpoints do not accept (use :meth:`get_zone` to prove them).
        :raises InvalidCredentials: an account-owned token without an Account ID.
        :raises CloudflareAPIError: the token was refused, or the call failed.
        """
        creds = self.credentials
        if not creds.api_token:
            raise ValueError(
                gettext(
                    "verify_token() needs an API token; an email + Global API Key cannot be "
                    "verified this way. Call get_zone() to prove them instead."
                )
            )
        if creds.is_account_token and not creds.account_id:
            raise InvalidCredentials(
                gettext(
                    "This is an account-owned API token (cfat_…): enter the Account ID so it "
                    "can be verified at the account's endpoint."
                ),
                field="account_id",
            )
        if creds.is_account_token:
            endpoints = ["account"]
        elif creds.account_id:
            endpoints = ["account", "user"]
        else:
            endpoints = ["user"]
        *earlier, last = endpoints
        for endpoint in earlier:
            try:
                return self._verify_at(endpoint)
            except CloudflareAuthError as err:
                if CODE_INVALID_TOKEN not in err.codes:
                    raise
                logger.debug(
                    "Token refused at the %s endpoint (code 1000); trying %s", endpoint, last
                )
        return self._verify_at(last)

    def _verify_at(self, endpoint: str) -> TokenInfo:
        if endpoint == "account":
            path = f"/accounts/{self.credentials.account_id}/tokens/verify"
        else:
            path = "/user/tokens/verify"
        payload = self._call("GET", path, "verify", endpoint=endpoint)
        result = payload.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise CloudflareInvalidResponse(
                gettext(
                    "Cloudflare answered the token check without the token's status; try again "
                    "later."
                ),
                status_code=200,
                response_body=self._redacted(payload),
            )
        return TokenInfo(
            id=str(result.get("id") or ""),
            status=result["status"],
            not_before=_parse_datetime(result.get("not_before")),
            expires_on=_parse_datetime(result.get("expires_on")),
            endpoint=endpoint,
            messages=tuple(_messages(payload.get("messages"))),
        )

    def get_zone(self) -> ZoneInfo:
        """Read the zone (``GET /zones/{zone_id}``): its name, status and plan.

        Works with either authentication scheme; a token with only Cache Purge on
        the zone may read it.

        :raises CloudflareAPIError: the zone is not reachable with these credentials.
        """
        payload = self._call("GET", f"/zones/{self.credentials.zone_id}", "zone")
        zone = payload.get("result")
        if not isinstance(zone, dict) or not isinstance(zone.get("name"), str):
            raise CloudflareInvalidResponse(
                gettext(
                    "Cloudflare answered the zone lookup without the zone's name; try again later."
                ),
                status_code=200,
                response_body=self._redacted(payload),
            )
        plan: dict[str, Any] = zone["plan"] if isinstance(zone.get("plan"), dict) else {}
        account: dict[str, Any] = zone["account"] if isinstance(zone.get("account"), dict) else {}
        permissions = zone.get("permissions")
        return ZoneInfo(
            id=str(zone.get("id") or self.credentials.zone_id),
            name=zone["name"],
            status=str(zone.get("status") or ""),
            paused=bool(zone.get("paused", False)),
            plan_legacy_id=str(plan.get("legacy_id") or ""),
            plan_name=str(plan.get("name") or ""),
            account_id=str(account.get("id") or ""),
            permissions=(
                tuple(str(p) for p in permissions) if isinstance(permissions, list) else None
            ),
        )

    # -- HTTP --------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        operation: Operation,
        *,
        json: Any = None,
        endpoint: str = "",
    ) -> dict[str, Any]:
        """Send one request and return the success envelope, or raise."""
        headers = {"Accept": "application/json", "User-Agent": user_agent()}
        headers.update(self.credentials.auth_headers())
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                self.api_url + path,
                headers=headers,
                json=json,
                timeout=(self.connect_timeout, self.timeout),
                # A redirect would be followed with X-Auth-Key still attached, and a
                # POST would turn into a GET: treat any 3xx as a misconfiguration.
                allow_redirects=False,
            )
        except requests.RequestException as err:
            logger.debug("%s %s -> no answer (%s)", method, path, type(err).__name__)
            exc = self._network_error(err, operation)
            _scrub(err)
            raise exc from err
        logger.debug(
            "%s %s -> %s (%.3f s)", method, path, response.status_code, time.monotonic() - started
        )
        return self._parse(response, operation, endpoint)

    def _parse(
        self, response: requests.Response, operation: Operation, endpoint: str
    ) -> dict[str, Any]:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError as err:
            raise self._not_json(response, operation) from err
        if not _is_envelope(payload):
            raise self._not_envelope(response, payload, operation)
        if 200 <= status < 300 and payload.get("success") is True:
            return payload
        errors = list(_messages(payload.get("errors"), flatten_chains=True))
        raise self._api_error(response, payload, errors, operation, endpoint)

    # -- errors ------------------------------------------------------------

    def _api_error(
        self,
        response: requests.Response,
        payload: dict[str, Any],
        errors: list[CloudflareMessage],
        operation: Operation,
        endpoint: str,
    ) -> CloudflareAPIError:
        status = response.status_code
        codes = {e.code for e in errors}
        said = self._cloudflare_said(status, errors)
        body = self._redacted(payload)
        retry_after = _retry_after(response.headers, status)

        def make(cls: type[CloudflareAPIError], message: str) -> CloudflareAPIError:
            return cls(
                self._redact(message),
                status_code=status,
                errors=errors,
                retry_after=retry_after,
                response_body=body,
            )

        if status == 429 or codes & RATE_LIMIT_CODES:
            values = {"said": said, "seconds": _seconds(retry_after)}
            if operation == "purge" and retry_after is not None:
                message = gettext(
                    "Cloudflare is rate-limiting purge requests for this account (%(said)s): "
                    "wait %(seconds)s before trying again."
                )
            elif operation == "purge":
                message = gettext(
                    "Cloudflare is rate-limiting purge requests for this account (%(said)s): "
                    "slow down and try again later."
                )
            elif retry_after is not None:
                message = gettext(
                    "Cloudflare is rate-limiting API requests for this account (%(said)s): "
                    "wait %(seconds)s before trying again."
                )
            else:
                message = gettext(
                    "Cloudflare is rate-limiting API requests for this account (%(said)s): "
                    "slow down and try again later."
                )
            return make(CloudflareRateLimited, message % values)
        if status >= 500:
            return make(
                CloudflareServerError,
                gettext(
                    "Cloudflare's API had a temporary server error (%(said)s); try again later."
                )
                % {"said": said},
            )
        # Codes are more precise than the status (Cloudflare answers 400, 401 or 403
        # for the same bad token depending on the endpoint), so they decide first.
        if codes & AUTH_CODES:
            return make(CloudflareAuthError, self._auth_message(codes, said, operation, endpoint))
        if codes & ZONE_NOT_FOUND_CODES:
            return make(CloudflareZoneNotFound, self._not_found_message(said, operation, endpoint))
        if status in (401, 403):
            return make(CloudflareAuthError, self._auth_message(codes, said, operation, endpoint))
        if status == 404:
            return make(CloudflareZoneNotFound, self._not_found_message(said, operation, endpoint))
        if 400 <= status < 500:
            return make(CloudflareRequestRejected, self._rejected_message(said, operation))
        if 300 <= status < 400:
            return make(CloudflareInvalidResponse, self._redirect_message(response))
        return make(
            CloudflareInvalidResponse,
            gettext("Cloudflare answered without confirming success (%(said)s); try again later.")
            % {"said": said},
        )

    def _auth_message(self, codes: set[int], said: str, operation: Operation, endpoint: str) -> str:
        token = self.credentials.auth_kind == "token"
        chained = codes & {
            CODE_BAD_AUTHORIZATION_FORMAT,
            CODE_BAD_KEY_FORMAT,
            CODE_BAD_EMAIL_FORMAT,
        }
        values = {"said": said}
        if CODE_BAD_AUTHORIZATION_FORMAT in codes or (
            CODE_BAD_HEADERS in codes and token and not chained
        ):
            return (
                gettext(
                    "Cloudflare could not read the API token: it is not in the expected format "
                    "(%(said)s). Copy the token again in one piece, without spaces, quotes or "
                    "the word “Bearer”."
                )
                % values
            )
        if CODE_BAD_KEY_FORMAT in codes:
            return (
                gettext(
                    "Cloudflare could not read the Global API Key: it is not in the expected "
                    "format (%(said)s). Copy it again from My Profile → API Tokens → Global API "
                    "Key."
                )
                % values
            )
        if CODE_BAD_EMAIL_FORMAT in codes or CODE_BAD_HEADERS in codes:
            return (
                gettext(
                    "Cloudflare could not read the account email or Global API Key (%(said)s). "
                    "Check the email address you log in to Cloudflare with, and the key."
                )
                % values
            )
        if CODE_NO_CREDENTIALS in codes:
            return (
                gettext(
                    "Cloudflare received no credentials (%(said)s). Enter an API token, or the "
                    "account email and Global API Key."
                )
                % values
            )
        if CODE_UNKNOWN_KEY in codes:
            return (
                gettext(
                    "Cloudflare does not know this email and Global API Key pair (%(said)s). "
                    "Check both; the key is under My Profile → API Tokens → Global API Key."
                )
                % values
            )
        if CODE_INVALID_TOKEN in codes:
            # An account-owned token is refused with 1000 at the user endpoint.
            if operation == "verify" and not self.credentials.account_id:
                return (
                    gettext(
                        "Cloudflare rejected the API token: it is unknown, revoked, or was "
                        "rolled (%(said)s). Create a new token with Zone → Cache Purge → Purge "
                        "on this zone and paste it again. If it is an account-owned token, "
                        "enter the Account ID so it is checked at the account's endpoint."
                    )
                    % values
                )
            return (
                gettext(
                    "Cloudflare rejected the API token: it is unknown, revoked, or was rolled "
                    "(%(said)s). Create a new token with Zone → Cache Purge → Purge on this zone "
                    "and paste it again."
                )
                % values
            )
        if not token:
            return (
                gettext(
                    "Cloudflare refused this email and Global API Key for this request "
                    "(%(said)s): the account must have access to this zone."
                )
                % values
            )
        if operation == "purge":
            return (
                gettext(
                    "Cloudflare rejected the API token for this request: it needs the "
                    "permission Zone → Cache Purge → Purge on this zone (%(said)s)."
                )
                % values
            )
        if operation == "zone":
            return (
                gettext(
                    "Cloudflare rejected the API token for this zone: give it Zone → Cache Purge "
                    "→ Purge with this zone under Zone Resources, or check the Zone ID "
                    "(%(said)s)."
                )
                % values
            )
        if endpoint == "account":
            return (
                gettext(
                    "Cloudflare refused to verify the token at this account: check that the "
                    "Account ID is the one that owns the token (%(said)s)."
                )
                % values
            )
        return gettext("Cloudflare refused to verify the API token (%(said)s).") % values

    def _not_found_message(self, said: str, operation: Operation, endpoint: str) -> str:
        if operation == "verify" and endpoint == "account":
            return gettext(
                "Cloudflare found no account %(account_id)s for this token (%(said)s): check "
                "the Account ID (32 hexadecimal characters, on the zone's Overview page, "
                "section “API”)."
            ) % {"account_id": self.credentials.account_id, "said": said}
        if operation == "verify":
            return gettext(
                "Cloudflare could not find its token check endpoint (%(said)s); check API_URL."
            ) % {"said": said}
        return gettext(
            "Cloudflare found no zone %(zone_id)s for these credentials (%(said)s): did you "
            "paste the Account ID or the zone name instead of the Zone ID, or is the token "
            "scoped to another zone?"
        ) % {"zone_id": self.credentials.zone_id, "said": said}

    def _rejected_message(self, said: str, operation: Operation) -> str:
        if operation == "purge":
            return gettext(
                "Cloudflare rejected the purge request (%(said)s). Check that the URLs, tags, "
                "hosts or prefixes belong to this zone, and that "
                "%(setting)s['MAX_ITEMS_PER_REQUEST'] (%(max_items)s) is allowed on the zone's "
                "plan (30 always works)."
            ) % {"said": said, "setting": conf.SETTING_NAME, "max_items": self.max_items}
        return gettext("Cloudflare rejected the request (%(said)s).") % {"said": said}

    def _redirect_message(self, response: requests.Response) -> str:
        location = response.headers.get("Location", "")
        values = {
            "status": response.status_code,
            "location": _strip_query(location),
            "setting": conf.SETTING_NAME,
            "api_url": self.api_url,
        }
        if location:
            return (
                gettext(
                    "Cloudflare's API answered with a redirect (HTTP %(status)s) to "
                    "%(location)s; %(setting)s['API_URL'] (%(api_url)s) should be the exact API "
                    "address, normally https://api.cloudflare.com/client/v4."
                )
                % values
            )
        return (
            gettext(
                "Cloudflare's API answered with a redirect (HTTP %(status)s); "
                "%(setting)s['API_URL'] (%(api_url)s) should be the exact API address, "
                "normally https://api.cloudflare.com/client/v4."
            )
            % values
        )

    def _not_json(self, response: requests.Response, operation: Operation) -> CloudflareAPIError:
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not response.content.strip():
            # Translators: what came back instead of Cloudflare's JSON reply; it follows
            # "HTTP 502 with" inside a longer sentence.
            what = gettext("an empty body")
        elif "html" in content_type or response.content.lstrip()[:1] == b"<":
            # Translators: follows "HTTP 502 with" inside a longer sentence.
            what = gettext("an HTML page")
        else:
            # Translators: follows "HTTP 502 with" inside a longer sentence.
            what = gettext("a body that is not JSON (%(content_type)s)") % {
                "content_type": content_type or gettext("no content type")
            }
        return self._unexpected_body(response, what, operation, self._redact(_snippet(response)))

    def _not_envelope(
        self, response: requests.Response, payload: Any, operation: Operation
    ) -> CloudflareAPIError:
        return self._unexpected_body(
            response,
            # Translators: follows "HTTP 502 with" inside a longer sentence.
            gettext("JSON that is not Cloudflare's API reply"),
            operation,
            self._redacted(payload),
        )

    def _unexpected_body(
        self, response: requests.Response, what: str, operation: Operation, body: Any
    ) -> CloudflareAPIError:
        status = response.status_code
        retry_after = _retry_after(response.headers, status)
        values = {
            "status": status,
            "what": what,
            "seconds": _seconds(retry_after),
            "operation": _OPERATION_NAMES[operation],
            "setting": conf.SETTING_NAME,
            "api_url": self.api_url,
        }
        if status == 429:
            if retry_after is not None:
                message = gettext(
                    "Too many requests: HTTP 429 with %(what)s; wait %(seconds)s before trying "
                    "again."
                )
            else:
                message = gettext(
                    "Too many requests: HTTP 429 with %(what)s; slow down before trying again."
                )
            return CloudflareRateLimited(
                message % values,
                status_code=status,
                retry_after=retry_after,
                response_body=body,
            )
        if status >= 500:
            return CloudflareServerError(
                gettext(
                    "Cloudflare's API, or a proxy in front of it, had a temporary server error "
                    "(HTTP %(status)s with %(what)s); try again later."
                )
                % values,
                status_code=status,
                retry_after=retry_after,
                response_body=body,
            )
        if 300 <= status < 400:
            message = self._redirect_message(response)
        else:
            message = (
                gettext(
                    # Translators: %(operation)s is the request's name: purge, verify or zone.
                    "The answer to the %(operation)s request was HTTP %(status)s with %(what)s "
                    "instead of Cloudflare's JSON reply: a proxy or firewall between this server "
                    "and Cloudflare answered, or %(setting)s['API_URL'] (%(api_url)s) is wrong."
                )
                % values
            )
        return CloudflareInvalidResponse(
            self._redact(message), status_code=status, response_body=body
        )

    def _network_error(
        self, err: requests.RequestException, operation: Operation
    ) -> CloudflareNetworkError:
        host = urlsplit(self.api_url).netloc or self.api_url
        values = {
            "host": host,
            "operation": _OPERATION_NAMES[operation],
            "setting": conf.SETTING_NAME,
            "error": type(err).__name__,
        }
        advice = gettext(
            # Translators: %(operation)s is the request's name: purge, verify or zone.
            "check this server's outbound network access (firewall, proxy, DNS) and "
            "%(setting)s['API_URL']; the %(operation)s request can be retried."
        )
        if isinstance(err, requests.ConnectTimeout):
            values["seconds"] = _seconds(self.connect_timeout)
            what = gettext(
                "Could not connect to Cloudflare's API at %(host)s: timed out after %(seconds)s"
            )
        elif isinstance(err, requests.Timeout):
            values["seconds"] = _seconds(self.timeout)
            what = gettext(
                "Cloudflare's API at %(host)s did not answer: timed out after %(seconds)s"
            )
            advice = gettext(
                # Translators: %(operation)s is the request's name: purge, verify or zone.
                "Cloudflare or the network is slow; the %(operation)s request can be retried "
                "(raise %(setting)s['TIMEOUT'] if this keeps happening)."
            )
        elif isinstance(err, requests.exceptions.ChunkedEncodingError):
            what = gettext(
                "The connection to Cloudflare's API at %(host)s was reset while the answer was "
                "arriving"
            )
        elif isinstance(err, requests.exceptions.SSLError):
            what = gettext(
                "Could not connect securely to Cloudflare's API at %(host)s: the TLS handshake "
                "failed"
            )
        elif isinstance(err, requests.ConnectionError):
            cause = _socket_cause(err)
            if cause == "refused":
                what = gettext(
                    "Could not connect to Cloudflare's API at %(host)s: connection refused"
                )
            elif cause == "reset":
                what = gettext("The connection to Cloudflare's API at %(host)s was reset")
            elif cause == "dns":
                what = gettext(
                    "Could not connect to Cloudflare's API at %(host)s: the host name could not "
                    "be resolved"
                )
            elif cause == "timeout":
                what = gettext("Could not connect to Cloudflare's API at %(host)s: timed out")
            else:
                what = gettext(
                    "Could not connect to Cloudflare's API at %(host)s: the connection failed"
                )
        else:
            what = gettext("Could not send the request to Cloudflare's API at %(host)s (%(error)s)")
        problem = what % values
        # Translators: joins what went wrong and what to do about it, two clauses.
        message = gettext("%(problem)s; %(advice)s") % {
            "problem": problem,
            "advice": advice % values,
        }
        error = CloudflareNetworkError(self._redact(message))
        error.reason = self._redact(problem)
        return error

    # -- redaction ---------------------------------------------------------

    def _secrets(self) -> list[str]:
        creds = self.credentials
        return [s for s in (creds.api_token, creds.api_key, creds.email) if s]

    def _redact(self, text: str) -> str:
        # Cloudflare does not echo credentials today; make sure a future reply that
        # does cannot carry one into a message, a log or the purge log.
        for secret in self._secrets():
            text = text.replace(secret, "[redacted]")
        return text

    def _redacted(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {self._redact(str(k)): self._redacted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redacted(v) for v in value]
        return value

    def _cloudflare_said(self, status: int, errors: list[CloudflareMessage]) -> str:
        if not errors:
            return f"HTTP {status}"
        return f"HTTP {status}: " + "; ".join(self._redact(str(e)) for e in errors)


# -- helpers ----------------------------------------------------------------


def _positive(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(
            gettext("%(name)s must be a positive number of seconds, not %(value)s.")
            % {"name": name, "value": repr(value)}
        )
    return number


def _seconds(value: float | None) -> str:
    if value is None:
        # Translators: stands for a number of seconds inside a sentence ("wait …").
        return gettext("an unknown time")
    return f"{value:g} s"


def _snippet(response: requests.Response) -> str:
    text = response.content[:_SNIPPET_CHARS].decode("utf-8", "replace")
    return text + ("…" if len(response.content) > _SNIPPET_CHARS else "")


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path


def _is_envelope(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("success"), bool)
        and isinstance(payload.get("errors", []), list)
    )


def _messages(entries: Any, *, flatten_chains: bool = False) -> Iterator[CloudflareMessage]:
    """Cloudflare's ``errors``/``messages`` entries, skipping malformed ones."""
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        code = entry.get("code")
        if isinstance(code, bool):
            code = None
        try:
            number = int(code) if code is not None else 0
        except (TypeError, ValueError):
            number = 0
        message = entry.get("message")
        yield CloudflareMessage(number, message if isinstance(message, str) else "")
        if flatten_chains:
            yield from _messages(entry.get("error_chain"), flatten_chains=True)


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _retry_after(headers: Mapping[str, str], status: int = 429) -> float | None:
    """Seconds to wait before the next request, or None when the answer does not say.

    ``Retry-After`` (seconds or an HTTP-date) always counts. The ``Ratelimit`` header's
    ``t`` (seconds until the quota window resets) counts only when the quota is spent: on a
    429, or when its ``r`` (requests remaining) is 0. Every Cloudflare answer carries that
    header, so reading ``t`` on a 503 with quota left would park a retry for minutes.
    """
    raw = (headers.get("Retry-After") or "").strip()
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, math.ceil((when - datetime.now(timezone.utc)).total_seconds()))
    ratelimit = headers.get("Ratelimit") or ""
    reset = _RATELIMIT_RESET.search(ratelimit)
    if reset is None:
        return None
    remaining = _RATELIMIT_REMAINING.search(ratelimit)
    spent = remaining is not None and float(remaining.group(1)) <= 0
    if status == 429 or spent:
        return float(reset.group(1))
    return None


def _socket_cause(err: BaseException) -> str:
    """Name what went wrong under a ``requests.ConnectionError``, from the exception
    chain (urllib3 wraps the socket error several levels deep)."""
    seen: set[int] = set()
    stack: list[Any] = [err]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(current, ConnectionResetError | BrokenPipeError):
            return "reset"
        if type(current).__name__ in ("NameResolutionError", "gaierror"):
            return "dns"
        if isinstance(current, TimeoutError):
            return "timeout"
        if isinstance(current, OSError) and current.errno is not None:
            if current.errno == errno.ECONNREFUSED:
                return "refused"
            if current.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                return "reset"
        stack.extend(current.args)
        stack.extend((getattr(current, "reason", None), current.__cause__, current.__context__))
    return ""


def _scrub(err: requests.RequestException) -> None:
    # The exception keeps the PreparedRequest, whose headers hold the credentials;
    # it travels on as __cause__ (error reporters, task results), so drop it.
    err.request = None
    err.response = None


def _normalise(kind: str, items: Sequence[Any]) -> list[Any]:
    if kind not in PURGE_KINDS:
        raise ValueError(
            gettext("Unknown purge kind %(kind)s; use one of %(kinds)s.")
            % {"kind": repr(kind), "kinds": ", ".join(PURGE_KINDS)}
        )
    if isinstance(items, str | bytes):
        raise ValueError(
            gettext("%(kind)s must be a list of items, not a single string.") % {"kind": kind}
        )
    if kind == "everything":
        return list(items)
    if kind == "files":
        return [_normalise_file(item) for item in items]
    cleaned = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(
                # Translators: %(kind)s is tags, hosts or prefixes, as in the API.
                gettext("Each of the %(kind)s must be a non-empty string, not %(item)s.")
                % {"kind": kind, "item": repr(item)}
            )
        value = item.strip()
        if kind in ("hosts", "prefixes"):
            # Cloudflare wants "www.example.com/foo", without the scheme.
            value = _SCHEME.sub("", value)
        if kind == "hosts":
            value = value.rstrip("/")
            if "/" in value or not value:
                raise ValueError(
                    gettext("A host is a bare host name such as www.example.com: %(item)s.")
                    % {"item": repr(item)}
                )
            value = value.lower()
        if kind == "prefixes" and ("?" in value or "#" in value):
            raise ValueError(
                gettext("A prefix cannot contain “?” or “#”: %(item)s.") % {"item": repr(item)}
            )
        cleaned.append(value)
    return cleaned


def _normalise_file(item: Any) -> str | dict[str, Any]:
    if isinstance(item, str):
        url = item.strip()
        headers: Mapping[str, Any] | None = None
    elif isinstance(item, Mapping):
        raw_url = item.get("url")
        headers = item.get("headers")
        if not isinstance(raw_url, str):
            raise ValueError(
                gettext("A file to purge needs a “url” string: %(item)s.") % {"item": repr(item)}
            )
        url = raw_url.strip()
        if headers is not None and not (
            isinstance(headers, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise ValueError(
                gettext("A file's “headers” must map strings to strings: %(item)s.")
                % {"item": repr(item)}
            )
    else:
        raise ValueError(
            gettext("A file to purge is a URL string or a {url, headers} dict: %(item)s.")
            % {"item": repr(item)}
        )
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(
            gettext("A file to purge is an absolute http(s) URL: %(url)s.") % {"url": repr(url)}
        )
    if headers:
        return {"url": url, "headers": dict(headers)}
    return url


def _dedupe(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    unique = []
    for item in items:
        key = (
            (item["url"], tuple(sorted(item["headers"].items())))
            if isinstance(item, dict)
            else item
        )
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
