"""The API contracts, enforced on every request the test suite sends to a CDN's API.

Loaded as a pytest plugin from ``tests/conftest.py``; it loads the other two contracts,
``tests/bunnyapi.py`` (bunny.net) and ``tests/imagesapi.py`` (Cloudflare Images), as
plugins of its own. It provides:

* :func:`validate_request` and :func:`validate_response`: check one exchange against
  the API's OpenAPI schema subset (``tests/data/*-openapi-subset.json``) plus the rules
  the schema does not encode. For Cloudflare's v4 API: one purge kind per body, item
  limits, non-empty lists, hosts and prefixes without a scheme, exactly one auth scheme;
  the other modules add theirs. Each API is an :class:`Api` in a registry, found by URL:
  ``/client/v4/`` URLs are Cloudflare's (``/accounts/{id}/images/...`` the Images API's),
  ``https://api.bunny.net/...`` and ``/purge`` or ``/pullzone/...`` paths bunny.net's;
* an autouse fixture, ``cf_contract``, that wraps ``requests.Session.send`` so that
  every request to an API URL — to ``responses`` mocks, the fake servers or anything
  else — is validated before it is sent, and its response after. A violation raises
  :class:`ContractViolation` at the call and, if the code under test swallowed it,
  fails the test afterwards;
* markers to opt out: ``no_contract_response`` (the test feeds replies that are
  deliberately not API-shaped: HTML from a proxy, non-JSON...), ``no_contract_request``
  (the test deliberately sends a malformed request) and ``cf_max_items(n)`` (the item
  limit for Cloudflare purge bodies, default 30);
* the ``cf_api`` fixture: a ``responses`` mock of Cloudflare's API with helpers whose
  bodies have exactly the shape Cloudflare sends (``bunny_api`` and ``images_api`` are
  in the other two modules).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from jsonschema_path import SchemaPath
from openapi_core import V30RequestValidator, V30ResponseValidator
from openapi_core.testing import MockRequest, MockResponse

pytest_plugins = ["tests.bunnyapi", "tests.imagesapi"]

DATA = Path(__file__).parent / "data"
SCHEMA_FILE = DATA / "cloudflare-openapi-subset.json"

API_URL = "https://api.cloudflare.com/client/v4"
API_PREFIX = "/client/v4"
#: The schema's server; requests to other hosts (the fake server) are matched on the path.
_SCHEMA_HOST = "https://api.cloudflare.com"
#: Cloudflare Images routes, checked by ``tests/imagesapi.py``, not here.
IMAGES_PATH = re.compile(r"/accounts/[^/]+/images(/.*)?")

# Test identifiers: Cloudflare's own documentation examples, and made-up secrets of
# the right shape (none of them is a real credential).
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
OTHER_ZONE_ID = "9a7806061c88ada191ed06f989cc3dac"
ACCOUNT_ID = "eb78d65290b24279ba6f44721b3ea3c4"
TOKEN_ID = "ed17574386854bf78a67040be0a770b0"
API_TOKEN = "8M7wS6hCpXVc-DoRnPPY_UCWPgy8aea4Wy6kCe5T"
ACCOUNT_API_TOKEN = "cfat_" + "Q7xK2mN9pL4vR8sT1wY6zA3bC5dE0fG2hJ4kM7nP" + "a1B2c3D4"
GLOBAL_API_KEY = "0123456789abcdef0123456789abcdef01234"
EMAIL = "owner@example.com"

DEFAULT_MAX_ITEMS = 100
#: Tags, hosts and prefixes per call are capped at 100 on every plan.
MAX_FLEX_ITEMS = 100
PURGE_KEYS = ("files", "tags", "hosts", "prefixes", "purge_everything")

PLAN_NAMES = {
    "free": "Free Website",
    "pro": "Pro Website",
    "business": "Business Website",
    "enterprise": "Enterprise Website",
}


class ContractViolation(AssertionError):
    """A request or response does not match what the API sends or accepts."""


# -- the registry of APIs -----------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request (and, for a response check, its answer) to an API.

    :ivar path: the path under the API's prefix (``/zones/…``, ``/purge``).
    """

    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int = 0


@dataclass(frozen=True)
class Api:
    """An API the contract knows.

    :ivar label: its name in messages (``Cloudflare API``).
    :ivar schema_file: its OpenAPI subset.
    :ivar host: scheme and host of the schema's server.
    :ivar prefix: path of the schema's server (``/client/v4``, or ``""``).
    :ivar locate: ``url`` → the path under ``prefix``, or None if the URL is not this API's.
    :ivar request_rules: the problems of a request beyond the schema.
    :ivar response_problems: all the problems of a response (schema included).
    :ivar request_deviation: True for a schema error of a request that the real API
        accepts anyway (the schema is wrong there).
    :ivar response_deviation: True for a schema error that the real API's answers commit.
    """

    label: str
    schema_file: Path
    host: str
    prefix: str
    locate: Callable[[str], str | None]
    request_rules: Callable[[Exchange, Contract], list[str]]
    response_problems: Callable[[Api, Exchange], list[str]]
    request_deviation: Callable[[Any], bool] = lambda schema_error: False
    response_deviation: Callable[[Any], bool] = lambda schema_error: False


_APIS: list[Api] = []


def register_api(api: Api) -> None:
    """Check requests to ``api`` from now on."""
    _APIS.append(api)


def find_api(url: str) -> tuple[Api, str] | None:
    """The API ``url`` belongs to and its path under the API's prefix, or None."""
    for api in _APIS:
        path = api.locate(url)
        if path is not None:
            return api, path
    return None


def _not_api_url(url: str) -> ContractViolation:
    return ContractViolation(
        f"{url} is not a Cloudflare API URL (no {API_PREFIX}/ in it) nor another known API's"
    )


# -- validation -------------------------------------------------------------


@cache
def _validators(schema_file: Path) -> tuple[V30RequestValidator, V30ResponseValidator]:
    spec = SchemaPath.from_dict(json.loads(schema_file.read_text(encoding="utf-8")))
    return V30RequestValidator(spec), V30ResponseValidator(spec)


def code_971(schema_error: Any) -> bool:
    """True for the code 971 of Cloudflare's global rate limit (below the schema's minimum)."""
    # The schema says codes are >= 1000, but Cloudflare's global API rate limit answers
    # code 971 ("Please wait and consider throttling your request speed").
    return (
        getattr(schema_error, "validator", None) == "minimum"
        and getattr(schema_error, "instance", None) == 971
        and list(getattr(schema_error, "path", []))[-1:] == ["code"]
    )


def api_path(url: str) -> str | None:
    """The part of ``url``'s path after ``/client/v4``, or ``None`` if it is not an API URL."""
    path = urlsplit(url).path
    marker = API_PREFIX + "/"
    index = path.find(marker)
    if index < 0:
        return None
    return path[index + len(API_PREFIX) :]


def _cloudflare_path(url: str) -> str | None:
    path = api_path(url)
    return None if path is None or IMAGES_PATH.fullmatch(path) else path


def header(headers: Mapping[str, Any], name: str) -> str:
    """The value of header ``name`` (any case), as text; ``""`` when absent."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value if isinstance(value, str) else value.decode("latin-1")
    return ""


def _mock_request(api: Api, exchange: Exchange) -> MockRequest:
    headers = exchange.headers
    return MockRequest(
        api.host,
        exchange.method,
        api.prefix + exchange.path,
        args=dict(parse_qsl(urlsplit(exchange.url).query)),
        headers={k: (v if isinstance(v, str) else v.decode("latin-1")) for k, v in headers.items()},
        data=exchange.body,
        content_type=(header(headers, "Content-Type") or "application/json").lower(),
    )


def _describe(errors: Sequence[Exception], deviation: Callable[[Any], bool]) -> list[str]:
    lines = []
    for err in errors:
        schema_errors = getattr(err.__cause__, "schema_errors", None) or getattr(
            err, "schema_errors", None
        )
        if schema_errors:
            # A parameter's errors are at "$": name the parameter.
            name = f" {err.name}" if isinstance(getattr(err, "name", None), str) else ""
            lines.extend(
                f"{type(err).__name__}{name} at {getattr(se, 'json_path', '$')}: "
                f"{getattr(se, 'message', se)}"
                for se in schema_errors
                if not deviation(se)
            )
        else:
            lines.append(f"{type(err).__name__}: {err}")
    return lines


def schema_request_problems(api: Api, exchange: Exchange) -> list[str]:
    """What the schema finds wrong with a request."""
    request_validator, _ = _validators(api.schema_file)
    errors = list(request_validator.iter_errors(_mock_request(api, exchange)))
    return _describe(errors, api.request_deviation)


def schema_response_problems(api: Api, exchange: Exchange, status: int | None = None) -> list[str]:
    """What the schema finds wrong with a response (validated as ``status`` if given)."""
    _, response_validator = _validators(api.schema_file)
    request = _mock_request(api, Exchange(exchange.method, exchange.url, exchange.path, {}, b""))
    content_type = (header(exchange.headers, "Content-Type") or "").lower()
    response = MockResponse(
        exchange.body,
        status_code=status or exchange.status,
        headers=dict(exchange.headers),
        content_type=content_type,
    )
    return _describe(
        list(response_validator.iter_errors(request, response)), api.response_deviation
    )


def _fail(api: Api, kind: str, exchange: Exchange, problems: list[str]) -> None:
    __tracebackhide__ = True
    if problems:
        listing = "\n  - ".join(problems)
        raise ContractViolation(
            f"{api.label} contract: {kind} {exchange.method.upper()} "
            f"{api.prefix}{exchange.path} is not valid:\n  - {listing}"
        )


def check_auth(headers: Mapping[str, str]) -> list[str]:
    """Exactly one of Cloudflare's auth schemes: a Bearer token, or email + Global API Key."""
    authorization = header(headers, "Authorization")
    bearer = authorization.startswith("Bearer ") and bool(authorization[7:].strip())
    key_pair = bool(header(headers, "X-Auth-Email")) and bool(header(headers, "X-Auth-Key"))
    if authorization and not bearer:
        return ["the Authorization header is not 'Bearer <token>'"]
    if bearer and key_pair:
        return ["both auth schemes sent (Authorization and X-Auth-Email/X-Auth-Key); send one"]
    if not bearer and not key_pair:
        if header(headers, "X-Auth-Email") or header(headers, "X-Auth-Key"):
            return ["X-Auth-Email and X-Auth-Key must be sent together"]
        return ["no credentials: neither 'Authorization: Bearer' nor X-Auth-Email + X-Auth-Key"]
    return []


def _check_strings(kind: str, items: list[Any]) -> list[str]:
    problems = []
    for index, item in enumerate(items):
        where = f"{kind}[{index}]"
        if not isinstance(item, str) or not item.strip():
            problems.append(f"{where} must be a non-empty string, not {item!r}")
            continue
        if kind in ("hosts", "prefixes") and "://" in item:
            problems.append(f"{where} {item!r} must not have a scheme (host[/path] only)")
        if kind == "hosts" and "/" in item.split("://")[-1]:
            problems.append(f"{where} {item!r} must be a bare host name")
        if kind == "prefixes" and ("?" in item or "#" in item):
            problems.append(f"{where} {item!r}: prefixes cannot contain '?' or '#'")
    return problems


def _check_files(items: list[Any]) -> list[str]:
    problems = []
    forms = {isinstance(item, str) for item in items}
    if len(forms) > 1:
        problems.append("files mixes URL strings and {url, headers} objects in one body")
    for index, item in enumerate(items):
        where = f"files[{index}]"
        if isinstance(item, dict):
            extra = set(item) - {"url", "headers"}
            if extra:
                problems.append(f"{where} has unknown keys {sorted(extra)}")
            url = item.get("url")
            headers = item.get("headers", {})
            if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                problems.append(f"{where}.headers must map strings to strings")
        else:
            url = item
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(f"{where} must be an absolute http(s) URL, not {url!r}")
    return problems


def check_purge_body(body: Any, *, max_items: int = DEFAULT_MAX_ITEMS) -> list[str]:
    """The purge rules Cloudflare's schema does not encode; returns the problems found."""
    if not isinstance(body, dict):
        return [f"the body must be a JSON object, not {type(body).__name__}"]
    unknown = sorted(set(body) - set(PURGE_KEYS))
    if unknown:
        return [f"unknown keys {unknown}; a purge body has one of {', '.join(PURGE_KEYS)}"]
    kinds = [key for key in PURGE_KEYS if key in body]
    if len(kinds) != 1:
        return [f"exactly one purge kind per body is allowed, found {kinds or 'none'}"]
    (kind,) = kinds
    value = body[kind]
    if kind == "purge_everything":
        return [] if value is True else ["purge_everything must be true"]
    if not isinstance(value, list):
        return [f"{kind} must be a list"]
    if not value:
        return [f"{kind} is an empty list"]
    limit = max_items if kind == "files" else min(max_items, MAX_FLEX_ITEMS)
    problems = []
    if len(value) > limit:
        problems.append(f"{len(value)} {kind} in one call; the limit is {limit}")
    if kind == "files":
        problems.extend(_check_files(value))
    else:
        problems.extend(_check_strings(kind, value))
    return problems


def _cloudflare_request_rules(exchange: Exchange, contract: Contract) -> list[str]:
    problems = check_auth(exchange.headers)
    if exchange.method.upper() == "POST" and exchange.path.endswith("/purge_cache"):
        content_type = header(exchange.headers, "Content-Type").split(";")[0].strip().lower()
        if content_type != "application/json":
            problems.append(f"Content-Type must be application/json, not {content_type!r}")
        try:
            body = json.loads(exchange.body or b"")
        except ValueError:
            problems.append("the body is not JSON")
        else:
            problems.extend(check_purge_body(body, max_items=contract.max_items))
    return problems


def envelope_response_problems(api: Api, exchange: Exchange) -> list[str]:
    """A Cloudflare answer: 2xx against the operation's success schema; 4xx/5xx JSON
    bodies against its failure envelope (non-JSON error bodies pass: a proxy's page)."""
    if 200 <= exchange.status < 300:
        return schema_response_problems(api, exchange)
    if exchange.status < 400:
        return []
    try:
        json.loads(exchange.body or b"")
    except ValueError:
        return []
    # The schema documents only "4XX"; a JSON 5xx from Cloudflare uses the same envelope.
    json_exchange = Exchange(
        exchange.method,
        exchange.url,
        exchange.path,
        {**exchange.headers, "Content-Type": "application/json"},
        exchange.body,
        exchange.status,
    )
    return schema_response_problems(api, json_exchange, 400 if exchange.status >= 500 else None)


CLOUDFLARE = Api(
    label="Cloudflare API",
    schema_file=SCHEMA_FILE,
    host=_SCHEMA_HOST,
    prefix=API_PREFIX,
    locate=_cloudflare_path,
    request_rules=_cloudflare_request_rules,
    response_problems=envelope_response_problems,
    response_deviation=code_971,
)
register_api(CLOUDFLARE)


def validate_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body_bytes: bytes | None,
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> None:
    """Check one request against its API's schema and the rules beyond it.

    :raises ContractViolation: listing every problem found.
    """
    found = find_api(url)
    if found is None:
        raise _not_api_url(url)
    api, path = found
    exchange = Exchange(method, url, path, headers, body_bytes or b"")
    problems = api.request_rules(exchange, Contract(max_items=max_items))
    problems.extend(schema_request_problems(api, exchange))
    _fail(api, "request", exchange, problems)


def validate_response(
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body_bytes: bytes | None,
) -> None:
    """Check one response against its API's schema and rules (for Cloudflare: 2xx against
    the operation's success schema; 4xx/5xx JSON bodies against its failure envelope,
    non-JSON error bodies pass).

    :raises ContractViolation: listing every problem found.
    """
    found = find_api(url)
    if found is None:
        raise _not_api_url(url)
    api, path = found
    exchange = Exchange(method, url, path, headers, body_bytes or b"", status)
    _fail(api, f"response {status} to", exchange, api.response_problems(api, exchange))


# -- the autouse wrapper -------------------------------------------------------


class Contract:
    """The contract state of one test. The ``cf_contract`` fixture returns it.

    :ivar max_items: item limit applied to purge bodies (30, 100 or 500).
    :ivar check_requests: validate requests (off with ``no_contract_request``).
    :ivar check_responses: validate responses (off with ``no_contract_response``).
    :ivar violations: messages of every violation seen.
    :ivar checked: number of exchanges seen.
    """

    def __init__(
        self,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        check_requests: bool = True,
        check_responses: bool = True,
    ) -> None:
        self.max_items = max_items
        self.check_requests = check_requests
        self.check_responses = check_responses
        self.violations: list[str] = []
        self.checked = 0

    @contextlib.contextmanager
    def expect_violation(self, match: str = "") -> Iterator[None]:
        """Expect the block to violate the contract; the violation is then forgiven."""
        before = len(self.violations)
        with pytest.raises(ContractViolation, match=match or None):
            yield
        del self.violations[before:]

    def _record(self, err: ContractViolation) -> None:
        self.violations.append(str(err))


_CONTRACT = pytest.StashKey[Contract]()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    return b""


@pytest.fixture(autouse=True)
def cf_contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Contract:
    """Validate every exchange of the test with a known API against its contract."""
    marker = request.node.get_closest_marker("cf_max_items")
    contract = Contract(
        max_items=marker.args[0] if marker else DEFAULT_MAX_ITEMS,
        check_requests=request.node.get_closest_marker("no_contract_request") is None,
        check_responses=request.node.get_closest_marker("no_contract_response") is None,
    )
    original_send = requests.Session.send

    def send(session: requests.Session, prepared: requests.PreparedRequest, **kwargs: Any) -> Any:
        url = prepared.url or ""
        if find_api(url) is None:
            return original_send(session, prepared, **kwargs)
        contract.checked += 1
        method = prepared.method or "GET"
        if contract.check_requests:
            try:
                validate_request(
                    method,
                    url,
                    prepared.headers,
                    _body_bytes(prepared.body),
                    max_items=contract.max_items,
                )
            except ContractViolation as err:
                contract._record(err)
                raise
        response = original_send(session, prepared, **kwargs)
        if contract.check_responses:
            try:
                validate_response(
                    method, url, response.status_code, response.headers, response.content
                )
            except ContractViolation as err:
                contract._record(err)
                raise
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    request.node.stash[_CONTRACT] = contract
    return contract


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    # A violation raised inside code that catches broad exceptions must still fail
    # the test: report what was recorded once the test body has finished.
    result = yield
    contract = item.stash.get(_CONTRACT, None)
    if contract is not None and contract.violations:
        pytest.fail(
            "An API contract was violated (and the error was caught by the "
            "code under test):\n" + "\n".join(contract.violations),
            pytrace=False,
        )
    return result


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "no_contract_response: do not validate API responses (the test feeds "
        "replies that are deliberately not shaped as the API's)",
    )
    config.addinivalue_line(
        "markers",
        "no_contract_request: do not validate API requests (the test sends a "
        "deliberately malformed request)",
    )
    config.addinivalue_line(
        "markers", "cf_max_items(n): item limit per purge body for the API contract (default 100)"
    )


# -- bodies -------------------------------------------------------------------


def _iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_entry(
    code: int, message: str, error_chain: Sequence[tuple[int, str]] | None = None
) -> dict[str, Any]:
    """One ``errors`` entry, with an optional nested ``error_chain``."""
    entry: dict[str, Any] = {"code": code, "message": message}
    if error_chain:
        entry["error_chain"] = [{"code": c, "message": m} for c, m in error_chain]
    return entry


def failure_body(
    code: int, message: str, error_chain: Sequence[tuple[int, str]] | None = None
) -> dict[str, Any]:
    """Cloudflare's failure envelope."""
    return {
        "success": False,
        "errors": [error_entry(code, message, error_chain)],
        "messages": [],
        "result": None,
    }


def purge_ok_body(result_id: str = ZONE_ID) -> dict[str, Any]:
    """The 200 body of a purge."""
    return {"success": True, "errors": [], "messages": [], "result": {"id": result_id}}


def verify_ok_body(
    *,
    status: str = "active",
    token_id: str = TOKEN_ID,
    not_before: datetime | str | None = None,
    expires_on: datetime | str | None = None,
) -> dict[str, Any]:
    """The 200 body of either verify endpoint."""
    result: dict[str, Any] = {"id": token_id, "status": status}
    if not_before is not None:
        result["not_before"] = _iso(not_before)
    if expires_on is not None:
        result["expires_on"] = _iso(expires_on)
    return {
        "result": result,
        "success": True,
        "errors": [],
        "messages": [
            {"code": 10000, "message": "This API Token is valid and active", "type": None}
        ],
    }


def zone_body(
    *,
    zone_id: str = ZONE_ID,
    name: str = "example.com",
    plan: str = "free",
    permissions: Sequence[str] | None = None,
    status: str = "active",
    paused: bool = False,
    account_id: str = ACCOUNT_ID,
) -> dict[str, Any]:
    """The 200 body of ``GET /zones/{zone_id}``; ``permissions=None`` omits that field."""
    zone: dict[str, Any] = {
        "id": zone_id,
        "name": name,
        "status": status,
        "paused": paused,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["bob.ns.cloudflare.com", "lola.ns.cloudflare.com"],
        "original_name_servers": None,
        "original_registrar": None,
        "original_dnshost": None,
        "modified_on": "2026-01-02T03:04:05.678901Z",
        "created_on": "2024-05-06T07:08:09.123456Z",
        "activated_on": "2024-05-06T07:30:00.000000Z",
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": False,
        },
        "owner": {"id": ACCOUNT_ID, "type": "user", "name": "Example Owner"},
        "account": {"id": account_id, "name": "Example Account"},
        "plan": {
            "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "name": PLAN_NAMES.get(plan, plan.title()),
            "price": 0,
            "currency": "USD",
            "frequency": "",
            "is_subscribed": False,
            "can_subscribe": False,
            "legacy_id": plan,
            "legacy_discount": False,
            "externally_managed": False,
        },
    }
    if permissions is not None:
        zone["permissions"] = list(permissions)
    return {"result": zone, "success": True, "errors": [], "messages": []}


# -- the cf_api fixture ----------------------------------------------------------


class CloudflareAPIMock:
    """Cloudflare's API mocked with ``responses``. Get it from the ``cf_api`` fixture.

    Each ``add_*`` helper registers one reply; a reply is reused for every matching
    call, and several replies for the same URL are used in the order added (the
    last one repeats). ``max_items`` is the contract's item limit for purge bodies.
    """

    def __init__(
        self, mock: responses.RequestsMock, contract: Contract, base_url: str = API_URL
    ) -> None:
        self.mock = mock
        self.contract = contract
        self.base_url = base_url.rstrip("/")

    @property
    def max_items(self) -> int:
        return self.contract.max_items

    @max_items.setter
    def max_items(self, value: int) -> None:
        self.contract.max_items = value

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Register any reply (raw ``body`` may be bytes, str or an exception)."""
        kwargs: dict[str, Any] = {"status": status, "headers": dict(headers or {})}
        if json is not None:
            kwargs["json"] = json
        else:
            kwargs["body"] = body if body is not None else b""
            if content_type is not None:
                kwargs["content_type"] = content_type
        self.mock.add(method, self.url(path), **kwargs)

    # purge
    def add_purge_ok(self, zone_id: str = ZONE_ID, *, result_id: str | None = None) -> None:
        self.add("POST", f"/zones/{zone_id}/purge_cache", json=purge_ok_body(result_id or zone_id))

    def add_purge_error(
        self,
        zone_id: str = ZONE_ID,
        status: int = 400,
        code: int = 1012,
        message: str = "Request failed",
        error_chain: Sequence[tuple[int, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.add(
            "POST",
            f"/zones/{zone_id}/purge_cache",
            status=status,
            json=failure_body(code, message, error_chain),
            headers=headers,
        )

    def add_purge_exception(self, zone_id: str = ZONE_ID, *, exc: BaseException) -> None:
        """The purge call raises ``exc`` (e.g. ``requests.ConnectTimeout()``)."""
        self.mock.add("POST", self.url(f"/zones/{zone_id}/purge_cache"), body=exc)

    def add_rate_limited(
        self,
        zone_id: str = ZONE_ID,
        retry_after: int | str | None = 30,
        code: int = 1134,
        *,
        reset: int | None = None,
        message: str | None = None,
    ) -> None:
        """A 429 with ``Retry-After`` (unless ``None``) and a ``Ratelimit`` header whose
        ``t=`` is ``reset`` (default: ``retry_after``; no header if both are ``None``)."""
        headers = {"Ratelimit-Policy": '"burst";q=100;w=60'}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        t = reset if reset is not None else retry_after
        if t is not None and str(t).isdigit():
            headers["Ratelimit"] = f'"default";r=0;t={t}'
        if message is None:
            message = (
                "Please wait and consider throttling your request speed"
                if code == 971
                else "Unable to purge, rate limit reached. "
                "Please wait and consider throttling your request speed"
            )
        self.add_purge_error(zone_id, 429, code, message, headers=headers)

    # verify
    def _verify_path(self, account_id: str | None) -> str:
        if account_id:
            return f"/accounts/{account_id}/tokens/verify"
        return "/user/tokens/verify"

    def add_verify_ok(
        self,
        status: str = "active",
        expires_on: datetime | str | None = None,
        account_id: str | None = None,
        *,
        not_before: datetime | str | None = None,
        token_id: str = TOKEN_ID,
    ) -> None:
        """A verify success at the user endpoint, or the account one if ``account_id``."""
        self.add(
            "GET",
            self._verify_path(account_id),
            json=verify_ok_body(
                status=status, token_id=token_id, not_before=not_before, expires_on=expires_on
            ),
        )

    def add_verify_error(
        self,
        status: int = 401,
        code: int = 1000,
        message: str = "Invalid API Token",
        account_id: str | None = None,
        error_chain: Sequence[tuple[int, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.add(
            "GET",
            self._verify_path(account_id),
            status=status,
            json=failure_body(code, message, error_chain),
            headers=headers,
        )

    # zone
    def add_zone_ok(
        self,
        zone_id: str = ZONE_ID,
        name: str = "example.com",
        plan: str = "free",
        permissions: Sequence[str] | None = None,
        status: str = "active",
        *,
        paused: bool = False,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        """``GET /zones/{zone_id}``; ``permissions=None`` leaves that (deprecated) field out."""
        self.add(
            "GET",
            f"/zones/{zone_id}",
            json=zone_body(
                zone_id=zone_id,
                name=name,
                plan=plan,
                permissions=permissions,
                status=status,
                paused=paused,
                account_id=account_id,
            ),
        )

    def add_zone_error(
        self,
        zone_id: str = ZONE_ID,
        status: int = 403,
        code: int = 10000,
        message: str = "Authentication error",
        error_chain: Sequence[tuple[int, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.add(
            "GET",
            f"/zones/{zone_id}",
            status=status,
            json=failure_body(code, message, error_chain),
            headers=headers,
        )

    # what was sent
    @property
    def calls(self) -> list[Any]:
        """Every ``responses`` call made, in order."""
        return list(self.mock.calls)

    def sent_requests(self) -> list[requests.PreparedRequest]:
        return [call.request for call in self.mock.calls]

    def paths(self) -> list[str]:
        """``"METHOD /path"`` of every call, the path after ``/client/v4``."""
        return [f"{r.method} {api_path(r.url or '')}" for r in self.sent_requests()]

    def purge_bodies(self, zone_id: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies of the purge calls made (to ``zone_id`` only, if given)."""
        bodies = []
        for request in self.sent_requests():
            path = api_path(request.url or "") or ""
            if request.method != "POST" or not path.endswith("/purge_cache"):
                continue
            if zone_id is not None and path != f"/zones/{zone_id}/purge_cache":
                continue
            bodies.append(json.loads(_body_bytes(request.body)))
        return bodies

    def assert_purged(
        self,
        *,
        files: Sequence[Any] | None = None,
        tags: Sequence[str] | None = None,
        hosts: Sequence[str] | None = None,
        prefixes: Sequence[str] | None = None,
        everything: bool = False,
        zone_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Assert that exactly these items were purged, in this order, over all purge
        calls (each call of one kind only), and return the bodies."""
        bodies = self.purge_bodies(zone_id)
        expected = {
            key: list(value)
            for key, value in (
                ("files", files),
                ("tags", tags),
                ("hosts", hosts),
                ("prefixes", prefixes),
            )
            if value is not None
        }
        sent: dict[str, list[Any]] = {}
        everything_calls = 0
        for body in bodies:
            for key, value in body.items():
                if key == "purge_everything":
                    everything_calls += 1
                else:
                    sent.setdefault(key, []).extend(value)
        assert sent == expected, f"purged {sent!r}, expected {expected!r}"
        assert bool(everything_calls) == everything, (
            f"purge_everything sent {everything_calls} time(s), expected {everything}"
        )
        return bodies


@pytest.fixture
def cf_api(cf_contract: Contract) -> Iterator[CloudflareAPIMock]:
    """Cloudflare's API at ``https://api.cloudflare.com/client/v4``, mocked with ``responses``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield CloudflareAPIMock(mock, cf_contract)
