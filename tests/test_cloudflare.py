"""The Cloudflare client, tested at the wire (``responses`` and real sockets).

Every request below also passes through the API contract of ``tests/cfapi.py``.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from django.test import override_settings

from django_cfpurge import cloudflare
from django_cfpurge._version import __version__
from django_cfpurge.cloudflare import (
    DEFAULT_MAX_ITEMS,
    MAX_ITEMS_CHOICES,
    PURGE_KINDS,
    CloudflareClient,
    PurgeResult,
    TokenInfo,
    ZoneInfo,
)
from django_cfpurge.credentials import Credentials
from django_cfpurge.exceptions import (
    CfPurgeConfigurationError,
    BackendError,
    AuthenticationFailed,
    InvalidResponse,
    ApiMessage,
    NetworkError,
    RateLimited,
    RequestRejected,
    ServerError,
    ZoneNotFound,
    InvalidCredentials,
)
from tests.cfapi import (
    ACCOUNT_API_TOKEN,
    ACCOUNT_ID,
    API_TOKEN,
    API_URL,
    EMAIL,
    GLOBAL_API_KEY,
    TOKEN_ID,
    ZONE_ID,
    CloudflareAPIMock,
    Contract,
    ContractViolation,
    failure_body,
    validate_request,
    validate_response,
)

SECRETS = (API_TOKEN, ACCOUNT_API_TOKEN, GLOBAL_API_KEY, EMAIL)
PURGE_PATH = f"/zones/{ZONE_ID}/purge_cache"
ZONE_PATH = f"/zones/{ZONE_ID}"
USER_VERIFY = "/user/tokens/verify"
ACCOUNT_VERIFY = f"/accounts/{ACCOUNT_ID}/tokens/verify"


def token_credentials(**extra: Any) -> Credentials:
    return Credentials(zone_id=ZONE_ID, api_token=API_TOKEN, **extra)


def key_credentials() -> Credentials:
    return Credentials(zone_id=ZONE_ID, email=EMAIL, api_key=GLOBAL_API_KEY)


def account_credentials() -> Credentials:
    return Credentials(zone_id=ZONE_ID, api_token=ACCOUNT_API_TOKEN, account_id=ACCOUNT_ID)


@pytest.fixture
def client() -> Iterator[CloudflareClient]:
    with CloudflareClient(token_credentials()) as c:
        yield c


@pytest.fixture
def key_client() -> Iterator[CloudflareClient]:
    with CloudflareClient(key_credentials()) as c:
        yield c


def urls(n: int, start: int = 0) -> list[str]:
    return [f"https://www.example.com/media/{i}.jpg" for i in range(start, start + n)]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# -- construction --------------------------------------------------------------


def test_public_constants() -> None:
    assert DEFAULT_MAX_ITEMS == 30
    assert MAX_ITEMS_CHOICES == (30, 100, 500)
    assert PURGE_KINDS == ("files", "tags", "hosts", "prefixes", "everything")


def test_defaults_come_from_settings_at_construction() -> None:
    with override_settings(
        CFPURGE={
            "API_URL": "https://cf.example.test/client/v4/",
            "TIMEOUT": 12,
            "CONNECT_TIMEOUT": 2.5,
            "MAX_ITEMS_PER_REQUEST": 100,
        }
    ):
        client = CloudflareClient(token_credentials())
    assert client.api_url == "https://cf.example.test/client/v4"
    assert client.timeout == 12.0
    assert client.connect_timeout == 2.5
    assert client.max_items == 100
    default = CloudflareClient(token_credentials())
    assert default.api_url == API_URL
    assert (default.connect_timeout, default.timeout) == (5.0, 30.0)
    assert default.max_items == DEFAULT_MAX_ITEMS


@pytest.mark.parametrize("value", [0, 29, 31, 99, 1000, True, "30"])
def test_max_items_argument_must_be_an_allowed_limit(value: Any) -> None:
    with pytest.raises(ValueError, match="max_items must be one of 30, 100, 500"):
        CloudflareClient(token_credentials(), max_items=value)


def test_max_items_setting_must_be_an_allowed_limit() -> None:
    with (
        override_settings(CFPURGE={"MAX_ITEMS_PER_REQUEST": 50}),
        pytest.raises(CfPurgeConfigurationError, match="MAX_ITEMS_PER_REQUEST"),
    ):
        CloudflareClient(token_credentials())


@pytest.mark.parametrize("name", ["timeout", "connect_timeout"])
@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_timeouts_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        CloudflareClient(token_credentials(), **{name: value})


def test_repr_names_the_zone_not_the_secret() -> None:
    for creds in (token_credentials(), key_credentials(), account_credentials()):
        text = repr(CloudflareClient(creds))
        assert ZONE_ID in text
        assert_no_secret(text)


def test_close_closes_only_its_own_session() -> None:
    own = CloudflareClient(token_credentials())
    closed: list[bool] = []
    own.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    own.close()
    assert closed == [True]

    session = requests.Session()
    session.close = lambda: closed.append(False)  # type: ignore[method-assign]
    with CloudflareClient(token_credentials(), session=session) as borrowed:
        assert borrowed.session is session
    assert closed == [True]


# -- the wire ------------------------------------------------------------------


def test_token_auth_and_user_agent_at_the_wire(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge_request("files", ["https://www.example.com/a.jpg"])
    (request,) = cf_api.sent_requests()
    assert request.url == API_URL + PURGE_PATH
    assert request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert "X-Auth-Key" not in request.headers
    assert "X-Auth-Email" not in request.headers
    assert request.headers["User-Agent"] == (
        f"django-cfpurge/{__version__} python-requests/{requests.__version__}"
    )
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.body) == {"files": ["https://www.example.com/a.jpg"]}


def test_global_key_auth_at_the_wire(cf_api: CloudflareAPIMock, key_client) -> None:
    cf_api.add_purge_ok()
    cf_api.add_zone_ok()
    key_client.purge(everything=True)
    key_client.get_zone()
    for request in cf_api.sent_requests():
        assert request.headers["X-Auth-Email"] == EMAIL
        assert request.headers["X-Auth-Key"] == GLOBAL_API_KEY
        assert "Authorization" not in request.headers
        assert request.headers["User-Agent"].startswith(f"django-cfpurge/{__version__} ")


def test_a_borrowed_session_gets_the_headers_per_request(cf_api: CloudflareAPIMock) -> None:
    session = requests.Session()
    cf_api.add_zone_ok()
    CloudflareClient(token_credentials(), session=session).get_zone()
    (request,) = cf_api.sent_requests()
    assert request.headers["User-Agent"].startswith("django-cfpurge/")
    assert "Authorization" not in session.headers
    assert not session.headers["User-Agent"].startswith("django-cfpurge/")


class RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(kwargs)
        return super().send(request, **kwargs)


def test_connect_and_read_timeouts_are_passed(cf_api: CloudflareAPIMock) -> None:
    session = RecordingSession()
    cf_api.add_purge_ok()
    cf_api.add_zone_ok()
    cf_api.add_verify_ok()
    client = CloudflareClient(
        token_credentials(), timeout=7.5, connect_timeout=1.5, session=session
    )
    client.purge(tags=["a"])
    client.get_zone()
    client.verify_token()
    assert [kwargs["timeout"] for kwargs in session.sent] == [(1.5, 7.5)] * 3
    assert all(kwargs["allow_redirects"] is False for kwargs in session.sent)


def test_timeouts_from_settings_are_passed(cf_api: CloudflareAPIMock) -> None:
    session = RecordingSession()
    cf_api.add_zone_ok()
    with override_settings(CFPURGE={"TIMEOUT": 9, "CONNECT_TIMEOUT": 3}):
        client = CloudflareClient(token_credentials(), session=session)
    client.get_zone()
    assert session.sent[0]["timeout"] == (3.0, 9.0)


def test_api_url_from_settings_is_used(cf_api: CloudflareAPIMock) -> None:
    cf_api.base_url = "http://127.0.0.1:8765/client/v4"
    cf_api.add_zone_ok()
    with override_settings(CFPURGE={"API_URL": "http://127.0.0.1:8765/client/v4"}):
        zone = CloudflareClient(token_credentials()).get_zone()
    assert zone.name == "example.com"
    assert cf_api.sent_requests()[0].url == "http://127.0.0.1:8765/client/v4" + ZONE_PATH


def test_every_exchange_went_through_the_contract(
    cf_api: CloudflareAPIMock, client, cf_contract: Contract
) -> None:
    cf_api.add_purge_ok()
    cf_api.add_zone_ok()
    client.purge(files=urls(3))
    client.get_zone()
    assert cf_contract.checked == 2


# -- purge: bodies ----------------------------------------------------------------


def test_purge_request_returns_the_result_id(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok(result_id="9a7806061c88ada191ed06f989cc3dac")
    assert client.purge_request("tags", ["a"]) == "9a7806061c88ada191ed06f989cc3dac"


def test_purge_request_with_a_null_result(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST", PURGE_PATH, json={"success": True, "errors": [], "messages": [], "result": None}
    )
    assert client.purge_request("tags", ["a"]) == ""


def test_purge_files_as_strings(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    result = client.purge(files=["https://www.example.com/a.jpg", "http://www.example.com/b.css"])
    assert result == PurgeResult("files", 2, 1, (ZONE_ID,))
    cf_api.assert_purged(files=["https://www.example.com/a.jpg", "http://www.example.com/b.css"])


def test_purge_files_with_headers(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    files = [
        {
            "url": "http://www.example.com/cat_picture.jpg",
            "headers": {
                "CF-IPCountry": "US",
                "CF-Device-Type": "desktop",
                "Accept-Language": "zh-CN",
            },
        },
        {
            "url": "http://www.example.com/cat_picture.jpg",
            "headers": {
                "CF-IPCountry": "EU",
                "CF-Device-Type": "mobile",
                "Accept-Language": "en-US",
            },
        },
    ]
    result = client.purge(files=files)
    assert (result.items, result.calls) == (2, 1)
    (body,) = cf_api.assert_purged(files=files)
    assert body == {"files": files}


def test_plain_urls_and_urls_with_headers_are_sent_as_objects(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_purge_ok()
    variant = {"url": "https://www.example.com/a.jpg", "headers": {"CF-Device-Type": "mobile"}}
    result = client.purge(
        files=[
            "https://www.example.com/a.jpg",
            variant,
            {"url": "https://www.example.com/b.jpg"},
            {"url": "https://www.example.com/c.jpg", "headers": {}},
        ]
    )
    assert result.calls == 1
    assert cf_api.purge_bodies() == [
        {
            "files": [
                {"url": "https://www.example.com/a.jpg"},
                variant,
                {"url": "https://www.example.com/b.jpg"},
                {"url": "https://www.example.com/c.jpg"},
            ]
        },
    ]


def test_only_plain_urls_stay_strings(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge_request(
        "files", ["https://www.example.com/a", {"url": "https://www.example.com/b"}]
    )
    assert cf_api.purge_bodies() == [
        {"files": ["https://www.example.com/a", "https://www.example.com/b"]}
    ]


def test_purge_tags(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge(tags=["a-cache-tag", "another-cache-tag"])
    assert cf_api.purge_bodies() == [{"tags": ["a-cache-tag", "another-cache-tag"]}]


def test_purge_hosts_without_scheme(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge(hosts=["www.example.com", "https://Images.Example.com/", "www.example.com"])
    assert cf_api.purge_bodies() == [{"hosts": ["www.example.com", "images.example.com"]}]


def test_purge_prefixes_without_scheme(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge(prefixes=["www.example.com/foo", "https://images.example.com/bar/baz"])
    assert cf_api.purge_bodies() == [
        {"prefixes": ["www.example.com/foo", "images.example.com/bar/baz"]}
    ]


def test_purge_everything(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    calls: list[tuple[str, int]] = []
    result = client.purge(everything=True, before_call=lambda kind, n: calls.append((kind, n)))
    assert result == PurgeResult("everything", 1, 1, (ZONE_ID,))
    assert calls == [("everything", 1)]
    cf_api.assert_purged(everything=True)
    assert cf_api.purge_bodies() == [{"purge_everything": True}]


def test_purge_request_everything(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    assert client.purge_request("everything", []) == ZONE_ID
    with pytest.raises(ValueError, match="no items"):
        client.purge_request("everything", ["x"])


def test_items_are_deduplicated_in_order(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    a, b, c = urls(3)
    result = client.purge(files=[b, a, b, c, a, b])
    assert result.items == 3
    cf_api.assert_purged(files=[b, a, c])


def test_files_with_the_same_headers_are_deduplicated(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    one = {"url": "https://www.example.com/a", "headers": {"A": "1", "B": "2"}}
    same = {"url": "https://www.example.com/a", "headers": {"B": "2", "A": "1"}}
    other = {"url": "https://www.example.com/a", "headers": {"A": "2"}}
    assert client.purge(files=[one, same, other]).items == 2


def test_an_empty_list_makes_no_call(cf_api: CloudflareAPIMock, client) -> None:
    assert client.purge(files=[]) == PurgeResult("files", 0, 0, ())
    assert cf_api.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"files": ["https://a.example/x"], "tags": ["t"]},
        {"tags": ["t"], "everything": True},
        {"hosts": [], "prefixes": []},
    ],
)
def test_purge_takes_exactly_one_kind(client, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        client.purge(**kwargs)


@pytest.mark.parametrize(
    ("kind", "items", "match"),
    [
        ("urls", ["https://a.example/x"], "Unknown purge kind"),
        ("files", [], "empty"),
        ("files", "https://a.example/x", "not a single string"),
        ("files", ["/relative/path.jpg"], "absolute http"),
        ("files", ["ftp://a.example/x"], "absolute http"),
        ("files", [42], "URL string"),
        ("files", [{"headers": {}}], "url"),
        ("files", [{"url": "https://a.example/x", "headers": {"A": 1}}], "strings to strings"),
        ("tags", [""], "non-empty string"),
        ("tags", [None], "non-empty string"),
        ("hosts", ["www.example.com/path"], "bare host"),
        ("prefixes", ["www.example.com/a?b=1"], "cannot contain"),
    ],
)
def test_purge_request_rejects_malformed_items(client, kind: str, items: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        client.purge_request(kind, items)


def test_purge_request_refuses_more_than_the_limit(client) -> None:
    with pytest.raises(ValueError, match="31 files in one call exceed the limit of 30"):
        client.purge_request("files", urls(31))


# -- purge: chunking -----------------------------------------------------------------


def test_31_urls_make_two_calls_of_30_and_1(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    calls: list[tuple[str, int]] = []
    items = urls(31)
    result = client.purge(files=items, before_call=lambda kind, n: calls.append((kind, n)))
    assert result == PurgeResult("files", 31, 2, (ZONE_ID, ZONE_ID))
    assert calls == [("files", 30), ("files", 1)]
    assert [len(body["files"]) for body in cf_api.purge_bodies()] == [30, 1]
    cf_api.assert_purged(files=items)


def test_before_call_runs_before_each_call(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    seen: list[int] = []

    def before_call(kind: str, n: int) -> None:
        seen.append(len(cf_api.calls))

    client.purge(tags=[f"t{i}" for i in range(61)], before_call=before_call)
    assert seen == [0, 1, 2]


def test_before_call_can_stop_the_purge(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()

    class Slow(Exception):
        pass

    def before_call(kind: str, n: int) -> None:
        if cf_api.calls:
            raise Slow

    with pytest.raises(Slow):
        client.purge(files=urls(45), before_call=before_call)
    assert len(cf_api.calls) == 1


@pytest.mark.cf_max_items(100)
def test_limit_100(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_ok()
    client = CloudflareClient(token_credentials(), max_items=100)
    calls: list[int] = []
    result = client.purge(files=urls(250), before_call=lambda kind, n: calls.append(n))
    assert calls == [100, 100, 50]
    assert result.calls == 3
    cf_api.assert_purged(files=urls(250))


@pytest.mark.cf_max_items(500)
def test_limit_500_for_urls(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_ok()
    with override_settings(CFPURGE={"MAX_ITEMS_PER_REQUEST": 500}):
        client = CloudflareClient(token_credentials())
    calls: list[int] = []
    client.purge(files=urls(1001), before_call=lambda kind, n: calls.append(n))
    assert calls == [500, 500, 1]
    assert [len(b["files"]) for b in cf_api.purge_bodies()] == [500, 500, 1]


@pytest.mark.cf_max_items(500)
@pytest.mark.parametrize("kind", ["tags", "hosts", "prefixes"])
def test_tags_hosts_and_prefixes_stay_at_100_per_call(cf_api: CloudflareAPIMock, kind) -> None:
    cf_api.add_purge_ok()
    client = CloudflareClient(token_credentials(), max_items=500)
    assert client.limit_for(kind) == 100
    assert client.limit_for("files") == 500
    items = [
        f"h{i}.example.com" if kind != "prefixes" else f"h{i}.example.com/p" for i in range(250)
    ]
    client.purge(**{kind: items})
    assert [len(b[kind]) for b in cf_api.purge_bodies()] == [100, 100, 50]


def test_a_failing_chunk_stops_the_purge(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    cf_api.add_purge_error(status=500, code=1012, message="Request failed")
    with pytest.raises(ServerError):
        client.purge(files=urls(90))
    assert len(cf_api.calls) == 2


# -- errors: status and codes ---------------------------------------------------------

# (HTTP status, code, message, error_chain, expected class, words in the message)
FACTS_ERRORS = [
    (400, 6003, "Invalid request headers", [(6111, "Invalid format for Authorization header")],
     AuthenticationFailed, "could not read the API token"),
    (400, 6003, "Invalid request headers", [(6103, "Invalid format for X-Auth-Key header")],
     AuthenticationFailed, "Global API Key"),
    (400, 6003, "Invalid request headers", [(6102, "Invalid format for X-Auth-Email header")],
     AuthenticationFailed, "could not read"),
    (400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers", None,
     AuthenticationFailed, "no credentials"),
    (403, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers", None,
     AuthenticationFailed, "no credentials"),
    (403, 9103, "Unknown X-Auth-Key or X-Auth-Email", None,
     AuthenticationFailed, "email and Global API Key"),
    (401, 1000, "Invalid API Token", None, AuthenticationFailed, "unknown, revoked"),
    (400, 1000, "Invalid API Token", None, AuthenticationFailed, "unknown, revoked"),
    (403, 1000, "Invalid API Token", None, AuthenticationFailed, "unknown, revoked"),
    (403, 10000, "Authentication error", None,
     AuthenticationFailed, "it needs the permission Zone → Cache Purge → Purge on this zone"),
    (403, 9109, "Unauthorized to access requested resource", None,
     AuthenticationFailed, "Zone → Cache Purge → Purge"),
    (400, 7003, "Could not route to /zones/example.com/purge_cache, perhaps your object "
     "identifier is invalid?", [(7000, "No route for that URI")],
     ZoneNotFound, "did you paste the Account ID or the zone name"),
    (404, 7003, "No route for the URI", None, ZoneNotFound, "instead of the Zone ID"),
    (404, 7000, "No route for that URI", None, ZoneNotFound, "Zone ID"),
    (404, 1003, "Invalid format for zone id", None, ZoneNotFound, "Zone ID"),
    (400, 1003, "Invalid format for zone id", None, ZoneNotFound, "Zone ID"),
    (400, 1012, "Request failed", None, RequestRejected, "rejected the purge request"),
    (429, 1134, "Unable to purge, rate limit reached. Please wait and consider throttling "
     "your request speed", None, RateLimited, "rate-limiting purge requests"),
    (429, 971, "Please wait and consider throttling your request speed", None,
     RateLimited, "rate-limiting"),
    (400, 1134, "Unable to purge, rate limit reached.", None, RateLimited, "rate"),
    (500, 1012, "Request failed", None, ServerError, "temporary server error"),
    (502, 1012, "Request failed", None, ServerError, "temporary"),
    (503, 1012, "Request failed", None, ServerError, "temporary"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "code", "message", "chain", "cls", "words"),
    FACTS_ERRORS,
    ids=[f"{e[0]}-{e[1]}" + (f"-{e[3][0][0]}" if e[3] else "") for e in FACTS_ERRORS],
)
def test_purge_errors_are_mapped_by_status_and_code(
    cf_api: CloudflareAPIMock, client, status, code, message, chain, cls, words
) -> None:
    cf_api.add_purge_error(status=status, code=code, message=message, error_chain=chain)
    with pytest.raises(BackendError) as info:
        client.purge(files=urls(2))
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert words in str(err)
    assert f"{message} [code {code}]" in str(err)
    expected_codes = {code} | {c for c, _ in chain or ()}
    assert err.codes == expected_codes
    assert err.errors[0] == ApiMessage(code, message)
    for chained, chained_message in chain or ():
        assert f"{chained_message} [code {chained}]" in str(err)
    assert err.transient == (cls in (RateLimited, ServerError))
    assert err.response_body["success"] is False
    assert str(err).endswith((".", "?"))
    assert_no_secret(str(err), repr(err))


def test_the_documented_message_for_a_token_without_cache_purge(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    with pytest.raises(AuthenticationFailed) as info:
        client.purge_request("files", urls(1))
    assert str(info.value) == (
        "Cloudflare rejected the API token for this request: it needs the permission "
        "Zone → Cache Purge → Purge on this zone "
        "(HTTP 403: Authentication error [code 10000])."
    )


def test_several_errors_are_all_kept(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=400,
        json={
            "success": False,
            "errors": [
                {"code": 7003, "message": "Could not route to /zones/x/purge_cache"},
                {"code": 7000, "message": "No route for that URI"},
            ],
            "messages": [],
            "result": None,
        },
    )
    with pytest.raises(ZoneNotFound) as info:
        client.purge(tags=["a"])
    assert info.value.codes == {7003, 7000}
    assert "No route for that URI [code 7000]" in str(info.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, ZoneNotFound),
        (400, RequestRejected),
        (409, RequestRejected),
        (500, ServerError),
        (504, ServerError),
    ],
)
def test_status_alone_decides_without_codes(cf_api: CloudflareAPIMock, client, status, cls) -> None:
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=status,
        json={"success": False, "errors": [], "messages": [], "result": None},
    )
    with pytest.raises(cls) as info:
        client.purge(tags=["a"])
    assert f"HTTP {status}" in str(info.value)
    assert info.value.codes == frozenset()


def test_codes_not_messages_decide(cf_api: CloudflareAPIMock, client) -> None:
    # The wording of a rate-limit message on a code Cloudflare uses for a bad zone id.
    cf_api.add_purge_error(status=400, code=7003, message="Rate limit reached, please wait")
    with pytest.raises(ZoneNotFound):
        client.purge(tags=["a"])


def test_lenient_error_entries(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=403,
        json={
            "success": False,
            "errors": [
                {
                    "code": 10000,
                    "message": "Authentication error",
                    "documentation_url": "https://developers.cloudflare.com/",
                    "source": {"pointer": "/files"},
                }
            ],
            "messages": [{"code": 1001, "message": "note", "type": None}],
            "result": None,
            "extra": {"anything": 1},
        },
    )
    with pytest.raises(AuthenticationFailed) as info:
        client.purge(tags=["a"])
    assert info.value.codes == {10000}


# -- errors: rate limiting ----------------------------------------------------------


def test_429_with_retry_after_seconds(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_rate_limited(retry_after=42, code=1134)
    with pytest.raises(RateLimited) as info:
        client.purge(files=urls(1))
    assert info.value.retry_after == 42.0
    assert info.value.transient
    assert "wait 42 s" in str(info.value)
    assert "[code 1134]" in str(info.value)


def test_429_with_retry_after_as_an_http_date(cf_api: CloudflareAPIMock, client) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    cf_api.add_rate_limited(retry_after=email.utils.format_datetime(when, usegmt=True), code=971)
    with pytest.raises(RateLimited) as info:
        client.purge(files=urls(1))
    assert 115 <= info.value.retry_after <= 121


def test_429_with_a_date_in_the_past_means_now(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_rate_limited(retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(RateLimited) as info:
        client.purge(files=urls(1))
    assert info.value.retry_after == 0


def test_429_without_retry_after_uses_the_ratelimit_header(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_rate_limited(retry_after=None, reset=17)
    with pytest.raises(RateLimited) as info:
        client.purge(files=urls(1))
    assert info.value.retry_after == 17.0


def test_429_without_any_header(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_error(status=429, code=971, message="Please wait")
    with pytest.raises(RateLimited) as info:
        client.purge(files=urls(1))
    assert info.value.retry_after is None
    assert "try again later" in str(info.value)


def test_retry_after_on_a_server_error_is_kept(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_error(status=503, code=1012, message="Busy", headers={"Retry-After": "5"})
    with pytest.raises(ServerError) as info:
        client.purge(files=urls(1))
    assert info.value.retry_after == 5.0


def test_rate_limit_on_zone_lookup(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_error(status=429, code=971, message="Please wait", headers={"Retry-After": "3"})
    with pytest.raises(RateLimited, match="API requests") as info:
        client.get_zone()
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("headers", "status", "expected"),
    [
        ({"Retry-After": "30"}, 429, 30.0),
        ({"Retry-After": " 2.5 "}, 429, 2.5),
        ({"Retry-After": "5"}, 503, 5.0),
        ({"Retry-After": "soon", "Ratelimit": '"default";r=0;t=9'}, 429, 9.0),
        ({"Ratelimit": '"default";r=50;t=30'}, 429, 30.0),
        # Quota left on a 5xx: the window's reset time is no reason to wait.
        ({"Ratelimit": '"default";r=50;t=240'}, 503, None),
        ({"Ratelimit": '"default";r=0;t=12'}, 503, 12.0),
        ({"Ratelimit": '"default";r=0'}, 429, None),
        ({}, 503, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], status: int, expected: float | None) -> None:
    assert cloudflare._retry_after(headers, status) == expected


def test_server_error_with_quota_left_does_not_wait_for_the_window(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_purge_error(
        status=503, code=1012, message="Busy", headers={"Ratelimit": '"default";r=1100;t=280'}
    )
    with pytest.raises(ServerError) as info:
        client.purge(files=urls(1))
    assert info.value.retry_after is None


# -- errors: the network --------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (requests.ConnectTimeout(), "Could not connect to Cloudflare's API at api.cloudflare.com: "
         "timed out after 5 s"),
        (requests.ReadTimeout(), "did not answer: timed out after 30 s"),
        (requests.Timeout(), "timed out after 30 s"),
        (requests.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
         "connection refused"),
        (requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),
         "was reset"),
        (requests.ConnectionError("Max retries exceeded"), "the connection failed"),
        (requests.exceptions.ChunkedEncodingError(), "reset while the answer was arriving"),
        (requests.exceptions.SSLError(), "TLS handshake failed"),
    ],
)  # fmt: skip
def test_network_errors(cf_api: CloudflareAPIMock, client, exc, words) -> None:
    cf_api.add_purge_exception(exc=exc)
    with pytest.raises(NetworkError) as info:
        client.purge(files=urls(1))
    err = info.value
    assert words in str(err)
    assert err.transient
    assert err.status_code is None
    assert err.__cause__ is exc
    assert exc.request is None  # the PreparedRequest (with its headers) is dropped
    assert_no_secret(str(err), repr(err), repr(err.__cause__))


def test_the_configured_timeouts_appear_in_the_message(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_exception(exc=requests.ConnectTimeout())
    client = CloudflareClient(token_credentials(), connect_timeout=1.5, timeout=12)
    with pytest.raises(NetworkError, match=r"timed out after 1\.5 s"):
        client.purge(files=urls(1))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TinyServer:
    """A TCP server that accepts and then resets or ignores each connection."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "reset":
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"


def test_real_connection_refused() -> None:
    api_url = f"http://127.0.0.1:{_closed_port()}/client/v4"
    client = CloudflareClient(token_credentials(), api_url=api_url)
    with pytest.raises(NetworkError) as info:
        client.purge(files=urls(1))
    assert "connection refused" in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_real_connection_reset() -> None:
    server = TinyServer("reset")
    try:
        client = CloudflareClient(token_credentials(), api_url=server.api_url)
        with pytest.raises(NetworkError, match="was reset"):
            client.purge(files=urls(1))
    finally:
        server.close()


def test_real_read_timeout() -> None:
    server = TinyServer("silent")
    try:
        client = CloudflareClient(token_credentials(), api_url=server.api_url, timeout=0.2)
        started = time.monotonic()
        with pytest.raises(NetworkError, match=r"timed out after 0\.2 s"):
            client.get_zone()
        assert time.monotonic() - started < 5
    finally:
        server.close()


# -- errors: answers that are not Cloudflare's JSON ----------------------------------


HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
)


@pytest.mark.no_contract_response
@pytest.mark.parametrize(
    ("status", "body", "content_type", "cls", "words"),
    [
        (200, b"OK", "text/plain", InvalidResponse, "not JSON (text/plain)"),
        (200, HTML_PAGE, "text/html", InvalidResponse, "an HTML page"),
        (200, b"", "application/json", InvalidResponse, "an empty body"),
        (200, b'{"success": tru', "application/json", InvalidResponse, "not JSON"),
        (200, b'{"ok": true}', "application/json", InvalidResponse,
         "JSON that is not Cloudflare's API reply"),
        (200, b"[1, 2]", "application/json", InvalidResponse, "not Cloudflare's"),
        (200, b'"success"', "application/json", InvalidResponse, "not Cloudflare's"),
        (403, HTML_PAGE, "text/html", InvalidResponse, "a proxy or firewall"),
        (404, HTML_PAGE, "text/html", InvalidResponse, "API_URL"),
        (502, HTML_PAGE, "text/html", ServerError, "HTTP 502 with an HTML page"),
        (503, b"", "text/plain", ServerError, "HTTP 503 with an empty body"),
        (429, HTML_PAGE, "text/html", RateLimited, "HTTP 429"),
    ],
)  # fmt: skip
def test_answers_that_are_not_cloudflare_json(
    cf_api: CloudflareAPIMock, client, status, body, content_type, cls, words
) -> None:
    cf_api.add("POST", PURGE_PATH, status=status, body=body, content_type=content_type)
    with pytest.raises(cls) as info:
        client.purge(files=urls(1))
    err = info.value
    assert type(err) is cls
    assert words in str(err)
    assert err.status_code == status
    assert err.transient
    if body.startswith(b"<"):
        assert "502 Bad Gateway" in err.response_body
    if isinstance(err.__cause__, ValueError):
        assert type(err.__cause__).__name__ == "JSONDecodeError"


def test_200_with_success_false_and_no_code(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST", PURGE_PATH, json={"success": False, "errors": [], "messages": [], "result": None}
    )
    with pytest.raises(InvalidResponse, match="without confirming success"):
        client.purge(files=urls(1))


def test_200_with_success_false_and_a_code(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add("POST", PURGE_PATH, json=failure_body(10000, "Authentication error"))
    with pytest.raises(AuthenticationFailed) as info:
        client.purge(files=urls(1))
    assert info.value.status_code == 200


@pytest.mark.no_contract_response
def test_a_redirect_is_not_followed(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=301,
        body=b"",
        headers={"Location": "https://elsewhere.example/client/v4/x?token=abc"},
    )
    with pytest.raises(InvalidResponse) as info:
        client.purge(files=urls(1))
    assert len(cf_api.calls) == 1
    assert "redirect (HTTP 301) to https://elsewhere.example/client/v4/x;" in str(info.value)
    assert "token=abc" not in str(info.value)


@pytest.mark.no_contract_response
def test_verify_without_status_is_invalid(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "GET", USER_VERIFY, json={"success": True, "errors": [], "messages": [], "result": {}}
    )
    with pytest.raises(InvalidResponse, match="without the token's status"):
        client.verify_token()


@pytest.mark.no_contract_response
def test_zone_without_name_is_invalid(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "GET", ZONE_PATH, json={"success": True, "errors": [], "messages": [], "result": None}
    )
    with pytest.raises(InvalidResponse, match="without the zone's name"):
        client.get_zone()


# -- verify ----------------------------------------------------------------------------


def test_verify_at_the_user_endpoint(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_ok(
        expires_on="2020-01-01T00:00:00Z",
        not_before=datetime(2018, 7, 1, 5, 20, tzinfo=timezone.utc),
    )
    info = client.verify_token()
    assert info == TokenInfo(
        id=TOKEN_ID,
        status="active",
        not_before=datetime(2018, 7, 1, 5, 20, tzinfo=timezone.utc),
        expires_on=datetime(2020, 1, 1, tzinfo=timezone.utc),
        endpoint="user",
        messages=(ApiMessage(10000, "This API Token is valid and active"),),
    )
    assert info.is_active
    assert info.expires_on.tzinfo is not None
    assert cf_api.paths() == [f"GET {USER_VERIFY}"]
    assert cf_api.sent_requests()[0].headers["Authorization"] == f"Bearer {API_TOKEN}"


def test_verify_without_dates(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_ok()
    info = client.verify_token()
    assert (info.not_before, info.expires_on) == (None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-04T05:06:07Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
        ("2026-03-04T05:06:07.123456Z", datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)),
        (
            "2026-03-04T07:06:07+02:00",
            datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc),
        ),
        ("2026-03-04T05:06:07", datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
        ("not a date", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_datetimes_are_parsed_aware(raw: Any, expected: datetime | None) -> None:
    parsed = cloudflare._parse_datetime(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


@pytest.mark.parametrize("status", ["disabled", "expired"])
def test_verify_reports_an_inactive_token(cf_api: CloudflareAPIMock, client, status) -> None:
    cf_api.add_verify_ok(status=status)
    info = client.verify_token()
    assert info.status == status
    assert not info.is_active


def test_account_token_is_verified_at_the_account_endpoint(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok(account_id=ACCOUNT_ID, expires_on="2031-02-03T04:05:06Z")
    info = CloudflareClient(account_credentials()).verify_token()
    assert info.endpoint == "account"
    assert info.expires_on == datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert cf_api.paths() == [f"GET {ACCOUNT_VERIFY}"]
    assert cf_api.sent_requests()[0].headers["Authorization"] == f"Bearer {ACCOUNT_API_TOKEN}"


def test_account_token_refused_does_not_fall_back(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok()
    with pytest.raises(AuthenticationFailed, match=r"Invalid API Token \[code 1000\]"):
        CloudflareClient(account_credentials()).verify_token()
    assert cf_api.paths() == [f"GET {ACCOUNT_VERIFY}"]


def test_token_with_an_account_id_goes_to_the_account_endpoint(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    info = CloudflareClient(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    assert info.endpoint == "account"
    assert cf_api.paths() == [f"GET {ACCOUNT_VERIFY}"]


def test_fallback_to_the_other_endpoint_on_1000(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(
        status=401, code=1000, message="Invalid API Token", account_id=ACCOUNT_ID
    )
    cf_api.add_verify_ok(expires_on="2030-01-01T00:00:00Z")
    info = CloudflareClient(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    assert info.endpoint == "user"
    assert info.expires_on == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert cf_api.paths() == [f"GET {ACCOUNT_VERIFY}", f"GET {USER_VERIFY}"]


def test_fallback_fails_on_both_endpoints(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(account_id=ACCOUNT_ID)
    cf_api.add_verify_error()
    with pytest.raises(AuthenticationFailed) as info:
        CloudflareClient(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    assert info.value.codes == {1000}
    assert len(cf_api.calls) == 2


def test_no_fallback_on_other_codes(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(
        status=403, code=10000, message="Authentication error", account_id=ACCOUNT_ID
    )
    cf_api.add_verify_ok()
    with pytest.raises(AuthenticationFailed, match="check that the Account ID"):
        CloudflareClient(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    assert len(cf_api.calls) == 1


def test_user_endpoint_1000_without_account_id_hints_at_it(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_verify_error()
    with pytest.raises(AuthenticationFailed) as info:
        client.verify_token()
    assert "enter the Account ID" in str(info.value)
    assert info.value.status_code == 401
    assert len(cf_api.calls) == 1


def test_verify_with_a_malformed_token(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_error(
        status=400,
        code=6003,
        message="Invalid request headers",
        error_chain=[(6111, "Invalid format for Authorization header")],
    )
    with pytest.raises(AuthenticationFailed, match="without spaces, quotes") as info:
        client.verify_token()
    assert info.value.codes == {6003, 6111}


def test_verify_with_an_unknown_account(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(
        status=404, code=7003, message="No route for the URI", account_id=ACCOUNT_ID
    )
    with pytest.raises(ZoneNotFound, match="check the Account ID"):
        CloudflareClient(account_credentials()).verify_token()


def test_verify_with_a_global_key_is_a_programming_error(key_client, cf_api) -> None:
    with pytest.raises(ValueError, match="get_zone"):
        key_client.verify_token()
    assert cf_api.calls == []


def test_account_token_without_account_id(cf_api: CloudflareAPIMock) -> None:
    client = CloudflareClient(Credentials(zone_id=ZONE_ID, api_token=ACCOUNT_API_TOKEN))
    with pytest.raises(InvalidCredentials) as info:
        client.verify_token()
    assert info.value.field == "account_id"
    assert cf_api.calls == []


# -- zone --------------------------------------------------------------------------------


def test_get_zone(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_ok(
        name="example.com", plan="pro", permissions=["#zone:read", "#cache_purge:edit"]
    )
    zone = client.get_zone()
    assert zone == ZoneInfo(
        id=ZONE_ID,
        name="example.com",
        status="active",
        paused=False,
        plan_legacy_id="pro",
        plan_name="Pro Website",
        account_id=ACCOUNT_ID,
        permissions=("#zone:read", "#cache_purge:edit"),
    )
    assert zone.can_purge is True
    assert cf_api.paths() == [f"GET {ZONE_PATH}"]


def test_get_zone_without_permissions(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_ok(plan="enterprise", status="pending", paused=True)
    zone = client.get_zone()
    assert zone.permissions is None
    assert zone.can_purge is None
    assert (zone.plan_legacy_id, zone.plan_name, zone.status, zone.paused) == (
        "enterprise",
        "Enterprise Website",
        "pending",
        True,
    )


def test_get_zone_with_permissions_lacking_purge(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_ok(permissions=["#zone:read", "#dns_records:edit"])
    assert client.get_zone().can_purge is False


def test_get_zone_with_global_key(cf_api: CloudflareAPIMock, key_client) -> None:
    cf_api.add_zone_ok()
    assert key_client.get_zone().name == "example.com"


def test_get_zone_token_cannot_see_it(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_error(status=403, code=10000, message="Authentication error")
    with pytest.raises(AuthenticationFailed) as info:
        client.get_zone()
    assert "Zone Resources" in str(info.value)
    assert "[code 10000]" in str(info.value)


def test_get_zone_not_found(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_error(
        status=400,
        code=7003,
        message="Could not route to /zones/x, perhaps your object identifier is invalid?",
        error_chain=[(7000, "No route for that URI")],
    )
    with pytest.raises(ZoneNotFound) as info:
        client.get_zone()
    assert str(info.value).endswith(
        "did you paste the Account ID or the zone name instead of the Zone ID, "
        "or is the token scoped to another zone?"
    )
    assert ZONE_ID in str(info.value)


def test_get_zone_with_an_unknown_key_pair(cf_api: CloudflareAPIMock, key_client) -> None:
    cf_api.add_zone_error(status=403, code=9103, message="Unknown X-Auth-Key or X-Auth-Email")
    with pytest.raises(AuthenticationFailed, match="email and Global API Key pair"):
        key_client.get_zone()


def test_get_zone_refused_for_a_global_key(cf_api: CloudflareAPIMock, key_client) -> None:
    cf_api.add_zone_error(
        status=403, code=9109, message="Unauthorized to access requested resource"
    )
    with pytest.raises(AuthenticationFailed, match="access to this zone"):
        key_client.get_zone()


# -- secrets -------------------------------------------------------------------------------


def _all_failures(cf_api: CloudflareAPIMock) -> list[BaseException]:
    raised: list[BaseException] = []
    clients = [
        CloudflareClient(token_credentials()),
        CloudflareClient(key_credentials()),
        CloudflareClient(account_credentials()),
    ]
    cases = [
        lambda: cf_api.add_purge_error(status=403, code=10000, message="Authentication error"),
        lambda: cf_api.add_purge_error(
            status=400,
            code=6003,
            message="Invalid request headers",
            error_chain=[(6111, "Invalid format for Authorization header")],
        ),
        lambda: cf_api.add_rate_limited(retry_after=5),
        lambda: cf_api.add_purge_error(status=500, code=1012, message="Request failed"),
        lambda: cf_api.add_purge_exception(exc=requests.ConnectTimeout()),
        lambda: cf_api.add_purge_exception(exc=requests.ConnectionError("boom")),
    ]
    for case in cases:
        for client in clients:
            cf_api.mock.reset()
            case()
            with pytest.raises(BackendError) as info:
                client.purge(files=urls(2))
            raised.append(info.value)
    return raised


def test_no_secret_in_exceptions_or_logs(
    cf_api: CloudflareAPIMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures = _all_failures(cf_api)
    cf_api.mock.reset()
    cf_api.add_verify_error(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok()
    CloudflareClient(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    cf_api.add_purge_ok()
    CloudflareClient(token_credentials()).purge(files=urls(40))
    for err in failures:
        chain = []
        cause: BaseException | None = err
        while cause is not None:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        for link in chain:
            assert_no_secret(str(link), repr(link))
            for arg in link.args:
                assert_no_secret(str(arg))
            assert_no_secret(json.dumps(getattr(link, "response_body", None), default=str))
    assert "purge_cache -> 200" in caplog.text
    assert_no_secret(caplog.text)


def test_no_secret_in_logs_with_real_sockets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api_url = f"http://127.0.0.1:{_closed_port()}/client/v4"
    for creds in (token_credentials(), key_credentials()):
        with pytest.raises(NetworkError) as info:
            CloudflareClient(creds, api_url=api_url).purge(files=urls(1))
        assert_no_secret(str(info.value), repr(info.value), repr(info.value.__cause__))
    assert_no_secret(caplog.text)


def test_an_echoed_secret_is_redacted(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_error(status=400, code=1012, message=f"Bad key {GLOBAL_API_KEY} for {EMAIL}")
    with pytest.raises(RequestRejected) as info:
        CloudflareClient(key_credentials()).purge(files=urls(1))
    assert "Bad key [redacted] for [redacted]" in str(info.value)
    assert_no_secret(str(info.value), json.dumps(info.value.response_body))


# -- the contract validator itself ------------------------------------------------------

BEARER = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
PURGE_URL = API_URL + PURGE_PATH


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "body",
    [
        {"files": urls(30)},
        {"files": [{"url": "https://www.example.com/a", "headers": {"CF-IPCountry": "US"}}]},
        {"tags": ["a"]},
        {"hosts": ["www.example.com"]},
        {"prefixes": ["www.example.com/foo"]},
        {"purge_everything": True},
    ],
)
def test_validator_accepts_every_body_form(body: Any) -> None:
    validate_request("POST", PURGE_URL, BEARER, _json(body))


def test_validator_accepts_the_global_key_and_other_hosts() -> None:
    headers = {
        "X-Auth-Email": EMAIL,
        "X-Auth-Key": GLOBAL_API_KEY,
        "Content-Type": "application/json",
    }
    validate_request(
        "POST", f"http://127.0.0.1:9999/client/v4{PURGE_PATH}", headers, _json({"tags": ["a"]})
    )
    validate_request("GET", API_URL + ZONE_PATH, headers, None)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "exactly one purge kind"),
        ({"files": urls(1), "tags": ["a"]}, "exactly one purge kind"),
        ({"tags": ["a"], "purge_everything": True}, "exactly one purge kind"),
        ({"files": urls(31)}, "31 files in one call; the limit is 30"),
        ({"files": []}, "empty list"),
        ({"tags": []}, "empty list"),
        ({"purge_everything": False}, "must be true"),
        ({"hosts": ["https://www.example.com"]}, "must not have a scheme"),
        ({"hosts": ["www.example.com/x"]}, "bare host name"),
        ({"prefixes": ["https://www.example.com/foo"]}, "must not have a scheme"),
        ({"prefixes": ["www.example.com/foo?x=1"]}, "cannot contain"),
        ({"files": ["https://a.example/x", {"url": "https://a.example/y"}]}, "mixes"),
        ({"files": ["/relative"]}, "absolute http(s) URL"),
        ({"files": [{"url": "https://a.example/x", "headers": {"A": 1}}]}, "strings to strings"),
        ({"urls": ["https://a.example/x"]}, "unknown keys"),
        ([], "JSON object"),
    ],
)
def test_validator_rejects_bad_purge_bodies(body: Any, problem: str) -> None:
    with pytest.raises(ContractViolation, match="request POST /client/v4/zones/") as info:
        validate_request("POST", PURGE_URL, BEARER, _json(body))
    assert problem in str(info.value)


def test_validator_limit_is_configurable() -> None:
    validate_request("POST", PURGE_URL, BEARER, _json({"files": urls(100)}), max_items=100)
    with pytest.raises(ContractViolation, match="the limit is 100"):
        validate_request("POST", PURGE_URL, BEARER, _json({"files": urls(101)}), max_items=100)
    validate_request("POST", PURGE_URL, BEARER, _json({"files": urls(500)}), max_items=500)
    with pytest.raises(ContractViolation, match="101 tags in one call; the limit is 100"):
        validate_request(
            "POST", PURGE_URL, BEARER, _json({"tags": [str(i) for i in range(101)]}), max_items=500
        )


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "no credentials"),
        ({"Authorization": "Token abc"}, "not 'Bearer <token>'"),
        ({"Authorization": "Bearer "}, "not 'Bearer <token>'"),
        ({"X-Auth-Email": EMAIL}, "together"),
        (
            {
                "Authorization": f"Bearer {API_TOKEN}",
                "X-Auth-Email": EMAIL,
                "X-Auth-Key": GLOBAL_API_KEY,
            },
            "both auth schemes",
        ),
    ],
)
def test_validator_rejects_missing_or_mixed_auth(headers: dict[str, str], problem: str) -> None:
    headers = {**headers, "Content-Type": "application/json"}
    with pytest.raises(ContractViolation) as info:
        validate_request("POST", PURGE_URL, headers, _json({"tags": ["a"]}))
    assert problem in str(info.value)
    assert_no_secret(str(info.value))


def test_validator_rejects_other_bad_requests() -> None:
    key_headers = {"X-Auth-Email": EMAIL, "X-Auth-Key": GLOBAL_API_KEY}
    with pytest.raises(ContractViolation, match="Security"):
        validate_request("GET", API_URL + USER_VERIFY, key_headers, None)
    with pytest.raises(ContractViolation, match="PathNotFound"):
        validate_request("GET", API_URL + "/zones/x/dns_records", BEARER, None)
    with pytest.raises(ContractViolation, match="not JSON"):
        validate_request("POST", PURGE_URL, BEARER, b"files=a")
    with pytest.raises(ContractViolation, match="Content-Type"):
        validate_request(
            "POST", PURGE_URL, {"Authorization": f"Bearer {API_TOKEN}"}, _json({"tags": ["a"]})
        )
    with pytest.raises(ContractViolation, match="not a Cloudflare API URL"):
        validate_request("GET", "https://www.example.com/", BEARER, None)


def test_validator_checks_responses() -> None:
    ok = {"Content-Type": "application/json"}
    validate_response(
        "POST", PURGE_URL, 200, ok, _json(failure_body(1012, "x") | {"success": True})
    )
    validate_response("POST", PURGE_URL, 502, {"Content-Type": "text/html"}, HTML_PAGE)
    validate_response("POST", PURGE_URL, 503, ok, _json(failure_body(1012, "Busy")))
    with pytest.raises(ContractViolation, match="response 200"):
        validate_response("POST", PURGE_URL, 200, {"Content-Type": "text/html"}, HTML_PAGE)
    with pytest.raises(ContractViolation, match="required property"):
        validate_response("POST", PURGE_URL, 400, ok, _json({"message": "bad"}))
    with pytest.raises(ContractViolation, match="required property"):
        validate_response("GET", API_URL + ZONE_PATH, 500, ok, _json({"error": "x"}))
    with pytest.raises(ContractViolation, match="status"):
        validate_response(
            "GET",
            API_URL + USER_VERIFY,
            200,
            ok,
            _json({"success": True, "errors": [], "messages": [], "result": {"id": "x"}}),
        )
    with pytest.raises(ContractViolation, match="success"):
        validate_response(
            "GET", API_URL + USER_VERIFY, 200, ok, _json(failure_body(1000, "Invalid API Token"))
        )


def test_the_wrapper_stops_a_bad_request_before_it_is_sent(
    cf_api: CloudflareAPIMock, cf_contract: Contract
) -> None:
    cf_api.add_purge_ok()
    with cf_contract.expect_violation("no credentials"):
        requests.post(API_URL + PURGE_PATH, json={"tags": ["a"]}, timeout=1)
    assert cf_api.calls == []
    with cf_contract.expect_violation("exactly one purge kind"):
        requests.post(API_URL + PURGE_PATH, json={}, headers=BEARER, timeout=1)
    assert cf_contract.violations == []


def test_the_wrapper_checks_responses(cf_api: CloudflareAPIMock, cf_contract: Contract) -> None:
    cf_api.add(
        "GET", USER_VERIFY, json={"success": True, "errors": [], "messages": [], "result": {}}
    )
    with cf_contract.expect_violation("response 200"):
        requests.get(API_URL + USER_VERIFY, headers=BEARER, timeout=1)


def test_a_swallowed_violation_is_recorded(
    cf_api: CloudflareAPIMock, cf_contract: Contract
) -> None:
    cf_api.add_purge_ok()
    with contextlib.suppress(ContractViolation):  # as code that catches too much would
        requests.post(API_URL + PURGE_PATH, json={"files": urls(31)}, headers=BEARER, timeout=1)
    assert len(cf_contract.violations) == 1
    assert "31 files" in cf_contract.violations[0]
    cf_contract.violations.clear()  # otherwise the test fails after its body: that is the point


@pytest.mark.no_contract_request
def test_the_request_check_can_be_turned_off(
    cf_api: CloudflareAPIMock, cf_contract: Contract
) -> None:
    cf_api.add_purge_error(
        status=400, code=9106, message="Missing X-Auth-Key, X-Auth-Email or Authorization headers"
    )
    response = requests.post(API_URL + PURGE_PATH, json={}, timeout=1)
    assert response.status_code == 400
    assert cf_contract.violations == []


def test_non_api_urls_are_not_checked(cf_api: CloudflareAPIMock, cf_contract: Contract) -> None:
    cf_api.mock.add("GET", "https://www.example.com/page", body="<html></html>")
    assert requests.get("https://www.example.com/page", timeout=1).status_code == 200
    assert cf_contract.checked == 0
