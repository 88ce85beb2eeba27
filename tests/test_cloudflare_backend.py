"""The Cloudflare backend: what it declares (limits, budgets, credentials) and what it does,
with settings read when it is built."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
from django.test import override_settings

from django_cfpurge import conf
from django_cfpurge.backends.base import RateBudget, RemoteZone
from django_cfpurge.backends.cloudflare import PLAN_LIMITS, CloudflareBackend, steps
from django_cfpurge.backends.cloudflare import limits_for_plan as plan_limits
from django_cfpurge.backends.cloudflare.credentials import CloudflareCredentials
from django_cfpurge.enums import Kind
from django_cfpurge.exceptions import InsecureAPIURL, InvalidCredentials, RateLimited
from tests.cfapi import (
    ACCOUNT_API_TOKEN,
    ACCOUNT_ID,
    API_TOKEN,
    API_URL,
    EMAIL,
    GLOBAL_API_KEY,
    ZONE_ID,
    CloudflareAPIMock,
)

TOKEN_VALUES = {"zone_id": ZONE_ID, "api_token": API_TOKEN}
KEY_VALUES = {
    "zone_id": ZONE_ID,
    "auth_kind": "global_key",
    "email": EMAIL,
    "api_key": GLOBAL_API_KEY,
}
OPERATION_KINDS = (Kind.PREFIXES, Kind.HOSTS, Kind.TAGS, Kind.EVERYTHING)


def backend(values: dict[str, str] | None = None, **options: Any) -> CloudflareBackend:
    return CloudflareBackend(CloudflareBackend.clean_credentials(values or TOKEN_VALUES), **options)


# -- declarations ----------------------------------------------------------------------


def test_what_the_backend_declares() -> None:
    assert CloudflareBackend.name == "cloudflare"
    assert CloudflareBackend.kinds == ("files", "prefixes", "hosts", "tags", "everything")
    assert [value for value, _ in CloudflareBackend.auth_kinds] == ["token", "global_key"]
    fields = {f.name: f for f in CloudflareBackend.credential_fields}
    assert list(fields) == ["zone_id", "account_id", "api_token", "email", "api_key"]
    assert {name for name, f in fields.items() if f.secret} == {"api_token", "api_key"}
    assert not fields["account_id"].required
    assert fields["api_token"].setting == "API_TOKEN"
    assert CloudflareBackend.step_classes == (
        steps.VerifyCredentials,
        steps.ReadZone,
        steps.ProbePurge,
    )
    assert [type(s) for s in backend().test_steps()] == list(CloudflareBackend.step_classes)


def test_plan_limits_follow_cloudflares_table() -> None:
    table = {
        name: (p.urls_per_second, p.operations, p.operations_period, p.operations_burst)
        for name, p in PLAN_LIMITS.items()
    }
    assert table == {
        "free": (800, 5, 60.0, 25),
        "pro": (1500, 5, 1.0, 25),
        "business": (1500, 10, 1.0, 50),
        "enterprise": (3000, 50, 1.0, 500),
    }


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (None, "free"),
        ("", "free"),
        ("   ", "free"),
        ("platinum", "free"),
        ("free", "free"),
        (" Enterprise ", "enterprise"),
        ("PRO", "pro"),
    ],
)
def test_unknown_plans_get_the_lowest_limits(plan: str | None, expected: str) -> None:
    assert plan_limits(plan) is PLAN_LIMITS[expected]


@pytest.mark.parametrize(
    ("plan", "files", "ops"),
    [
        ("free", RateBudget("files", 800, 1.0), RateBudget("ops", 25, 300.0)),
        ("pro", RateBudget("files", 1500, 1.0), RateBudget("ops", 25, 5.0)),
        ("business", RateBudget("files", 1500, 1.0), RateBudget("ops", 50, 5.0)),
        ("enterprise", RateBudget("files", 3000, 1.0), RateBudget("ops", 500, 10.0)),
        ("", RateBudget("files", 800, 1.0), RateBudget("ops", 25, 300.0)),
        ("Business", RateBudget("files", 1500, 1.0), RateBudget("ops", 50, 5.0)),
    ],
)
def test_budgets_per_plan(plan: str, files: RateBudget, ops: RateBudget) -> None:
    cf = backend(plan=plan)
    assert cf.budget(Kind.FILES) == files
    # Tags, hosts, prefixes and "everything" share one bucket.
    assert {cf.budget(kind) for kind in OPERATION_KINDS} == {ops}
    limits = plan_limits(plan)
    assert cf.budget(Kind.FILES).rate == limits.urls_per_second
    assert cf.budget(Kind.TAGS).rate == pytest.approx(limits.operations / limits.operations_period)


def test_cost_counts_urls_for_files_and_calls_otherwise() -> None:
    cf = backend()
    assert cf.cost(Kind.FILES, 30) == 30
    assert cf.cost(Kind.FILES, 0) == 1
    for kind in OPERATION_KINDS:
        assert cf.cost(kind, 100) == 1


@pytest.mark.parametrize(
    ("plan", "setting", "learnt", "kind", "expected"),
    [
        ("", None, None, "files", 100),
        ("free", None, None, "tags", 100),
        ("enterprise", None, None, "files", 500),
        (" Enterprise ", None, None, "files", 500),
        ("enterprise", None, None, "prefixes", 100),
        ("free", 30, None, "files", 30),
        ("free", 30, None, "hosts", 30),
        ("free", 500, None, "files", 500),
        ("free", 500, None, "tags", 100),
        ("enterprise", 100, None, "files", 100),
        ("enterprise", None, 30, "files", 30),
        ("free", 500, 100, "files", 100),
        ("free", None, 30, "tags", 30),
        ("free", "100", None, "files", 100),
        # Not an allowed value: the documented default (the system check names it).
        ("free", 50, None, "files", 100),
        ("enterprise", "lots", None, "files", 500),
    ],
)
def test_items_per_call(
    plan: str, setting: Any, learnt: int | None, kind: str, expected: int
) -> None:
    with override_settings(CFPURGE={"MAX_ITEMS_PER_REQUEST": setting}):
        cf = backend(plan=plan, max_items=learnt)
        assert cf.max_items(kind) == expected
        assert cf.safe_max_items(kind) == min(30, expected)


def test_a_wrong_items_setting_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(CFPURGE={"MAX_ITEMS_PER_REQUEST": 250}):
        with caplog.at_level(logging.WARNING, logger="django_cfpurge"):
            assert backend().max_items(Kind.FILES) == 100
        assert conf.problems() == [
            ("MAX_ITEMS_PER_REQUEST", "CFPURGE['MAX_ITEMS_PER_REQUEST'] must be None, 30, 100 "
             "or 500, not 250."),
        ]  # fmt: skip


def test_the_rate_limit_is_shared_per_account() -> None:
    assert backend().rate_limit_key() == ZONE_ID
    assert backend({**TOKEN_VALUES, "account_id": ACCOUNT_ID}).rate_limit_key() == ACCOUNT_ID
    assert backend(KEY_VALUES).rate_limit_key() == ZONE_ID
    for cf in (backend(), backend(KEY_VALUES)):
        assert API_TOKEN not in cf.rate_limit_key()
        assert GLOBAL_API_KEY not in cf.rate_limit_key()
        assert API_TOKEN not in repr(cf) and GLOBAL_API_KEY not in repr(cf)
        assert EMAIL not in repr(cf)


# -- credentials ----------------------------------------------------------------------


def test_clean_credentials() -> None:
    token = CloudflareBackend.clean_credentials({**TOKEN_VALUES, "api_token": f" {API_TOKEN}\n"})
    assert isinstance(token, CloudflareCredentials)
    assert (token.auth_kind, token.api_token, token.zone_id) == ("token", API_TOKEN, ZONE_ID)
    key = CloudflareBackend.clean_credentials(KEY_VALUES)
    assert (key.auth_kind, key.email, key.api_key) == ("global_key", EMAIL, GLOBAL_API_KEY)
    # An account-owned token needs no Account ID to purge.
    account = CloudflareBackend.clean_credentials(
        {"zone_id": ZONE_ID, "api_token": ACCOUNT_API_TOKEN}
    )
    assert account.is_account_token and account.account_id == ""


def test_clean_credentials_names_the_field() -> None:
    with pytest.raises(InvalidCredentials) as info:
        CloudflareBackend.clean_credentials({**KEY_VALUES, "api_key": API_TOKEN})
    assert info.value.field == "api_key"
    with pytest.raises(InvalidCredentials) as info:
        CloudflareBackend.clean_credentials({"zone_id": ZONE_ID, "auth_kind": "token"})
    assert info.value.field == "api_token"
    # No token and no kind: the Global API Key is meant, and its email is missing.
    with pytest.raises(InvalidCredentials) as info:
        CloudflareBackend.clean_credentials({"zone_id": ZONE_ID, "api_token": " "})
    assert info.value.field == "email"


def test_credential_warning_and_has_secret() -> None:
    assert CloudflareBackend.credential_warning(TOKEN_VALUES) == ""
    assert "Global API Key" in CloudflareBackend.credential_warning(KEY_VALUES)
    assert CloudflareBackend.has_secret(TOKEN_VALUES)
    assert CloudflareBackend.has_secret(KEY_VALUES)
    assert not CloudflareBackend.has_secret({"zone_id": ZONE_ID})
    assert not CloudflareBackend.has_secret({**KEY_VALUES, "email": ""})
    assert not CloudflareBackend.has_secret({"zone_id": ZONE_ID, "auth_kind": "token"})


# -- settings, read when built ----------------------------------------------------------


def test_settings_are_read_when_built() -> None:
    with override_settings(
        CFPURGE={
            "API_URL": "https://cf.example.test/client/v4/",
            "TIMEOUT": 12,
            "CONNECT_TIMEOUT": "2.5",
            "DEADLINE": 40,
        }
    ):
        cf = backend()
    http = cf.client.http
    assert http.api_url == "https://cf.example.test/client/v4"
    assert (http.timeout, http.connect_timeout, http.deadline) == (12.0, 2.5, 40.0)
    default = backend().client.http
    assert default.api_url == API_URL
    assert (default.timeout, default.connect_timeout, default.deadline) == (30.0, 5.0, 60.0)


@pytest.mark.parametrize("name", ["TIMEOUT", "CONNECT_TIMEOUT", "DEADLINE"])
@pytest.mark.parametrize("value", [0, -3, "soon", None, float("nan")])
def test_a_wrong_timeout_falls_back_to_its_default(name: str, value: Any) -> None:
    """A save or a purge never fails because of a timeout setting; the check says why."""
    with override_settings(CFPURGE={name: value}):
        http = backend().client.http
        assert [key for key, _ in conf.problems()] == [name]
    assert (http.timeout, http.connect_timeout, http.deadline) == (30.0, 5.0, 60.0)


@pytest.mark.parametrize(
    ("api_url", "words"),
    [
        ("http://api.cloudflare.com/client/v4", "must use https"),
        ("https://user:pass@api.cloudflare.com/client/v4", "user name or password"),
        ("api.cloudflare.com/client/v4", "is not a URL"),
        ("", "is not a URL"),
    ],
)
def test_an_insecure_api_url_sends_nothing(
    cf_api: CloudflareAPIMock, api_url: str, words: str
) -> None:
    cf_api.base_url = "http://api.cloudflare.com/client/v4"
    cf_api.add_purge_ok()
    cf_api.add_zone_ok()
    with override_settings(CFPURGE={"API_URL": api_url}), pytest.raises(InsecureAPIURL) as info:
        backend().purge(Kind.FILES, ["https://www.example.com/a.jpg"])
    assert words in str(info.value)
    assert "CFPURGE['API_URL']" in str(info.value)
    assert cf_api.calls == []


@pytest.mark.parametrize(
    "api_url",
    [
        "http://127.0.0.1:8765/client/v4",
        "http://[::1]:8765/client/v4",
        "http://localhost:8765/client/v4",
    ],
)
def test_plain_http_to_loopback_is_allowed(cf_api: CloudflareAPIMock, api_url: str) -> None:
    cf_api.base_url = api_url
    cf_api.add_zone_ok()
    with override_settings(CFPURGE={"API_URL": api_url}):
        cf = backend()
    assert cf.describe_zone().name == "example.com"
    assert cf_api.sent_requests()[0].url == f"{api_url}/zones/{ZONE_ID}"


# -- actions --------------------------------------------------------------------------


def test_purge_is_one_call(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_ok()
    with backend() as cf:
        assert cf.purge(Kind.TAGS, ["a", "b"]) == ZONE_ID
    assert cf_api.purge_bodies() == [{"tags": ["a", "b"]}]


def test_an_account_token_purges_without_the_account_id(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_purge_ok()
    cf = backend({"zone_id": ZONE_ID, "api_token": ACCOUNT_API_TOKEN})
    cf.purge(Kind.FILES, ["https://www.example.com/a.jpg"])
    assert cf_api.paths() == [f"POST /zones/{ZONE_ID}/purge_cache"]
    assert cf_api.sent_requests()[0].headers["Authorization"] == f"Bearer {ACCOUNT_API_TOKEN}"


def test_describe_zone(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_zone_ok(name="example.com", plan="business", account_id=ACCOUNT_ID)
    assert backend(KEY_VALUES).describe_zone() == RemoteZone(
        name="example.com",
        status="active",
        plan="business",
        plan_name="Business Website",
        account_id=ACCOUNT_ID,
    )


def test_describe_error_gives_a_sentence() -> None:
    err = RateLimited("x", status_code=429, retry_after=2.2)
    text = backend().describe_error(err, doing="the test purge")
    assert text.startswith(
        "Cloudflare is rate-limiting this account's API requests (the test purge"
    )
    assert "Try again in 3 s." in text
    assert backend().describe_error(ValueError("plain"), doing="x") == "plain"


def test_close_and_a_borrowed_session(cf_api: CloudflareAPIMock) -> None:
    session = requests.Session()
    closed: list[str] = []
    session.close = lambda: closed.append("borrowed")  # type: ignore[method-assign]
    cf_api.add_zone_ok()
    with backend(session=session) as cf:
        assert cf.client.http.session is session
        cf.describe_zone()
    assert closed == []
    own = backend()
    own.client.http.session.close = lambda: closed.append("own")  # type: ignore[method-assign]
    with own:
        pass
    assert closed == ["own"]
