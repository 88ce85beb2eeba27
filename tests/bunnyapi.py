"""The bunny.net API contract, and the ``bunny_api`` mock.

Loaded as a plugin by ``tests/cfapi.py``, whose ``cf_contract`` fixture checks every
request to ``https://api.bunny.net``, or to a path of its three operations anywhere (the
fake server), against ``tests/data/bunny-openapi-subset.json`` and these rules, which
the schema does not encode:

* the ``AccessKey`` header carries the account's API key (never a Bearer token);
* ``POST /purge``: exactly one ``url`` query value, an absolute http(s) URL; no body;
  ``async`` and ``exactPath`` as ``true``/``false``;
* ``POST /pullzone/{id}/purgeCache``: no body (the whole zone), or exactly
  ``{"CacheTag": "<tag>"}`` as JSON;
* ``GET /pullzone/{id}``: no body, and never ``includeCertificate=true`` (it would fetch
  certificate material the client has no use for).

Answers: 2xx against the schema (``purgeCache`` may answer 200 instead of the declared
204, as the live API has done). The schema declares no error bodies, and no 400, 429 or
503 at all, although the API sends them: a JSON error body must be bunny.net's
``{"ErrorKey", "Field", "Message"}`` (or the ``{"Message"}`` of an authorization
failure), and a ``Retry-After`` a number of seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from tests.cfapi import (
    DATA,
    Api,
    Contract,
    Exchange,
    header,
    register_api,
    schema_response_problems,
)

API_URL = "https://api.bunny.net"
#: A made-up account API key of the documented shape (two UUIDs joined).
ACCESS_KEY = "6c0d1f4e-3b2a-4c5d-8e9f-0a1b2c3d4e5f" + "9f8e7d6c-5b4a-4938-8271-605f4e3d2c1b"
PULL_ZONE_ID = 1234567
PULL_ZONE_NOT_FOUND = {
    "ErrorKey": "pullZone.not_found",
    "Field": "PullZone",
    "Message": "The requested Pull Zone was not found",
}
UNAUTHORIZED = {"Message": "Authorization has been denied for this request."}

_ROUTE = re.compile(r"/purge|/pullzone/[^/]+(/purgeCache)?")
_BOOLEANS = ("true", "false")


def _locate(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.hostname == "api.bunny.net" or _ROUTE.fullmatch(parts.path):
        return parts.path
    return None


def _query(exchange: Exchange) -> dict[str, list[str]]:
    return parse_qs(urlsplit(exchange.url).query, keep_blank_values=True)


def _purge_rules(exchange: Exchange) -> list[str]:
    query = _query(exchange)
    problems = []
    urls = query.get("url", [])
    if len(urls) != 1:
        problems.append(f"POST /purge takes exactly one url query value, got {len(urls)}")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"url {url!r} is not an absolute http(s) URL")
    for name in ("async", "exactPath"):
        for value in query.get(name, []):
            if value not in _BOOLEANS:
                problems.append(f"{name}={value!r}: send true or false")
    if exchange.body:
        problems.append("POST /purge has no body; the URL goes in the query string")
    return problems


def _purge_cache_rules(exchange: Exchange) -> list[str]:
    if not exchange.body:
        return []
    content_type = header(exchange.headers, "Content-Type").split(";")[0].strip().lower()
    problems = []
    if content_type != "application/json":
        problems.append(f"Content-Type must be application/json, not {content_type!r}")
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return [*problems, "the body is not JSON"]
    if not isinstance(body, dict) or set(body) != {"CacheTag"}:
        problems.append(f'the body must be {{"CacheTag": "<tag>"}} only, not {body!r}')
    elif not isinstance(body["CacheTag"], str) or not body["CacheTag"].strip():
        problems.append("CacheTag must be a non-empty string (send no body to purge the zone)")
    return problems


def _request_rules(exchange: Exchange, contract: Contract) -> list[str]:
    problems = []
    if not header(exchange.headers, "AccessKey").strip():
        problems.append("no AccessKey header (bunny.net's account API key)")
    if header(exchange.headers, "Authorization"):
        problems.append("an Authorization header: bunny.net's API takes the AccessKey header")
    if exchange.path == "/purge":
        problems.extend(_purge_rules(exchange))
    elif exchange.path.endswith("/purgeCache"):
        problems.extend(_purge_cache_rules(exchange))
    else:
        if exchange.body:
            problems.append(f"{exchange.method} {exchange.path} has no body")
        if "true" in _query(exchange).get("includeCertificate", []):
            problems.append("includeCertificate=true fetches certificate material: leave it out")
    return problems


def error_body_problems(exchange: Exchange) -> list[str]:
    """bunny.net's error shapes, which its schema does not declare for these operations."""
    problems = []
    retry_after = header(exchange.headers, "Retry-After")
    if retry_after and not retry_after.isdigit():
        problems.append(f"Retry-After {retry_after!r} is not a number of seconds")
    try:
        body = json.loads(exchange.body) if exchange.body.strip() else None
    except ValueError:
        return problems
    if body is None:
        return problems
    shapes = ({"ErrorKey", "Field", "Message"}, {"Message"})
    if not isinstance(body, dict) or set(body) not in shapes:
        return [*problems, f"an error body is ErrorKey/Field/Message (ApiErrorData), not {body!r}"]
    if not all(isinstance(value, str) for value in body.values()):
        problems.append(f"the fields of an error body are strings: {body!r}")
    return problems


def _response_problems(api: Api, exchange: Exchange) -> list[str]:
    if exchange.status >= 400:
        return error_body_problems(exchange)
    if not 200 <= exchange.status < 300:
        return []
    status = None
    if exchange.path.endswith("/purgeCache") and exchange.status == 200:
        status = 204  # the live API has answered 200 where the schema says 204
    problems = schema_response_problems(api, exchange, status)
    if (exchange.path == "/purge" or exchange.path.endswith("/purgeCache")) and exchange.body:
        problems.append(f"{exchange.path} answers with no body, not {exchange.body[:80]!r}")
    return problems


BUNNY = Api(
    label="bunny.net API",
    schema_file=DATA / "bunny-openapi-subset.json",
    host=API_URL,
    prefix="",
    locate=_locate,
    request_rules=_request_rules,
    response_problems=_response_problems,
)
register_api(BUNNY)


# -- bodies -------------------------------------------------------------------


def hostname_body(host_id: int, value: str, *, system: bool = False) -> dict[str, Any]:
    """One ``HostnameModel`` (without certificate fields)."""
    return {
        "Id": host_id,
        "Value": value,
        "ForceSSL": False,
        "IsSystemHostname": system,
        "IsManagedHostname": False,
        "HasCertificate": system,
    }


def pull_zone_body(
    zone_id: int = PULL_ZONE_ID,
    name: str = "example",
    hostnames: tuple[str, ...] = ("cdn.example.com",),
    *,
    ignore_query_strings: bool = True,
    enabled: bool = True,
    suspended: bool = False,
) -> dict[str, Any]:
    """The 200 body of ``GET /pullzone/{id}``: a ``PullZoneModel`` with the fields a client
    reads, and none of its secrets (``ZoneSecurityKey``, ``AWSSigningSecret``...)."""
    hosts = [hostname_body(zone_id * 10, f"{name}.b-cdn.net", system=True)]
    hosts += [hostname_body(zone_id * 10 + i, h) for i, h in enumerate(hostnames, start=1)]
    return {
        "Id": zone_id,
        "Name": name,
        "OriginUrl": "https://www.example.com",
        "Enabled": enabled,
        "Suspended": suspended,
        "Hostnames": hosts,
        "StorageZoneId": 0,
        "IgnoreQueryStrings": ignore_query_strings,
        "PermaCacheStorageZoneId": 0,
        "PermaCacheType": 0,
        "Type": 0,
        "CnameDomain": f"{name}.b-cdn.net",
        "CacheControlMaxAgeOverride": -1,
        "EnableLogging": True,
    }


def error_body(error_key: str, field: str, message: str) -> dict[str, str]:
    """bunny.net's error body (``ApiErrorData``)."""
    return {"ErrorKey": error_key, "Field": field, "Message": message}


# -- the bunny_api fixture ----------------------------------------------------------


class BunnyAPIMock:
    """bunny.net's API mocked with ``responses``. Get it from the ``bunny_api`` fixture.

    Each ``add_*`` helper registers one reply for every matching call; several replies
    for the same URL are used in the order added (the last one repeats).
    """

    def __init__(self, mock: responses.RequestsMock, base_url: str = API_URL) -> None:
        self.mock = mock
        self.base_url = base_url.rstrip("/")

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Register any reply (no body unless ``json``)."""
        kwargs: dict[str, Any] = {"status": status, "headers": dict(headers or {})}
        if json is not None:
            kwargs["json"] = json
        else:
            kwargs["body"] = b""
        self.mock.add(method, self.base_url + path, **kwargs)

    def add_purge_ok(self) -> None:
        """``POST /purge`` answers 200 with no body."""
        self.add("POST", "/purge")

    def add_purge_error(
        self,
        status: int = 404,
        body: Mapping[str, str] | None = PULL_ZONE_NOT_FOUND,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``POST /purge`` fails (default: 404, no pull zone serves the URL's host)."""
        self.add("POST", "/purge", status=status, json=body, headers=headers)

    def add_rate_limited(self, retry_after: int | None = 1, path: str = "/purge") -> None:
        """429 with ``Retry-After`` (unless None). The body of bunny.net's 429 is not
        documented: none is sent."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self.add("POST", path, status=429, headers=headers)

    def add_unauthorized(self, method: str = "POST", path: str = "/purge") -> None:
        """401 with the ASP.NET-style message seen on bunny.net's API."""
        self.add(method, path, status=401, json=UNAUTHORIZED)

    def add_purge_zone_ok(self, zone_id: int = PULL_ZONE_ID, status: int = 204) -> None:
        """``POST /pullzone/{id}/purgeCache`` answers 204 (or 200) with no body."""
        self.add("POST", f"/pullzone/{zone_id}/purgeCache", status=status)

    def add_pull_zone_ok(self, zone_id: int = PULL_ZONE_ID, **fields: Any) -> None:
        """``GET /pullzone/{id}``: :func:`pull_zone_body` with ``fields``."""
        self.add("GET", f"/pullzone/{zone_id}", json=pull_zone_body(zone_id, **fields))

    def add_pull_zone_not_found(self, zone_id: int = PULL_ZONE_ID) -> None:
        """``GET /pullzone/{id}`` answers 404."""
        self.add("GET", f"/pullzone/{zone_id}", status=404, json=PULL_ZONE_NOT_FOUND)

    # what was sent
    def sent_requests(self) -> list[requests.PreparedRequest]:
        """Every request made, in order."""
        return [call.request for call in self.mock.calls]

    def purged_urls(self) -> list[str]:
        """The ``url`` of every ``POST /purge``, in order."""
        return [
            value
            for request in self.sent_requests()
            if urlsplit(request.url or "").path == "/purge"
            for value in parse_qs(urlsplit(request.url or "").query).get("url", [])
        ]

    def purged_zones(self) -> list[tuple[int, str | None]]:
        """``(pull zone id, CacheTag or None)`` of every ``purgeCache`` call, in order."""
        found = []
        for request in self.sent_requests():
            path = urlsplit(request.url or "").path
            if path.endswith("/purgeCache"):
                body = json.loads(request.body) if request.body else {}
                found.append((int(path.split("/")[2]), body.get("CacheTag")))
        return found


@pytest.fixture
def bunny_api(cf_contract: Contract) -> Iterator[BunnyAPIMock]:
    """bunny.net's API at ``https://api.bunny.net``, mocked with ``responses`` (requests
    are still checked by the contract)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield BunnyAPIMock(mock)
