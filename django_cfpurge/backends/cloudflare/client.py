"""The HTTP client for the four Cloudflare API calls django-cfpurge makes.

* ``POST /zones/{zone_id}/purge_cache`` — :meth:`CloudflareClient.purge`;
* ``GET /user/tokens/verify`` and ``GET /accounts/{account_id}/tokens/verify`` —
  :meth:`CloudflareClient.verify_token`;
* ``GET /zones/{zone_id}`` — :meth:`CloudflareClient.get_zone`.

Every failure is raised as a :class:`~django_cfpurge.exceptions.BackendError`
subclass chosen from the HTTP status and Cloudflare's numeric error codes
(``errors[*].code`` and the nested ``error_chain[*].code``), never from the wording of
Cloudflare's messages. Each message is a sentence a site owner can act on; it never
contains a credential or a request header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.utils.translation import gettext

from ...enums import Kind
from ...exceptions import (
    ApiMessage,
    AuthenticationFailed,
    BackendError,
    InvalidResponse,
    RateLimited,
    RequestRejected,
    ServerError,
    ZoneNotFound,
)
from ..base import RemoteZone
from ..http import (
    NOT_JSON,
    ApiClient,
    parse_api_datetime,
    parse_json,
    retry_after,
    seconds_text,
    url_without_query,
    what_came,
)
from . import codes, messages
from .credentials import AUTH_TOKEN, CloudflareCredentials
from .envelope import error_messages, is_envelope, status_and_errors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenInfo:
    """An API token's state as Cloudflare's verify endpoint reports it (nothing about
    its permissions).

    :ivar endpoint: ``"user"`` or ``"account"``: the endpoint that accepted it.
    :ivar account_id: the account it was verified at (account endpoint only).
    """

    id: str
    status: str
    not_before: datetime | None
    expires_on: datetime | None
    endpoint: str
    account_id: str = ""


@dataclass(frozen=True)
class ZoneInfo:
    """``GET /zones/{zone_id}``: the zone as django-cfpurge needs it.

    :ivar permissions: the deprecated ``result.permissions`` list, or ``None`` when
        Cloudflare did not send it (a soft signal only).
    """

    remote: RemoteZone
    permissions: tuple[str, ...] | None


class CloudflareClient(ApiClient[CloudflareCredentials]):
    """A small client for Cloudflare's v4 API, bound to one zone's credentials.

    :param credentials: the zone and the way to authenticate.
    :param http: the HTTP base (API URL, timeouts, deadline, redaction).
    """

    # -- purge ------------------------------------------------------------------
    def purge(self, kind: str, items: Sequence[Any]) -> str:
        """Make ONE purge API call and return Cloudflare's ``result.id``.

        :param kind: a :class:`~django_cfpurge.enums.Kind`.
        :param items: URLs (``str`` or ``{"url": ..., "headers": {...}}``), tags, hosts
            or prefixes (already validated and normalised); ``[]`` for everything.
        :raises BackendError: Cloudflare did not purge.
        """
        body = purge_body(kind, items)
        payload = self._call(
            "POST",
            f"/zones/{self.credentials.zone_id}/purge_cache",
            "purge",
            json=body,
            items=max(1, len(items)),
        )
        result = payload.get("result")
        purge_id = result.get("id") if isinstance(result, dict) else None
        return purge_id if isinstance(purge_id, str) else ""

    # -- verify and zone --------------------------------------------------------
    def verify_token(self, *, learn_account: Callable[[], str] | None = None) -> TokenInfo:
        """Ask Cloudflare whether the API token is valid, and until when.

        A user-owned token is verified at ``/user/tokens/verify``, an account-owned one
        at ``/accounts/{account_id}/tokens/verify``. When the Account ID is not entered,
        ``learn_account()`` (reading the zone) supplies it; a token the user endpoint
        calls invalid (code 1000) is tried at the account endpoint before anything
        calls it invalid, since older account-owned tokens look like user tokens.

        :raises ValueError: the credentials are an email + Global API Key.
        :raises BackendError: the token was refused, or the call failed.
        """
        creds = self.credentials
        if creds.auth_kind != AUTH_TOKEN:
            raise ValueError("verify_token() needs an API token.")
        account = creds.account_id
        if creds.is_account_token:
            account = account or (learn_account() if learn_account else "")
            if account:
                return self._verify_at("account", account)
        try:
            return self._verify_at("user", "")
        except AuthenticationFailed as err:
            if codes.INVALID_TOKEN not in err.codes:
                raise
            if not account and learn_account is not None:
                try:
                    account = learn_account()
                except BackendError:
                    raise err from None
            if not account:
                raise
            logger.debug("Token refused at the user endpoint (code 1000); trying the account's")
            return self._verify_at("account", account)

    def _verify_at(self, endpoint: str, account_id: str) -> TokenInfo:
        path = (
            f"/accounts/{account_id}/tokens/verify"
            if endpoint == "account"
            else ("/user/tokens/verify")
        )
        payload = self._call("GET", path, "verify", endpoint=endpoint, account_id=account_id)
        result = payload.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise InvalidResponse(
                messages.missing_field(gettext("the token's status")),
                status_code=200,
                response_body=self.http.redactor.value(payload),
            )
        return TokenInfo(
            id=str(result.get("id") or ""),
            status=result["status"],
            not_before=parse_api_datetime(result.get("not_before")),
            expires_on=parse_api_datetime(result.get("expires_on")),
            endpoint=endpoint,
            account_id=account_id,
        )

    def get_zone(self) -> ZoneInfo:
        """Read the zone (``GET /zones/{zone_id}``): name, status, plan, account.

        Works with either authentication scheme; a token with only Cache Purge on the
        zone may read it.

        :raises BackendError: the zone is not reachable with these credentials.
        """
        payload = self._call("GET", f"/zones/{self.credentials.zone_id}", "zone")
        zone = payload.get("result")
        if not isinstance(zone, dict) or not isinstance(zone.get("name"), str):
            raise InvalidResponse(
                messages.missing_field(gettext("the zone's name")),
                status_code=200,
                response_body=self.http.redactor.value(payload),
            )
        plan: dict[str, Any] = zone["plan"] if isinstance(zone.get("plan"), dict) else {}
        account: dict[str, Any] = zone["account"] if isinstance(zone.get("account"), dict) else {}
        permissions = zone.get("permissions")
        remote = RemoteZone(
            name=zone["name"].lower(),
            status=str(zone.get("status") or ""),
            plan=str(plan.get("legacy_id") or "").lower(),
            plan_name=str(plan.get("name") or ""),
            account_id=str(account.get("id") or ""),
            paused=bool(zone.get("paused", False)),
        )
        return ZoneInfo(
            remote=remote,
            permissions=(
                tuple(str(p) for p in permissions) if isinstance(permissions, list) else None
            ),
        )

    # -- HTTP -------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        json: Any = None,
        endpoint: str = "",
        account_id: str = "",
        items: int = 0,
    ) -> dict[str, Any]:
        """Send one request and return the success envelope, or raise."""
        response = self.http.send(
            method,
            path,
            headers=self.credentials.auth_headers(),
            operation=str(messages.OPERATION_NAMES[operation]),
            json=json,
        )
        status = response.status_code
        # Redacted as soon as parsed: a reply may echo a credential, and the parsed
        # reply is a local variable of every frame an error is raised from.
        payload = self.http.redactor.value(parse_json(response))
        if payload is NOT_JSON:
            # Raised here, not in an ``except`` block: the decoder's error keeps the
            # whole body (``.doc``), which may echo a credential, and would be chained.
            raise self._not_envelope(response, operation, what_came(response))
        if not is_envelope(payload):
            raise self._not_envelope(
                response, operation, gettext("JSON that is not Cloudflare's API reply")
            )
        if 200 <= status < 300 and payload.get("success") is True:
            return payload
        errors = [
            ApiMessage(m.code, self.http.redactor.text(m.message))
            for m in error_messages(payload.get("errors"))
        ]
        raise self._api_error(response, payload, errors, operation, endpoint, account_id, items)

    def _api_error(
        self,
        response: requests.Response,
        payload: dict[str, Any],
        errors: list[ApiMessage],
        operation: str,
        endpoint: str,
        account_id: str,
        items: int,
    ) -> BackendError:
        status = response.status_code
        found = frozenset(e.code for e in errors)
        said = status_and_errors(status, errors)
        wait = retry_after(response.headers, status)

        def make(cls: type[BackendError], message: str) -> BackendError:
            return cls(
                self.http.redactor.text(message),
                status_code=status,
                errors=errors,
                retry_after=wait,
                response_body=self.http.redactor.value(payload),
            )

        if status == 429 or found & codes.RATE_LIMIT:
            text = messages.rate_limited(
                said, seconds_text(wait) if wait is not None else None, purge=operation == "purge"
            )
            return make(RateLimited, text)
        if status >= 500:
            return make(ServerError, messages.server_error(said))
        token = self.credentials.auth_kind == AUTH_TOKEN
        if found & codes.AUTH or (status in (401, 403) and not found & codes.NOT_FOUND):
            return make(
                AuthenticationFailed,
                messages.auth(found, said, token=token, operation=operation, endpoint=endpoint),
            )
        if found & codes.NOT_FOUND or status == 404:
            return make(
                ZoneNotFound,
                messages.not_found(
                    said,
                    operation=operation,
                    endpoint=endpoint,
                    zone_id=self.credentials.zone_id,
                    account_id=account_id,
                    token=token,
                ),
            )
        if 400 <= status < 500:
            return make(RequestRejected, messages.rejected(said, operation=operation, items=items))
        if 300 <= status < 400:
            return make(
                InvalidResponse,
                messages.redirect(
                    status,
                    url_without_query(response.headers.get("Location", "")),
                    self.http.api_url,
                ),
            )
        return make(InvalidResponse, messages.unconfirmed(said))

    def _not_envelope(self, response: requests.Response, operation: str, what: str) -> BackendError:
        status = response.status_code
        wait = retry_after(response.headers, status)
        body = self.http.redactor.snippet(response.content)
        # ``what`` quotes the answer's Content-Type: redacted like everything it sent.
        what = self.http.redactor.text(what)
        if status == 429:
            return RateLimited(
                messages.not_cloudflare_busy(status, what, seconds_text(wait) if wait else None),
                status_code=status,
                retry_after=wait,
                response_body=body,
            )
        if status >= 500:
            return ServerError(
                messages.not_cloudflare_busy(status, what, None),
                status_code=status,
                retry_after=wait,
                response_body=body,
            )
        if 300 <= status < 400:
            text = messages.redirect(
                status, url_without_query(response.headers.get("Location", "")), self.http.api_url
            )
        else:
            text = messages.not_cloudflare(status, what, operation, self.http.api_url)
        return InvalidResponse(
            self.http.redactor.text(text), status_code=status, response_body=body
        )


def purge_body(kind: str, items: Sequence[Any]) -> dict[str, Any]:
    """The JSON body of one purge call (Cloudflare takes one kind per body)."""
    if kind == Kind.EVERYTHING:
        return {"purge_everything": True}
    if not items:
        raise ValueError(f"Nothing to purge: the list of {kind} is empty.")
    if kind == Kind.FILES and len({isinstance(item, str) for item in items}) > 1:
        # A list of URL strings or of {url, headers} objects, never a mix.
        items = [{"url": item} if isinstance(item, str) else item for item in items]
    return {str(kind): list(items)}
