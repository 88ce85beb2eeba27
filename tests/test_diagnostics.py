"""Test connection at the wire: each failure gives its one actionable message."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.testing import make_zone
from tests.cfapi import ACCOUNT_API_TOKEN, ACCOUNT_ID, API_TOKEN, GLOBAL_API_KEY, ZONE_ID

pytestmark = pytest.mark.django_db


def statuses(report):
    return [(s.key, s.status) for s in report.steps]


def message(report, key):
    return next(s.message for s in report.steps if s.key == key)


@pytest.fixture
def zone():
    return make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN, plan="")


def test_everything_passes(cf_api, zone):
    cf_api.add_verify_ok(expires_on=timezone.now() + timedelta(days=200))
    cf_api.add_zone_ok(plan="pro", permissions=["#zone:read", "#cache_purge:edit"])
    cf_api.add_purge_ok()
    report = run_connection_test(zone)
    assert report.ok
    assert statuses(report) == [
        ("local", "ok"),
        ("credentials", "ok"),
        ("zone", "ok"),
        ("purge", "ok"),
    ]
    cf_api.assert_purged(files=["https://example.com/__cfpurge_probe"])
    zone.refresh_from_db()
    assert zone.last_test_ok is True
    assert zone.plan == "pro"
    assert zone.remote_name == "example.com"
    assert zone.token_expires_on is not None
    assert [s["key"] for s in zone.last_test_steps] == ["local", "credentials", "zone", "purge"]


def test_wrong_token(cf_api, zone):
    cf_api.add_verify_error(401, 1000, "Invalid API Token")
    # Before calling the token invalid, Test connection looks for the account that may own
    # it (an older account-owned token looks like a user token): the zone cannot be read.
    cf_api.add_zone_error(status=401, code=1000, message="Invalid API Token")
    report = run_connection_test(zone)
    assert not report.ok
    assert statuses(report)[1:] == [
        ("credentials", "error"),
        ("zone", "skipped"),
        ("purge", "skipped"),
    ]
    assert message(report, "credentials").startswith("Cloudflare rejected the API token")
    assert "1000" in message(report, "credentials")
    assert cf_api.paths() == ["GET /user/tokens/verify", f"GET /zones/{ZONE_ID}"]


def test_legacy_account_token_is_verified_at_the_account_learnt_from_the_zone(cf_api, zone):
    cf_api.add_verify_error(401, 1000, "Invalid API Token")
    cf_api.add_zone_ok(account_id=ACCOUNT_ID)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    cf_api.add_purge_ok()
    report = run_connection_test(zone)
    assert report.ok, report.as_dicts()
    assert "owned by the account" in message(report, "credentials")
    assert cf_api.paths() == [
        "GET /user/tokens/verify",
        f"GET /zones/{ZONE_ID}",
        f"GET /accounts/{ACCOUNT_ID}/tokens/verify",
        f"POST /zones/{ZONE_ID}/purge_cache",
    ]
    zone.refresh_from_db()
    assert zone.remote_account_id == ACCOUNT_ID


def test_token_without_cache_purge(cf_api, zone):
    cf_api.add_verify_ok()
    cf_api.add_zone_ok(permissions=["#zone:read"])
    cf_api.add_purge_error(status=403, code=10000, message="Authentication error")
    report = run_connection_test(zone)
    assert statuses(report) == [
        ("local", "ok"),
        ("credentials", "ok"),
        ("zone", "warning"),
        ("purge", "error"),
    ]
    assert "needs Zone → Cache Purge → Purge on this zone" in message(report, "purge")
    assert "does not list the Cache Purge permission" in message(report, "zone")


def test_account_id_pasted_as_zone_id(cf_api):
    zone = make_zone("example.com", zone_id=ACCOUNT_ID, api_token=API_TOKEN)
    cf_api.add_verify_ok()
    cf_api.add_zone_error(ACCOUNT_ID, 403, 10000, "Authentication error")
    report = run_connection_test(zone)
    assert statuses(report)[2:] == [("zone", "error"), ("purge", "skipped")]
    assert "Account ID or another ID was pasted as the Zone ID" in message(report, "zone")


def test_account_id_equal_to_zone_id_is_caught_locally(cf_api):
    zone = make_zone("example.com", zone_id=ACCOUNT_ID, account_id=ACCOUNT_ID)
    report = run_connection_test(zone)
    assert statuses(report)[0] == ("local", "error")
    assert "Account ID was probably pasted as the Zone ID" in message(report, "local")
    assert cf_api.calls == []


def test_zone_not_found_404(cf_api, zone):
    cf_api.add_verify_ok()
    cf_api.add_zone_error(status=404, code=7003, message="Could not route to /zones/x")
    report = run_connection_test(zone)
    assert message(report, "zone").startswith("Cloudflare does not give these credentials access")


def test_expired_token(cf_api, zone):
    cf_api.add_verify_ok(status="expired", expires_on="2024-01-01T00:00:00Z")
    report = run_connection_test(zone)
    assert statuses(report)[1] == ("credentials", "error")
    assert message(report, "credentials").startswith("The API token expired on 2024-01-01")
    zone.refresh_from_db()
    assert zone.token_status == "expired"


def test_token_expiring_soon_warns(cf_api, zone):
    cf_api.add_verify_ok(expires_on=timezone.now() + timedelta(days=3))
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    report = run_connection_test(zone)
    assert report.ok
    assert statuses(report)[1] == ("credentials", "warning")
    assert "expires on" in message(report, "credentials")


def test_disabled_token(cf_api, zone):
    cf_api.add_verify_ok(status="disabled")
    report = run_connection_test(zone)
    assert message(report, "credentials").startswith("The API token is disabled")


def test_global_api_key_in_token_field(cf_api):
    zone = make_zone("example.com", api_token=GLOBAL_API_KEY)
    report = run_connection_test(zone)
    assert statuses(report)[0] == ("local", "error")
    assert message(report, "local").startswith("This is a Global API Key, not an API token")
    assert GLOBAL_API_KEY not in message(report, "local")
    assert cf_api.calls == []


def test_account_token_is_verified_at_the_account_endpoint(cf_api):
    zone = make_zone("example.com", api_token=ACCOUNT_API_TOKEN, account_id=ACCOUNT_ID)
    cf_api.add_verify_ok(account_id=ACCOUNT_ID)
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    assert run_connection_test(zone).ok
    assert cf_api.paths()[0] == f"GET /accounts/{ACCOUNT_ID}/tokens/verify"


def test_rate_limited(cf_api, zone):
    cf_api.add(
        "GET",
        "/user/tokens/verify",
        status=429,
        json={
            "success": False,
            "errors": [
                {"code": 971, "message": "Please wait and consider throttling your request speed"}
            ],
            "messages": [],
            "result": None,
        },
        headers={"Retry-After": "42"},
    )
    report = run_connection_test(zone)
    assert message(report, "credentials").startswith(
        "Cloudflare is rate-limiting this account's API requests"
    )
    assert "Try again in 42 s" in message(report, "credentials")


def test_network_down(cf_api, zone):
    cf_api.add(
        "GET",
        "/user/tokens/verify",
        body=requests.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
    )
    report = run_connection_test(zone)
    assert message(report, "credentials") == (
        "Could not connect to Cloudflare's API at api.cloudflare.com: connection refused "
        "(verifying the token). Check this server's outbound network access (firewall, proxy, "
        "DNS) and CFPURGE['API_URL'] (https://api.cloudflare.com/client/v4)."
    )
    assert message(report, "zone") == "Skipped: the credentials could not be checked."


def test_global_key_auth(cf_api):
    zone = make_zone(
        "example.com",
        auth_kind="global_key",
        api_token="",
        email="owner@example.com",
        api_key=GLOBAL_API_KEY,
    )
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    report = run_connection_test(zone)
    assert report.ok
    assert statuses(report)[1] == ("credentials", "warning")
    sent = cf_api.sent_requests()[0]
    assert sent.headers["X-Auth-Email"] == "owner@example.com"
    assert "Authorization" not in sent.headers


@override_settings(CFPURGE={"BASE_URLS": ["https://www.example.com"], "PROBE_PURGE": False})
def test_probe_can_be_switched_off(cf_api, zone):
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    report = run_connection_test(zone)
    assert report.ok
    assert statuses(report)[3] == ("purge", "skipped")
    assert cf_api.purge_bodies() == []


def test_passing_test_requeues_rows_that_waited_for_a_fix(cf_api, zone):
    row = PurgeRequest.objects.create(
        source="api",
        event="manual",
        status="failed",
        error_kind="auth",
        zone=zone,
        targets={"files": ["https://example.com/a.jpg"]},
    )
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    run_connection_test(zone)
    row.refresh_from_db()
    assert row.status == "pending" and row.attempts == 0


def test_command_output_and_exit_code(cf_api, zone, capsys):
    cf_api.add_verify_error(401, 1000, "Invalid API Token")
    with pytest.raises(CommandError) as exc:
        call_command("cfpurge", "test")
    assert exc.value.returncode == 1
    out = capsys.readouterr().out
    assert "[FAIL] Credentials: Cloudflare rejected the API token" in out
    assert "[SKIP] Zone" in out
    assert API_TOKEN not in out


def test_command_passes_with_exit_zero(cf_api, zone, capsys):
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    call_command("cfpurge", "test", "--zone", "example.com")
    out = capsys.readouterr().out
    assert out.count("[OK  ]") == 4


def test_command_unknown_zone(zone):
    with pytest.raises(CommandError, match="No zone named “nope”") as exc:
        call_command("cfpurge", "test", "--zone", "nope")
    assert exc.value.returncode == 2


def test_no_zone_at_all():
    assert not Zone.objects.exists()
    with pytest.raises(CommandError, match="No CDN zone is configured"):
        call_command("cfpurge", "test")
