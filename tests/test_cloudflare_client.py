"""The Cloudflare client, tested at the wire with ``responses``.

Every request below also passes through the API contract of ``tests/cfapi.py``; replies
that are deliberately not Cloudflare's are marked ``no_contract_response``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from django_cfpurge._version import __version__
from django_cfpurge.backends.base import RemoteZone
from django_cfpurge.backends.cloudflare.client import (
    CloudflareClient,
    TokenInfo,
    ZoneInfo,
    purge_body,
)
from django_cfpurge.backends.cloudflare.credentials import CloudflareCredentials
from django_cfpurge.backends.cloudflare.envelope import MAX_ERROR_ENTRIES
from django_cfpurge.backends.http import SNIPPET_CHARS, HttpClient, parse_api_datetime
from django_cfpurge.enums import ErrorKind
from django_cfpurge.exceptions import (
    ApiMessage,
    AuthenticationFailed,
    BackendError,
    InvalidResponse,
    NetworkError,
    RateLimited,
    RequestRejected,
    ServerError,
    ZoneNotFound,
)
from tests.cfapi import (
    ACCOUNT_API_TOKEN,
    ACCOUNT_ID,
    API_TOKEN,
    API_URL,
    DEFAULT_MAX_ITEMS,
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
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
)


def token_credentials(account_id: str = "") -> CloudflareCredentials:
    return CloudflareCredentials(zone_id=ZONE_ID, api_token=API_TOKEN, account_id=account_id)


def key_credentials() -> CloudflareCredentials:
    return CloudflareCredentials(zone_id=ZONE_ID, email=EMAIL, api_key=GLOBAL_API_KEY)


def account_credentials(account_id: str = ACCOUNT_ID) -> CloudflareCredentials:
    return CloudflareCredentials(
        zone_id=ZONE_ID, api_token=ACCOUNT_API_TOKEN, account_id=account_id
    )


def client_for(creds: CloudflareCredentials, **http_options: Any) -> CloudflareClient:
    options: dict[str, Any] = {
        "setting": "CFPURGE['API_URL']",
        "service": "Cloudflare's API",
        "timeout": 30,
        "connect_timeout": 5,
        "deadline": 60,
        "secrets": creds.secrets,
    }
    options.update(http_options)
    return CloudflareClient(creds, HttpClient(API_URL, **options))


@pytest.fixture
def client() -> CloudflareClient:
    return client_for(token_credentials())


@pytest.fixture
def key_client() -> CloudflareClient:
    return client_for(key_credentials())


def urls(n: int) -> list[str]:
    return [f"https://www.example.com/media/{i}.jpg" for i in range(n)]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def assert_clean(err: BaseException) -> None:
    """No credential in the error, its chain, arguments, attributes, reply or pickle."""
    seen: list[BaseException] = []
    link: BaseException | None = err
    while link is not None and link not in seen:
        seen.append(link)
        assert_no_secret(str(link), repr(link), repr(link.args), repr(vars(link)))
        link = link.__cause__ or link.__context__
    if isinstance(err, BackendError):
        assert_no_secret(json.dumps(err.response_body, default=str))
        assert_no_secret(*(str(e) for e in err.errors))
    pickled = pickle.dumps(err)
    for secret in SECRETS:
        assert secret.encode() not in pickled


# -- the wire ------------------------------------------------------------------------


def test_token_auth_and_user_agent_at_the_wire(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge("files", ["https://www.example.com/a.jpg"])
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
    key_client.purge("everything", [])
    key_client.get_zone()
    assert len(cf_api.calls) == 2
    for request in cf_api.sent_requests():
        assert request.headers["X-Auth-Email"] == EMAIL
        assert request.headers["X-Auth-Key"] == GLOBAL_API_KEY
        assert "Authorization" not in request.headers


def test_every_exchange_went_through_the_contract(
    cf_api: CloudflareAPIMock, client, cf_contract: Contract
) -> None:
    cf_api.add_purge_ok()
    cf_api.add_zone_ok()
    cf_api.add_verify_ok()
    client.purge("files", urls(3))
    client.get_zone()
    client.verify_token()
    assert cf_contract.checked == 3


def test_repr_names_the_zone_not_the_secret() -> None:
    for creds in (token_credentials(), key_credentials(), account_credentials()):
        text = repr(client_for(creds))
        assert ZONE_ID in text
        assert_no_secret(text, repr(creds), str(creds))


def test_close_closes_the_http_session() -> None:
    client = client_for(token_credentials())
    closed: list[bool] = []
    client.http.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    client.close()
    assert closed == [True]


# -- purge: one call ---------------------------------------------------------------------


def test_purge_returns_the_result_id(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok(result_id="9a7806061c88ada191ed06f989cc3dac")
    assert client.purge("tags", ["a"]) == "9a7806061c88ada191ed06f989cc3dac"


@pytest.mark.parametrize(
    "result",
    [
        None,
        # Not Cloudflare's shape, but read leniently all the same.
        pytest.param({}, marks=pytest.mark.no_contract_response),
        pytest.param({"id": 42}, marks=pytest.mark.no_contract_response),
    ],
)
def test_purge_without_a_result_id(cf_api: CloudflareAPIMock, client, result: Any) -> None:
    cf_api.add(
        "POST", PURGE_PATH, json={"success": True, "errors": [], "messages": [], "result": result}
    )
    assert client.purge("tags", ["a"]) == ""


def test_purge_files_as_strings(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge("files", ["https://www.example.com/a.jpg", "http://www.example.com/b.css"])
    cf_api.assert_purged(files=["https://www.example.com/a.jpg", "http://www.example.com/b.css"])


def test_purge_files_with_headers(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    files = [
        {
            "url": "http://www.example.com/cat_picture.jpg",
            "headers": {"CF-IPCountry": "US", "CF-Device-Type": "desktop"},
        },
        {
            "url": "http://www.example.com/cat_picture.jpg",
            "headers": {"CF-IPCountry": "EU", "Accept-Language": "en-US"},
        },
    ]
    client.purge("files", files)
    assert cf_api.purge_bodies() == [{"files": files}]


def test_a_mix_of_strings_and_objects_is_sent_as_objects(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    variant = {"url": "https://www.example.com/a.jpg", "headers": {"CF-Device-Type": "mobile"}}
    client.purge("files", ["https://www.example.com/a.jpg", variant])
    assert cf_api.purge_bodies() == [{"files": [{"url": "https://www.example.com/a.jpg"}, variant]}]


@pytest.mark.parametrize(
    ("kind", "items"),
    [
        ("tags", ["a-cache-tag", "another-cache-tag"]),
        ("hosts", ["www.example.com", "images.example.com"]),
        ("prefixes", ["www.example.com/foo", "images.example.com/bar/baz"]),
    ],
)
def test_purge_tags_hosts_and_prefixes(
    cf_api: CloudflareAPIMock, client, kind: str, items: list[str]
) -> None:
    cf_api.add_purge_ok()
    client.purge(kind, items)
    assert cf_api.purge_bodies() == [{kind: items}]


def test_purge_everything(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    assert client.purge("everything", []) == ZONE_ID
    cf_api.assert_purged(everything=True)
    assert cf_api.purge_bodies() == [{"purge_everything": True}]


@pytest.mark.cf_max_items(100)
def test_one_call_carries_what_it_is_given(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_ok()
    client.purge("files", urls(100))
    assert [len(body["files"]) for body in cf_api.purge_bodies()] == [100]


@pytest.mark.parametrize("kind", ["files", "tags", "hosts", "prefixes"])
def test_nothing_to_purge_sends_nothing(cf_api: CloudflareAPIMock, client, kind: str) -> None:
    with pytest.raises(ValueError, match="Nothing to purge"):
        client.purge(kind, [])
    assert cf_api.calls == []


def test_purge_body_is_one_kind() -> None:
    assert purge_body("everything", []) == {"purge_everything": True}
    assert purge_body("tags", ["a"]) == {"tags": ["a"]}
    assert purge_body("files", [{"url": "https://a.example/"}]) == {
        "files": [{"url": "https://a.example/"}]
    }


# -- errors: status and codes -----------------------------------------------------------

PERMISSION_OR_ZONE = (
    "either the API token lacks Zone → Cache Purge → Purge on this zone, or the Zone ID "
    "names a zone the token is not for"
)

# (HTTP status, code, message, error_chain, expected class, words in the message)
FACTS_ERRORS = [
    (400, 6003, "Invalid request headers", [(6111, "Invalid format for Authorization header")],
     AuthenticationFailed, "could not read the API token"),
    (400, 6003, "Invalid request headers", [(6103, "Invalid format for X-Auth-Key header")],
     AuthenticationFailed, "could not read the Global API Key"),
    (400, 6003, "Invalid request headers", [(6102, "Invalid format for X-Auth-Email header")],
     AuthenticationFailed, "could not read the account email"),
    (400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers", None,
     AuthenticationFailed, "received no credentials"),
    (403, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers", None,
     AuthenticationFailed, "received no credentials"),
    (403, 9103, "Unknown X-Auth-Key or X-Auth-Email", None,
     AuthenticationFailed, "email and Global API Key pair"),
    (401, 1000, "Invalid API Token", None, AuthenticationFailed, "unknown, revoked"),
    (400, 1000, "Invalid API Token", None, AuthenticationFailed, "unknown, revoked"),
    (403, 1000, "Invalid API Token", None, AuthenticationFailed, "unknown, revoked"),
    (403, 10000, "Authentication error", None, AuthenticationFailed, PERMISSION_OR_ZONE),
    (403, 9109, "Unauthorized to access requested resource", None,
     AuthenticationFailed, PERMISSION_OR_ZONE),
    (400, 7003, "Could not route to /zones/example.com/purge_cache, perhaps your object "
     "identifier is invalid?", [(7000, "No route for that URI")],
     ZoneNotFound, "did you paste the Account ID or the zone name"),
    (404, 7003, "No route for the URI", None, ZoneNotFound, "instead of the Zone ID"),
    (404, 7000, "No route for that URI", None, ZoneNotFound, "Zone ID"),
    (404, 1003, "Invalid format for zone id", None, ZoneNotFound, "Zone ID"),
    (400, 1003, "Invalid format for zone id", None, ZoneNotFound, "Zone ID"),
    (400, 1012, "Request failed", None, RequestRejected,
     "rejected the purge request of 2 item(s)"),
    (429, 1134, "Unable to purge, rate limit reached. Please wait and consider throttling "
     "your request speed", None, RateLimited, "rate-limiting purge requests"),
    (429, 971, "Please wait and consider throttling your request speed", None,
     RateLimited, "rate-limiting"),
    (400, 1134, "Unable to purge, rate limit reached.", None, RateLimited, "rate"),
    (500, 1012, "Request failed", None, ServerError, "temporary server error"),
    (502, 1012, "Request failed", None, ServerError, "temporary"),
    (503, 1012, "Request failed", None, ServerError, "temporary"),
]  # fmt: skip
ERROR_KINDS = {
    AuthenticationFailed: ErrorKind.AUTH,
    ZoneNotFound: ErrorKind.ZONE,
    RequestRejected: ErrorKind.REJECTED,
    RateLimited: ErrorKind.RATE_LIMITED,
    ServerError: ErrorKind.SERVER,
}


@pytest.mark.parametrize(
    ("status", "code", "message", "chain", "cls", "words"),
    FACTS_ERRORS,
    ids=[f"{e[0]}-{e[1]}" + (f"-{e[3][0][0]}" if e[3] else "") for e in FACTS_ERRORS],
)
def test_purge_errors_are_classified_by_code_then_status(
    cf_api: CloudflareAPIMock, client, status, code, message, chain, cls, words
) -> None:
    cf_api.add_purge_error(status=status, code=code, message=message, error_chain=chain)
    with pytest.raises(BackendError) as info:
        client.purge("files", urls(2))
    err = info.value
    assert type(err) is cls
    assert err.error_kind == ERROR_KINDS[cls]
    assert err.transient == (cls in (RateLimited, ServerError))
    assert err.status_code == status
    assert words in str(err)
    assert f"{message} [code {code}]" in str(err)
    assert err.codes == {code} | {c for c, _ in chain or ()}
    assert err.errors[0] == ApiMessage(code, message)
    for chained, chained_message in chain or ():
        assert f"{chained_message} [code {chained}]" in str(err)
    assert err.response_body["success"] is False
    assert str(err).endswith((".", "?"))
    assert_clean(err)
    # Pickled (a Celery result, a process pool) it keeps what it said and why.
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301  (our own bytes, just made)
    assert type(copy) is cls
    assert (copy.message, copy.status_code, copy.codes, copy.retry_after) == (
        err.message,
        err.status_code,
        err.codes,
        err.retry_after,
    )
    assert copy.response_body == err.response_body


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
        client.purge("tags", ["a"])
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
        (429, RateLimited),
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
        client.purge("tags", ["a"])
    assert f"HTTP {status}" in str(info.value)
    assert info.value.codes == frozenset()


def test_codes_not_messages_decide(cf_api: CloudflareAPIMock, client) -> None:
    # The wording of a rate-limit message on a code Cloudflare uses for a bad zone id.
    cf_api.add_purge_error(status=400, code=7003, message="Rate limit reached, please wait")
    with pytest.raises(ZoneNotFound):
        client.purge("tags", ["a"])


@pytest.mark.no_contract_response
def test_lenient_error_entries(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=403,
        json={
            "success": False,
            "errors": [
                "not an entry",
                {"code": "10000", "message": "Authentication error", "source": {"pointer": "/"}},
                {"code": True, "message": 7},
                {"message": "no code"},
                {"code": 1e400, "message": "infinite"},
            ],
            "messages": [{"code": 1001, "message": "note", "type": None}],
            "result": None,
            "extra": {"anything": 1},
        },
    )
    with pytest.raises(AuthenticationFailed) as info:
        client.purge("tags", ["a"])
    assert info.value.errors == (
        ApiMessage(10000, "Authentication error"),
        ApiMessage(0, ""),
        ApiMessage(0, "no code"),
        ApiMessage(0, "infinite"),
    )


@pytest.mark.no_contract_response
def test_a_hostile_error_chain_is_read_without_recursion(cf_api: CloudflareAPIMock, client) -> None:
    entry: dict[str, Any] = {"code": 1000, "message": "Invalid API Token"}
    for _ in range(400):  # deep, but still JSON that Python reads
        entry = {"code": 1012, "message": "wrapped", "error_chain": [entry]}
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=400,
        json={"success": False, "errors": [entry], "messages": [], "result": None},
    )
    with pytest.raises(RequestRejected) as info:
        client.purge("tags", ["a"])
    assert len(info.value.errors) == MAX_ERROR_ENTRIES
    assert len(str(info.value)) < 5000


@pytest.mark.no_contract_response
@pytest.mark.parametrize("status", [200, 400, 502])
def test_json_nested_beyond_reading_is_an_invalid_answer(
    cf_api: CloudflareAPIMock, client, status: int
) -> None:
    cf_api.add(
        "GET", ZONE_PATH, status=status, body=b"[" * 100_000, content_type="application/json"
    )
    with pytest.raises(BackendError) as info:
        client.get_zone()
    assert type(info.value) is (ServerError if status >= 500 else InvalidResponse)
    assert info.value.__context__ is None


# -- errors: rate limiting -----------------------------------------------------------------


def test_429_with_retry_after_seconds(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_rate_limited(retry_after=42, code=1134)
    with pytest.raises(RateLimited) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after == 42.0
    assert info.value.transient
    assert "waiting 42 s before sending again" in str(info.value)
    assert "[code 1134]" in str(info.value)


def test_429_with_retry_after_as_an_http_date(cf_api: CloudflareAPIMock, client) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    cf_api.add_rate_limited(retry_after=format_datetime(when, usegmt=True), code=971)
    with pytest.raises(RateLimited) as info:
        client.purge("files", urls(1))
    assert 110 <= info.value.retry_after <= 121


def test_429_with_a_date_in_the_past_means_now(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_rate_limited(retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(RateLimited) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after == 0


def test_429_without_retry_after_uses_the_ratelimit_header(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_rate_limited(retry_after=None, reset=17)
    with pytest.raises(RateLimited) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after == 17.0


def test_429_without_any_header(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_error(status=429, code=971, message="Please wait")
    with pytest.raises(RateLimited) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after is None
    assert "slowing down and sending again later" in str(info.value)


@pytest.mark.parametrize("value", ["inf", "1e999", "nan"])
def test_429_with_a_meaningless_retry_after(cf_api: CloudflareAPIMock, client, value) -> None:
    cf_api.add_rate_limited(retry_after=value)
    with pytest.raises(RateLimited) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after is None
    assert "inf" not in str(info.value)


def test_retry_after_on_a_server_error_is_kept(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_error(status=503, code=1012, message="Busy", headers={"Retry-After": "5"})
    with pytest.raises(ServerError) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after == 5.0


def test_server_error_with_quota_left_does_not_wait_for_the_window(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_purge_error(
        status=503, code=1012, message="Busy", headers={"Ratelimit": '"default";r=1100;t=280'}
    )
    with pytest.raises(ServerError) as info:
        client.purge("files", urls(1))
    assert info.value.retry_after is None


def test_rate_limit_on_zone_lookup(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_error(status=429, code=971, message="Please wait", headers={"Retry-After": "3"})
    with pytest.raises(RateLimited) as info:
        client.get_zone()
    assert "rate-limiting API requests for this account" in str(info.value)
    assert "wait 3 s before trying again" in str(info.value)
    assert info.value.retry_after == 3.0


# -- errors: the network -----------------------------------------------------------------


def test_network_errors_are_raised_without_a_chain(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_purge_exception(
        exc=requests.exceptions.InvalidHeader(f"Invalid header value 'Bearer {API_TOKEN}'")
    )
    with pytest.raises(NetworkError) as info:
        client.purge("files", urls(1))
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert "Cloudflare's API at api.cloudflare.com" in str(info.value)
    assert_clean(info.value)


# -- errors: answers that are not Cloudflare's JSON ----------------------------------------


@pytest.mark.no_contract_response
@pytest.mark.parametrize(
    ("status", "body", "content_type", "cls", "words"),
    [
        (200, b"OK", "text/plain", InvalidResponse, "a body that is not JSON (text/plain)"),
        (200, HTML_PAGE, "text/html", InvalidResponse, "an HTML page"),
        (200, b"", "application/json", InvalidResponse, "an empty body"),
        (200, b'{"success": tru', "application/json", InvalidResponse, "not JSON"),
        (200, b'{"ok": true}', "application/json", InvalidResponse,
         "JSON that is not Cloudflare's API reply"),
        (200, b"[1, 2]", "application/json", InvalidResponse, "not Cloudflare's"),
        (200, b'"success"', "application/json", InvalidResponse, "not Cloudflare's"),
        (403, HTML_PAGE, "text/html", InvalidResponse, "a proxy or firewall"),
        (404, HTML_PAGE, "text/html", InvalidResponse, "CFPURGE['API_URL']"),
        (502, HTML_PAGE, "text/html", ServerError, "HTTP 502 with an HTML page"),
        (503, b"", "text/plain", ServerError, "HTTP 503 with an empty body"),
        (429, HTML_PAGE, "text/html", RateLimited, "HTTP 429 with an HTML page"),
    ],
)  # fmt: skip
def test_answers_that_are_not_cloudflare_json(
    cf_api: CloudflareAPIMock, client, status, body, content_type, cls, words
) -> None:
    cf_api.add("POST", PURGE_PATH, status=status, body=body, content_type=content_type)
    with pytest.raises(BackendError) as info:
        client.purge("files", urls(1))
    err = info.value
    assert type(err) is cls
    assert words in str(err)
    assert err.status_code == status
    assert err.transient
    if body.startswith(b"<"):
        assert "502 Bad Gateway" in err.response_body
    # The decoder's error (which keeps the whole body) is not chained.
    assert err.__cause__ is None and err.__context__ is None


def test_200_with_success_false_and_no_code(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add(
        "POST", PURGE_PATH, json={"success": False, "errors": [], "messages": [], "result": None}
    )
    with pytest.raises(InvalidResponse, match="without confirming success"):
        client.purge("files", urls(1))


def test_200_with_success_false_and_a_code(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add("POST", PURGE_PATH, json=failure_body(10000, "Authentication error"))
    with pytest.raises(AuthenticationFailed) as info:
        client.purge("files", urls(1))
    assert info.value.status_code == 200


@pytest.mark.no_contract_response
@pytest.mark.parametrize("body", [b"", json.dumps(failure_body(1012, "Moved")).encode()])
def test_a_redirect_is_not_followed(cf_api: CloudflareAPIMock, client, body: bytes) -> None:
    cf_api.add(
        "POST",
        PURGE_PATH,
        status=301,
        body=body,
        content_type="application/json",
        headers={"Location": f"https://elsewhere.example/client/v4/{API_TOKEN}?token=abc"},
    )
    with pytest.raises(InvalidResponse) as info:
        client.purge("files", urls(1))
    assert len(cf_api.calls) == 1
    assert "redirect (HTTP 301) to https://elsewhere.example/client/v4/[redacted];" in str(
        info.value
    )
    assert "token=abc" not in str(info.value)
    assert_clean(info.value)


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


# -- verify --------------------------------------------------------------------------------


def test_verify_at_the_user_endpoint(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_ok(
        expires_on="2030-01-01T00:00:00Z",
        not_before=datetime(2018, 7, 1, 5, 20, tzinfo=timezone.utc),
    )
    assert client.verify_token() == TokenInfo(
        id=TOKEN_ID,
        status="active",
        not_before=datetime(2018, 7, 1, 5, 20, tzinfo=timezone.utc),
        expires_on=datetime(2030, 1, 1, tzinfo=timezone.utc),
        endpoint="user",
    )
    assert cf_api.paths() == [f"GET {USER_VERIFY}"]
    assert cf_api.sent_requests()[0].headers["Authorization"] == f"Bearer {API_TOKEN}"


def test_verify_without_dates(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_ok()
    info = client.verify_token()
    assert (info.not_before, info.expires_on) == (None, None)


@pytest.mark.parametrize("status", ["disabled", "expired"])
def test_verify_reports_an_inactive_token(cf_api: CloudflareAPIMock, client, status) -> None:
    cf_api.add_verify_ok(status=status)
    assert client.verify_token().status == status


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-04T05:06:07Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
        ("2026-03-04T05:06:07.123456Z", datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)),
        ("2026-03-04T07:06:07+02:00", datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
        ("2026-03-04T05:06:07", datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
        ("2026-13-45T05:06:07Z", None),
        ("not a date", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_datetimes_are_parsed_aware(raw: Any, expected: datetime | None) -> None:
    parsed = parse_api_datetime(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_account_token_is_verified_at_its_account(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok(account_id=ACCOUNT_ID, expires_on="2031-02-03T04:05:06Z")
    info = client_for(account_credentials()).verify_token()
    assert (info.endpoint, info.account_id) == ("account", ACCOUNT_ID)
    assert info.expires_on == datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert cf_api.paths() == [f"GET {ACCOUNT_VERIFY}"]
    assert cf_api.sent_requests()[0].headers["Authorization"] == f"Bearer {ACCOUNT_API_TOKEN}"


def test_account_token_refused_at_its_account_does_not_fall_back(
    cf_api: CloudflareAPIMock,
) -> None:
    cf_api.add_verify_error(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok()
    with pytest.raises(AuthenticationFailed, match=r"Invalid API Token \[code 1000\]"):
        client_for(account_credentials()).verify_token()
    assert cf_api.paths() == [f"GET {ACCOUNT_VERIFY}"]


def test_account_token_without_account_id_learns_it_from_the_zone(
    cf_api: CloudflareAPIMock,
) -> None:
    cf_api.add_zone_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_error()  # the user endpoint would refuse it
    client = client_for(account_credentials(account_id=""))
    info = client.verify_token(learn_account=lambda: client.get_zone().remote.account_id)
    assert (info.endpoint, info.account_id) == ("account", ACCOUNT_ID)
    assert cf_api.paths() == [f"GET {ZONE_PATH}", f"GET {ACCOUNT_VERIFY}"]


def test_a_legacy_token_refused_by_the_user_endpoint_is_tried_at_the_account(
    cf_api: CloudflareAPIMock,
) -> None:
    """An account-owned token in the old format looks like any token: 1000 from the
    user endpoint is not the last word while the account endpoint may accept it."""
    cf_api.add_verify_error(status=401, code=1000, message="Invalid API Token")
    cf_api.add_zone_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID, expires_on="2030-01-01T00:00:00Z")
    client = client_for(token_credentials())
    info = client.verify_token(learn_account=lambda: client.get_zone().remote.account_id)
    assert (info.endpoint, info.account_id) == ("account", ACCOUNT_ID)
    assert cf_api.paths() == [f"GET {USER_VERIFY}", f"GET {ZONE_PATH}", f"GET {ACCOUNT_VERIFY}"]


def test_a_legacy_token_with_an_account_id_falls_back_without_reading_the_zone(
    cf_api: CloudflareAPIMock,
) -> None:
    cf_api.add_verify_error()
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    learnt: list[bool] = []
    info = client_for(token_credentials(account_id=ACCOUNT_ID)).verify_token(
        learn_account=lambda: learnt.append(True) or ""
    )
    assert info.endpoint == "account"
    assert learnt == []
    assert cf_api.paths() == [f"GET {USER_VERIFY}", f"GET {ACCOUNT_VERIFY}"]


def test_refused_at_both_endpoints(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error()
    cf_api.add_verify_error(account_id=ACCOUNT_ID)
    with pytest.raises(AuthenticationFailed) as info:
        client_for(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    assert info.value.codes == {1000}
    assert "unknown, revoked" in str(info.value)
    assert cf_api.paths() == [f"GET {USER_VERIFY}", f"GET {ACCOUNT_VERIFY}"]


def test_refused_and_no_account_to_try(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_error()
    with pytest.raises(AuthenticationFailed) as info:
        client.verify_token()
    assert info.value.status_code == 401
    assert cf_api.paths() == [f"GET {USER_VERIFY}"]


def test_an_unreadable_zone_keeps_the_first_refusal(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_error()
    cf_api.add_zone_error(status=403, code=10000)
    with pytest.raises(AuthenticationFailed) as info:
        client.verify_token(learn_account=lambda: client.get_zone().remote.account_id)
    assert info.value.codes == {1000}
    assert info.value.__cause__ is None
    assert cf_api.paths() == [f"GET {USER_VERIFY}", f"GET {ZONE_PATH}"]


@pytest.mark.parametrize(
    ("code", "message"), [(10000, "Authentication error"), (9109, "Unauthorized")]
)
def test_no_fallback_on_other_codes(cf_api: CloudflareAPIMock, code: int, message: str) -> None:
    cf_api.add_verify_error(status=403, code=code, message=message)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    with pytest.raises(AuthenticationFailed, match="refused to verify the API token"):
        client_for(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    assert len(cf_api.calls) == 1


def test_verify_with_a_malformed_token(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_verify_error(
        status=400,
        code=6003,
        message="Invalid request headers",
        error_chain=[(6111, "Invalid format for Authorization header")],
    )
    with pytest.raises(AuthenticationFailed, match="without spaces, quotes") as info:
        client.verify_token(learn_account=lambda: ACCOUNT_ID)
    assert info.value.codes == {6003, 6111}
    assert len(cf_api.calls) == 1


def test_verify_with_an_unknown_account(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(
        status=404, code=7003, message="No route for the URI", account_id=ACCOUNT_ID
    )
    with pytest.raises(ZoneNotFound, match="check the Account ID"):
        client_for(account_credentials()).verify_token()


def test_verify_at_an_account_that_does_not_own_the_token(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(
        status=403, code=10000, message="Authentication error", account_id=ACCOUNT_ID
    )
    with pytest.raises(AuthenticationFailed, match="the Account ID is the one that owns"):
        client_for(account_credentials()).verify_token()


def test_verify_with_a_global_key_is_a_programming_error(key_client, cf_api) -> None:
    with pytest.raises(ValueError, match="API token"):
        key_client.verify_token()
    assert cf_api.calls == []


# -- zone -----------------------------------------------------------------------------------


def test_get_zone(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_ok(
        name="Example.COM", plan="pro", permissions=["#zone:read", "#cache_purge:edit"]
    )
    assert client.get_zone() == ZoneInfo(
        remote=RemoteZone(
            name="example.com",
            status="active",
            plan="pro",
            plan_name="Pro Website",
            account_id=ACCOUNT_ID,
            paused=False,
        ),
        permissions=("#zone:read", "#cache_purge:edit"),
    )
    assert cf_api.paths() == [f"GET {ZONE_PATH}"]


def test_get_zone_without_permissions(cf_api: CloudflareAPIMock, client) -> None:
    cf_api.add_zone_ok(plan="enterprise", status="pending", paused=True)
    zone = client.get_zone()
    assert zone.permissions is None
    remote = zone.remote
    assert (remote.plan, remote.plan_name, remote.status, remote.paused) == (
        "enterprise",
        "Enterprise Website",
        "pending",
        True,
    )


def test_get_zone_with_global_key(cf_api: CloudflareAPIMock, key_client) -> None:
    cf_api.add_zone_ok()
    assert key_client.get_zone().remote.name == "example.com"


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


# -- messages that point the right way ------------------------------------------------------


def test_a_refused_purge_names_the_permission_and_the_zone_id(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    with pytest.raises(AuthenticationFailed) as info:
        client.purge("files", urls(1))
    assert str(info.value) == (
        "Cloudflare refused the purge (HTTP 403: Authentication error [code 10000]): either "
        "the API token lacks Zone → Cache Purge → Purge on this zone, or the Zone ID names a "
        "zone the token is not for. Run Test connection to tell which."
    )


KEY_REFUSALS = [
    ("POST", PURGE_PATH, 403, 10000, "Authentication error", None, "Zone ID"),
    ("POST", PURGE_PATH, 403, 9109, "Unauthorized to access requested resource", None,
     "must own the zone"),
    ("POST", PURGE_PATH, 400, 7003, "Could not route", [(7000, "No route for that URI")],
     "belong to another account"),
    ("GET", ZONE_PATH, 403, 10000, "Authentication error", None, "check the Zone ID and the email"),
    ("GET", ZONE_PATH, 403, 9103, "Unknown X-Auth-Key or X-Auth-Email", None,
     "email and Global API Key pair"),
    ("GET", ZONE_PATH, 404, 7003, "No route for the URI", None, "instead of the Zone ID"),
    ("GET", ZONE_PATH, 400, 6003, "Invalid request headers",
     [(6103, "Invalid format for X-Auth-Key header")], "could not read the Global API Key"),
    ("GET", ZONE_PATH, 400, 6003, "Invalid request headers",
     [(6102, "Invalid format for X-Auth-Email header")], "account email"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "message", "chain", "words"),
    KEY_REFUSALS,
    ids=[f"{r[0]}-{r[2]}-{r[3]}" for r in KEY_REFUSALS],
)
def test_a_global_key_refusal_never_talks_about_a_token(
    cf_api: CloudflareAPIMock, key_client, method, path, status, code, message, chain, words
) -> None:
    cf_api.add(method, path, status=status, json=failure_body(code, message, chain))
    with pytest.raises(BackendError) as info:
        key_client.purge("files", urls(1)) if method == "POST" else key_client.get_zone()
    text = str(info.value)
    assert words in text
    assert "Zone Resources" not in text
    # "My Profile → API Tokens → Global API Key" is where the key lives; a token is not.
    assert not re.search(r"\btoken\b", text, re.IGNORECASE), text


# -- secrets ------------------------------------------------------------------------------

ECHOES: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    (
        "errors[*].message",
        lambda s: failure_body(1012, f"Request failed for credential {s}"),
    ),
    (
        "error_chain",
        lambda s: failure_body(6003, "Invalid request headers", [(6111, f"Bad header: {s}")]),
    ),
    ("a key of the reply", lambda s: {**failure_body(1012, "x"), s: {"seen": s}}),
]


@pytest.mark.parametrize(("where", "reply"), ECHOES, ids=[e[0] for e in ECHOES])
@pytest.mark.parametrize("scheme", ["token", "account", "global_key"])
@pytest.mark.parametrize("status", [400, 403, 429, 503])
def test_an_echoed_credential_is_redacted_everywhere(
    cf_api: CloudflareAPIMock, where: str, reply: Callable[[str], dict[str, Any]], scheme, status
) -> None:
    creds = {
        "token": token_credentials(),
        "account": account_credentials(),
        "global_key": key_credentials(),
    }[scheme]
    for secret in creds.secrets:
        cf_api.mock.reset()
        cf_api.add("POST", PURGE_PATH, status=status, json=reply(secret))
        with pytest.raises(BackendError) as info:
            client_for(creds).purge("files", urls(1))
        assert_clean(info.value)
        assert "[redacted]" in json.dumps(info.value.response_body, ensure_ascii=False)


def test_echoed_email_and_key_read_as_redacted(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_error(status=400, code=1012, message=f"Bad key {GLOBAL_API_KEY} for {EMAIL}")
    with pytest.raises(RequestRejected) as info:
        client_for(key_credentials()).purge("files", urls(1))
    assert "Bad key [redacted] for [redacted] [code 1012]" in str(info.value)
    assert info.value.errors == (ApiMessage(1012, "Bad key [redacted] for [redacted]"),)


@pytest.mark.no_contract_response
@pytest.mark.parametrize("position", [0, 150, 280, 290, 295, 299])
@pytest.mark.parametrize("status", [200, 403, 429, 502])
@pytest.mark.parametrize("secret", [API_TOKEN, GLOBAL_API_KEY, EMAIL])
def test_a_proxy_page_echoing_a_credential_near_the_cut(
    cf_api: CloudflareAPIMock, position: int, status: int, secret: str
) -> None:
    """The body kept for the log is cut at 300 characters: redacted first, so even a
    credential that straddles the cut leaves nothing of itself."""
    creds = key_credentials() if secret != API_TOKEN else token_credentials()
    prefix = "<html><body><p>"
    page = prefix + "x" * (position - len(prefix)) if position > len(prefix) else prefix
    page += secret + "</p>" + "y" * 500 + "</body></html>"
    cf_api.add("POST", PURGE_PATH, status=status, body=page.encode(), content_type="text/html")
    with pytest.raises(BackendError) as info:
        client_for(creds).purge("files", urls(1))
    body = info.value.response_body
    assert isinstance(body, str)
    assert len(body) <= SNIPPET_CHARS + 1
    assert secret[:8] not in body
    assert_clean(info.value)


@pytest.mark.no_contract_response
@pytest.mark.parametrize("status", [200, 404, 429, 503])
def test_a_content_type_echoing_the_token(cf_api: CloudflareAPIMock, client, status) -> None:
    cf_api.add("GET", ZONE_PATH, status=status, body=b"nope", content_type=API_TOKEN)
    with pytest.raises(BackendError) as info:
        client.get_zone()
    assert "[redacted]" in str(info.value)
    assert_clean(info.value)


@pytest.mark.no_contract_response
def test_a_body_echoing_the_token_leaves_no_decoder_error_behind(
    cf_api: CloudflareAPIMock, client
) -> None:
    cf_api.add("GET", ZONE_PATH, status=200, body=f'{{"t": "{API_TOKEN}"', content_type="json")
    with pytest.raises(InvalidResponse) as info:
        client.get_zone()
    assert info.value.__context__ is None
    assert_clean(info.value)


def _every_failure(cf_api: CloudflareAPIMock) -> list[BaseException]:
    raised: list[BaseException] = []
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
        for creds in (token_credentials(), key_credentials(), account_credentials()):
            cf_api.mock.reset()
            case()
            with pytest.raises(BackendError) as info:
                client_for(creds).purge("files", urls(2))
            raised.append(info.value)
    return raised


def test_no_secret_in_exceptions_or_logs(
    cf_api: CloudflareAPIMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures = _every_failure(cf_api)
    cf_api.mock.reset()
    cf_api.add_verify_error()
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    client_for(token_credentials(account_id=ACCOUNT_ID)).verify_token()
    cf_api.add_purge_ok()
    client_for(token_credentials()).purge("files", urls(30))
    assert len(failures) == 18
    for err in failures:
        assert_clean(err)
    assert "purge_cache -> 200" in caplog.text
    assert_no_secret(caplog.text)


# -- the contract validator itself ---------------------------------------------------------

BEARER = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
PURGE_URL = API_URL + PURGE_PATH


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "body",
    [
        {"files": urls(DEFAULT_MAX_ITEMS)},
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
        (
            {"files": urls(DEFAULT_MAX_ITEMS + 1)},
            f"{DEFAULT_MAX_ITEMS + 1} files in one call; the limit is {DEFAULT_MAX_ITEMS}",
        ),
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
    too_many = urls(DEFAULT_MAX_ITEMS + 1)
    with contextlib.suppress(ContractViolation):  # as code that catches too much would
        requests.post(API_URL + PURGE_PATH, json={"files": too_many}, headers=BEARER, timeout=1)
    assert len(cf_contract.violations) == 1
    assert f"{len(too_many)} files" in cf_contract.violations[0]
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
