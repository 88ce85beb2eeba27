"""The HTTP client for the three bunny.net API calls django-cfpurge makes.

* ``POST /purge?url=…`` — :meth:`BunnyClient.purge_url`: one URL per call (``*`` in it,
  or a path ending in ``/``, makes it a wildcard; ``exactPath=true`` keeps a URL that ends
  in ``/`` exact);
* ``POST /pullzone/{id}/purgeCache`` — :meth:`BunnyClient.purge_zone`: the whole pull
  zone, or the files of one cache tag (``{"CacheTag": …}``);
* ``GET /pullzone/{id}`` — :meth:`BunnyClient.get_pull_zone`: its name, state and
  hostnames. The body also holds the zone's secrets (its token-authentication key, its
  S3 signing secret…): only the fields named in :class:`PullZoneInfo` are read, and the
  body is never logged, stored or put in an error.

Every failure is raised as a :class:`~django_cfpurge.exceptions.BackendError` subclass
chosen from the HTTP status (bunny.net's ``ErrorKey`` names it in messages), with a
sentence a site owner can act on that never contains the API key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext

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
    ApiClient,
    parse_json,
    retry_after,
    seconds_text,
    url_without_query,
    what_came,
)
from . import messages
from .credentials import BunnyCredentials

#: ``ErrorKey`` of bunny.net's "no such pull zone" (a purge by URL: no pull zone of the
#: account serves the URL's host).
PULL_ZONE_NOT_FOUND = "pullZone.not_found"


@dataclass(frozen=True)
class PullZoneInfo:
    """``GET /pullzone/{id}``: the fields django-cfpurge reads, and nothing else.

    :ivar hostnames: the hostnames it serves, in bunny.net's order (its own
        ``*.b-cdn.net`` name first), lower case.
    """

    id: int
    name: str
    enabled: bool
    suspended: bool
    hostnames: tuple[str, ...]

    @property
    def status(self) -> str:
        """``active``, ``disabled`` or ``suspended``."""
        if self.suspended:
            return "suspended"
        return "active" if self.enabled else "disabled"

    @property
    def remote(self) -> RemoteZone:
        """As the contract describes a zone."""
        return RemoteZone(name=self.name, status=self.status, hostnames=self.hostnames)


class BunnyClient(ApiClient[BunnyCredentials]):
    """A small client for bunny.net's API, bound to one pull zone's credentials.

    :param credentials: the pull zone and the account's API key.
    :param http: the HTTP base (API URL, timeouts, deadline, redaction).
    """

    # -- purges -------------------------------------------------------------------
    def purge_url(self, url: str, *, exact_path: bool | None = None) -> None:
        """Purge one URL (``POST /purge``).

        :param exact_path: send ``exactPath=true``; by default, for a URL whose path ends
            in ``/`` and has no ``*``, so that a file URL never becomes a wildcard.
        :raises BackendError: bunny.net did not purge.
        """
        if exact_path is None:
            exact_path = "*" not in url and urlsplit(url).path.endswith("/")
        params = {"url": url}
        if exact_path:
            params["exactPath"] = "true"
        self._call("POST", "/purge", "purge", params=params, item=url)

    def purge_zone(self, tag: str | None = None) -> None:
        """Purge the whole pull zone, or the files tagged ``tag`` (``CDN-Tag``).

        :raises BackendError: bunny.net did not purge.
        """
        body = {"CacheTag": tag} if tag else None
        self._call(
            "POST",
            f"/pullzone/{self.credentials.zone_id}/purgeCache",
            "purge_zone",
            json=body,
            item=tag or "",
        )

    def get_pull_zone(self) -> PullZoneInfo:
        """Read the pull zone (``GET /pullzone/{id}``).

        :raises BackendError: the key is refused, the zone does not exist, or the call
            failed.
        """
        response = self._call("GET", f"/pullzone/{self.credentials.zone_id}", "pull_zone")
        payload = parse_json(response)
        if not isinstance(payload, dict) or not isinstance(payload.get("Name"), str):
            # Not kept in the error: a pull zone's body holds its secrets.
            raise InvalidResponse(
                messages.missing_field(gettext("the pull zone's name")), status_code=200
            )
        hostnames = payload.get("Hostnames")
        values = [
            str(entry["Value"]).strip().lower()
            for entry in (hostnames if isinstance(hostnames, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("Value"), str)
        ]
        zone_id = payload.get("Id")
        return PullZoneInfo(
            id=zone_id if isinstance(zone_id, int) else int(self.credentials.zone_id),
            name=payload["Name"],
            enabled=payload.get("Enabled") is not False,
            suspended=payload.get("Suspended") is True,
            hostnames=tuple(dict.fromkeys(v for v in values if v)),
        )

    # -- HTTP -----------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        item: str = "",
    ) -> requests.Response:
        """Send one request; return a 2xx answer, or raise."""
        kwargs: dict[str, Any] = {}
        if params is not None:
            kwargs["params"] = params
        if json is not None:
            kwargs["json"] = json
        response = self.http.send(
            method,
            path,
            headers=self.credentials.auth_headers(),
            operation=str(messages.OPERATION_NAMES[operation]),
            **kwargs,
        )
        if 200 <= response.status_code < 300:
            return response
        raise self._error(response, operation, item)

    def _error(self, response: requests.Response, operation: str, item: str) -> BackendError:
        status = response.status_code
        # Redacted as soon as parsed: a reply may echo the key, and the parsed reply is a
        # local variable of every frame an error is raised from.
        payload = self.http.redactor.value(parse_json(response))
        errors = _errors(payload, self.http.redactor.text)
        said = _said(status, errors)
        wait = retry_after(response.headers, status)
        body = (
            payload if isinstance(payload, dict) else self.http.redactor.snippet(response.content)
        )

        def make(cls: type[BackendError], message: str) -> BackendError:
            return cls(
                self.http.redactor.text(message),
                status_code=status,
                errors=errors,
                retry_after=wait,
                response_body=body,
            )

        if status == 429:
            return make(
                RateLimited, messages.rate_limited(said, seconds_text(wait) if wait else None)
            )
        if status >= 500:
            return make(ServerError, messages.server_error(said))
        if 300 <= status < 400:
            location = url_without_query(response.headers.get("Location", ""))
            return make(InvalidResponse, messages.redirect(status, location, self.http.api_url))
        if status == 401:
            zone_id = self.credentials.zone_id
            return make(
                AuthenticationFailed, messages.refused(said, operation=operation, zone_id=zone_id)
            )
        if status == 403:
            return make(AuthenticationFailed, messages.forbidden(said))
        if status == 404:
            return self._not_found(response, payload, operation, item, make, said)
        return make(RequestRejected, messages.rejected(said, operation=operation, item=item))

    def _not_found(
        self,
        response: requests.Response,
        payload: Any,
        operation: str,
        item: str,
        make: Callable[[type[BackendError], str], BackendError],
        said: str,
    ) -> BackendError:
        if response.content.strip() and not isinstance(payload, dict):
            # An HTML page or another server's answer: not bunny.net's "not found".
            what = self.http.redactor.text(what_came(response))
            return make(
                InvalidResponse,
                messages.not_bunny(response.status_code, what, operation, self.http.api_url),
            )
        if operation == "purge":
            host = (urlsplit(item).hostname or item).lower()
            return make(ZoneNotFound, messages.host_not_served(said, host))
        return make(ZoneNotFound, messages.zone_not_found(said, self.credentials.zone_id))


def _errors(payload: Any, redact: Callable[[str], str]) -> list[ApiMessage]:
    """bunny.net's error body as one entry: ``ErrorKey`` (or ``""``) and ``Message``."""
    if not isinstance(payload, dict):
        return []
    key = payload.get("ErrorKey")
    message = payload.get("Message")
    if not isinstance(key, str) and not isinstance(message, str):
        return []
    return [
        ApiMessage(
            key if isinstance(key, str) else "", redact(message if isinstance(message, str) else "")
        )
    ]


def _said(status: int, errors: list[ApiMessage]) -> str:
    """``HTTP 404: The requested Pull Zone was not found (pullZone.not_found)``."""
    if not errors:
        return f"HTTP {status}"
    entry = errors[0]
    if entry.code and entry.message:
        return f"HTTP {status}: {entry.message} ({entry.code})"
    return f"HTTP {status}: {entry.message or entry.code}"
