"""Cloudflare's Test connection steps, run in order at the wire as the runner runs them:
a failed step skips the rest with its reason."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import override_settings
from django.utils import timezone

from django_cfpurge.backends.base import StepResult, StepStatus, TestContext
from django_cfpurge.backends.cloudflare import CloudflareBackend
from django_cfpurge.backends.cloudflare.steps import EXPIRY_WARNING_DAYS, cited, describe
from django_cfpurge.exceptions import (
    ApiMessage,
    AuthenticationFailed,
    BackendError,
    InvalidResponse,
    NetworkError,
    RateLimited,
    ServerError,
)
from tests.cfapi import (
    ACCOUNT_API_TOKEN,
    ACCOUNT_ID,
    API_TOKEN,
    EMAIL,
    GLOBAL_API_KEY,
    ZONE_ID,
    CloudflareAPIMock,
)

OK, WARNING, ERROR, SKIPPED = (
    StepStatus.OK,
    StepStatus.WARNING,
    StepStatus.ERROR,
    StepStatus.SKIPPED,
)
TOKEN_VALUES = {"zone_id": ZONE_ID, "api_token": API_TOKEN}
KEY_VALUES = {
    "zone_id": ZONE_ID,
    "auth_kind": "global_key",
    "email": EMAIL,
    "api_key": GLOBAL_API_KEY,
}
ACCOUNT_TOKEN_VALUES = {"zone_id": ZONE_ID, "api_token": ACCOUNT_API_TOKEN}
ZONE_PATH = f"/zones/{ZONE_ID}"
PURGE = f"POST /zones/{ZONE_ID}/purge_cache"
USER_VERIFY = "GET /user/tokens/verify"
ACCOUNT_VERIFY = f"GET /accounts/{ACCOUNT_ID}/tokens/verify"
GET_ZONE = f"GET {ZONE_PATH}"
SECRETS = (API_TOKEN, ACCOUNT_API_TOKEN, GLOBAL_API_KEY, EMAIL)
CREDENTIALS_REFUSED = "Skipped: the credentials were not accepted."


def run(values: dict[str, str]) -> tuple[TestContext, dict[str, StepResult]]:
    """Run the backend's steps as the runner does; return the context and each result."""
    backend = CloudflareBackend(CloudflareBackend.clean_credentials(values))
    context = TestContext(backend=backend)
    results: dict[str, StepResult] = {}
    skip = ""
    with backend:
        for step in backend.test_steps():
            if skip:
                results[step.key] = StepResult(SKIPPED, skip)
                continue
            try:
                result = step.run(context)
            except BackendError as err:
                result = StepResult(ERROR, backend.describe_error(err, doing=step.doing))
            results[step.key] = result
            if result.status == ERROR:
                skip = result.skip_reason or "skipped"
    for result in results.values():
        for secret in SECRETS:
            assert secret not in result.message
    return context, results


def statuses(results: dict[str, StepResult]) -> list[str]:
    return [result.status for result in results.values()]


def all_ok(cf_api: CloudflareAPIMock, **zone: Any) -> None:
    cf_api.add_verify_ok()
    cf_api.add_zone_ok(**zone)
    cf_api.add_purge_ok()


# -- the whole run ------------------------------------------------------------------------


def test_everything_passes(cf_api: CloudflareAPIMock) -> None:
    all_ok(cf_api, permissions=["#zone:read", "#cache_purge:edit"])
    context, results = run(TOKEN_VALUES)
    assert statuses(results) == [OK, OK, OK]
    assert results["credentials"].message == "The API token is active, no expiry."
    assert results["zone"].message == "Zone example.com (active, plan Free Website)."
    assert results["purge"].message == (
        "A test purge of https://example.com/__cfpurge_probe was accepted."
    )
    assert cf_api.paths() == [USER_VERIFY, GET_ZONE, PURGE]
    cf_api.assert_purged(files=["https://example.com/__cfpurge_probe"])
    assert context.remote is not None and context.remote.plan == "free"
    assert context.token_status == "active"


def test_a_failed_step_skips_the_rest_with_its_reason(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error()
    _, results = run(TOKEN_VALUES)
    assert statuses(results) == [ERROR, SKIPPED, SKIPPED]
    assert results["zone"].message == CREDENTIALS_REFUSED
    assert results["purge"].message == CREDENTIALS_REFUSED


# -- credentials -------------------------------------------------------------------------


def _in_days(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("verify", "status", "words"),
    [
        (
            {"expires_on": "2099-02-03T04:05:06Z"},
            OK,
            "The API token is active, expires 2099-02-03.",
        ),
        ({"expires_on": _in_days(EXPIRY_WARNING_DAYS - 1)}, WARNING, "roll it before then"),
        ({"expires_on": _in_days(-1)}, ERROR, "The API token expired on"),
        ({"status": "expired"}, ERROR, "The API token expired. Roll it"),
        ({"status": "disabled"}, ERROR, "The API token is disabled"),
        ({"not_before": _in_days(2)}, ERROR, "The API token is not valid before"),
    ],
)
def test_the_token_state(cf_api: CloudflareAPIMock, verify: dict[str, Any], status, words) -> None:
    cf_api.add_verify_ok(**verify)
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    _, results = run(TOKEN_VALUES)
    assert results["credentials"].status == status
    assert words in results["credentials"].message
    if status == ERROR:
        assert results["zone"] == StepResult(SKIPPED, CREDENTIALS_REFUSED)


def test_a_global_key_is_checked_with_the_zone_and_warned_about(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    _, results = run(KEY_VALUES)
    assert statuses(results) == [WARNING, OK, OK]
    assert "legacy email + Global API Key" in results["credentials"].message
    assert cf_api.paths() == [GET_ZONE, PURGE]


def test_an_account_token_without_account_id_is_verified_at_the_zones_account(
    cf_api: CloudflareAPIMock,
) -> None:
    cf_api.add_zone_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID, expires_on="2099-01-01T00:00:00Z")
    cf_api.add_purge_ok()
    context, results = run(ACCOUNT_TOKEN_VALUES)
    assert statuses(results) == [OK, OK, OK]
    assert f"It is owned by the account {ACCOUNT_ID}." in results["credentials"].message
    assert context.account_id == ACCOUNT_ID
    # The zone is read once: the zone step uses what the credentials step learnt.
    assert cf_api.paths() == [GET_ZONE, ACCOUNT_VERIFY, PURGE]


def test_an_account_token_whose_account_cannot_be_learnt(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_zone_error(status=403, code=10000)
    _, results = run(ACCOUNT_TOKEN_VALUES)
    assert results["credentials"].status == WARNING
    assert "Purging does not need it" in results["credentials"].message
    # Never called invalid: the user endpoint was not asked about an account token.
    assert USER_VERIFY not in cf_api.paths()
    assert results["zone"].status == ERROR


def test_a_legacy_account_token_is_not_called_invalid(cf_api: CloudflareAPIMock) -> None:
    """1000 at the user endpoint, accepted at the account the zone belongs to."""
    cf_api.add_verify_error(status=401, code=1000, message="Invalid API Token")
    cf_api.add_zone_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    cf_api.add_purge_ok()
    context, results = run(TOKEN_VALUES)
    assert statuses(results) == [OK, OK, OK]
    assert "invalid" not in results["credentials"].message.lower()
    assert "rejected" not in results["credentials"].message.lower()
    assert context.account_id == ACCOUNT_ID
    assert cf_api.paths() == [USER_VERIFY, GET_ZONE, ACCOUNT_VERIFY, PURGE]


def test_a_token_refused_everywhere(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error()
    cf_api.add_zone_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_error(account_id=ACCOUNT_ID)
    _, results = run(TOKEN_VALUES)
    assert results["credentials"].status == ERROR
    assert results["credentials"].message.startswith(
        "Cloudflare rejected the API token: it is unknown, revoked or mistyped "
        "(HTTP 401, code 1000)."
    )
    assert cf_api.paths() == [USER_VERIFY, GET_ZONE, ACCOUNT_VERIFY]


def test_a_malformed_token_gets_the_clients_sentence(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_error(
        status=400,
        code=6003,
        message="Invalid request headers",
        error_chain=[(6111, "Invalid format for Authorization header")],
    )
    _, results = run(TOKEN_VALUES)
    message = results["credentials"].message
    assert "could not read the API token" in message
    assert "without spaces, quotes or the word “Bearer”" in message


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Retry-After": "3"}, "Try again in 3 s."),
        ({"Retry-After": "inf"}, "Purges are not lost meanwhile"),
        ({}, "Purges are not lost meanwhile"),
    ],
)
def test_rate_limited_while_verifying(
    cf_api: CloudflareAPIMock, headers: dict[str, str], words: str
) -> None:
    cf_api.add_verify_error(status=429, code=971, message="Please wait", headers=headers)
    _, results = run(TOKEN_VALUES)
    result = results["credentials"]
    assert result.status == ERROR
    assert result.message.startswith(
        "Cloudflare is rate-limiting this account's API requests (verifying the token; "
        "HTTP 429, code 971)."
    )
    assert words in result.message
    assert result.skip_reason == "Skipped: the credentials could not be checked."


def test_unreachable_while_verifying(cf_api: CloudflareAPIMock) -> None:
    cf_api.mock.add(
        "GET",
        cf_api.url("/user/tokens/verify"),
        body=requests.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
    )
    _, results = run(TOKEN_VALUES)
    assert results["credentials"].message == (
        "Could not connect to Cloudflare's API at api.cloudflare.com: connection refused "
        "(verifying the token). Check this server's outbound network access (firewall, proxy, "
        "DNS) and CFPURGE['API_URL'] (https://api.cloudflare.com/client/v4)."
    )


# -- the zone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "status", "words"),
    [
        ({}, OK, "Zone example.com (active, plan Free Website)."),
        ({"plan": "enterprise"}, OK, "plan Enterprise Website"),
        ({"status": "pending"}, WARNING, "The zone's status is “pending”"),
        ({"paused": True}, WARNING, "The zone is paused"),
        ({"permissions": ["#zone:read"]}, WARNING, "does not list the Cache Purge permission"),
        ({"permissions": ["#zone:read", "#cache_purge:edit"]}, OK, "(active, plan Free Website)"),
    ],
)
def test_the_zone(cf_api: CloudflareAPIMock, zone: dict[str, Any], status, words) -> None:
    all_ok(cf_api, **zone)
    _, results = run(TOKEN_VALUES)
    assert results["zone"].status == status
    assert words in results["zone"].message
    assert results["purge"].status == OK


def test_a_zone_the_token_cannot_read(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok()
    cf_api.add_zone_error(status=403, code=10000)
    _, results = run(TOKEN_VALUES)
    zone = results["zone"]
    assert zone.status == ERROR
    assert ZONE_ID in zone.message
    assert "(HTTP 403, code 10000)" in zone.message
    assert "the token's Zone Resources" in zone.message
    assert results["purge"] == StepResult(SKIPPED, "Skipped: the zone could not be read.")
    assert PURGE not in cf_api.paths()


@pytest.mark.parametrize(
    ("status", "code", "chain", "words"),
    [
        (403, 10000, None, "does not let this account reach the zone"),
        (403, 9109, None, "the email belongs to another account"),
        (404, 7003, None, "Usually the Account ID or another ID was pasted as the Zone ID"),
        (403, 9103, None, "check the account email and copy the Global API Key again"),
        (
            400,
            6003,
            [(6103, "Invalid format for X-Auth-Key header")],
            "(HTTP 400, codes 6003, 6103)",
        ),
    ],
)
def test_a_zone_the_global_key_cannot_read(
    cf_api: CloudflareAPIMock, status: int, code: int, chain: Any, words: str
) -> None:
    cf_api.add_zone_error(status=status, code=code, message="Refused", error_chain=chain)
    _, results = run(KEY_VALUES)
    message = results["zone"].message
    assert results["zone"].status == ERROR
    assert words in message
    assert "Zone Resources" not in message
    assert not re.search(r"\btoken\b", message, re.IGNORECASE)


def test_a_server_error_reading_the_zone(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok()
    cf_api.add_zone_error(status=500, code=1012, message="Request failed")
    _, results = run(TOKEN_VALUES)
    assert results["zone"].message == (
        "Cloudflare answered with a temporary server error (reading the zone; HTTP 500, "
        "code 1012); try again in a few minutes."
    )


# -- the purge permission --------------------------------------------------------------------


def test_a_token_without_the_purge_permission(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    _, results = run(TOKEN_VALUES)
    assert results["purge"].status == ERROR
    assert "it needs Zone → Cache Purge → Purge on this zone (HTTP 403, code 10000)" in (
        results["purge"].message
    )


def test_a_global_key_refused_the_purge_hears_no_word_about_a_token(
    cf_api: CloudflareAPIMock,
) -> None:
    cf_api.add_zone_ok()
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    _, results = run(KEY_VALUES)
    message = results["purge"].message
    assert results["purge"].status == ERROR
    assert "Global API Key" in message
    assert not re.search(r"\btoken\b", message, re.IGNORECASE)


def test_rate_limited_during_the_test_purge(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    cf_api.add_rate_limited(retry_after=20)
    _, results = run(TOKEN_VALUES)
    assert "(the test purge; HTTP 429, code 1134). Try again in 20 s." in results["purge"].message


def test_the_probe_can_be_switched_off(cf_api: CloudflareAPIMock) -> None:
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    with override_settings(CFPURGE={"PROBE_PURGE": "no"}):
        _, results = run(TOKEN_VALUES)
    assert results["purge"] == StepResult(SKIPPED, "Skipped: CFPURGE['PROBE_PURGE'] is False.")
    assert PURGE not in cf_api.paths()


def test_the_probe_path_is_a_setting(cf_api: CloudflareAPIMock) -> None:
    all_ok(cf_api, name="static.example.org")
    with override_settings(CFPURGE={"PROBE_PATH": "health/probe.txt"}):
        _, results = run(TOKEN_VALUES)
    cf_api.assert_purged(files=["https://static.example.org/health/probe.txt"])
    assert results["purge"].status == OK


# -- sentences --------------------------------------------------------------------------------


def test_cited_names_status_and_codes_only() -> None:
    err = AuthenticationFailed("x", status_code=403, errors=())
    assert cited(err) == "HTTP 403"
    err = AuthenticationFailed(
        "x", status_code=400, errors=(ApiMessage(6111, API_TOKEN), ApiMessage(6003, "y"))
    )
    assert cited(err) == "HTTP 400, codes 6003, 6111"
    assert cited(NetworkError("down")) == "NetworkError"


def test_describe() -> None:
    assert describe(RateLimited("x", status_code=429, retry_after=0.2), doing="d").endswith(
        "Try again in 1 s. Purges are not lost meanwhile: they wait and are retried."
    )
    assert "temporary server error (d; HTTP 502)" in describe(
        ServerError("x", status_code=502), doing="d"
    )
    assert describe(NetworkError("x", reason="Timed out"), doing="d").startswith("Timed out (d).")
    assert describe(InvalidResponse("As it was."), doing="d") == "As it was."
