"""Test connection: ordered checks, each with one actionable message.

Shared by the admin (list action and per-zone button) and ``manage.py cfpurge test``.
The steps, in order:

1. ``local`` — the values' shape (Zone ID, token vs Global API Key, whitespace…);
2. ``credentials`` — the token is known, active and not expired (``tokens/verify``),
   or the email + Global API Key are accepted;
3. ``zone`` — the Zone ID names a zone these credentials can read;
4. ``purge`` — a purge of one harmless URL on the zone's own hostname proves the
   Cache Purge permission (switch off with ``CFPURGE["PROBE_PURGE"] = False``).

A step that cannot run because an earlier one failed is reported as skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from .conf import get_setting
from .credentials import Credentials
from .exceptions import (
    CfPurgeError,
    CloudflareAPIError,
    CloudflareAuthError,
    CloudflareNetworkError,
    CloudflareRateLimited,
    CloudflareServerError,
    CloudflareZoneNotFound,
    InvalidCredentials,
)
from .models import CloudflareZone

logger = logging.getLogger(__name__)

OK, WARNING, ERROR, SKIPPED = "ok", "warning", "error", "skipped"
#: Days before a token's expiry from which Test connection warns.
EXPIRY_WARNING_DAYS = 14
PURGE_PERMISSION = "#cache_purge:edit"


@dataclass
class StepResult:
    """The outcome of one step: ``status`` is ok, warning, error or skipped."""

    key: str
    label: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        """True for ok and warning."""
        return self.status in (OK, WARNING)


@dataclass
class TestReport:
    """All steps of one Test connection, and what was learnt about the zone."""

    zone: str
    steps: list[StepResult] = field(default_factory=list)
    zone_name: str = ""
    zone_status: str = ""
    plan: str = ""
    token_status: str = ""
    token_expires_on: datetime | None = None
    tested_at: datetime = field(default_factory=timezone.now)

    __test__ = False  # not a pytest test class

    @property
    def ok(self) -> bool:
        """True when no step failed."""
        return all(step.status != ERROR for step in self.steps)

    @property
    def failures(self) -> list[StepResult]:
        """The failed steps."""
        return [step for step in self.steps if step.status == ERROR]

    def as_dicts(self) -> list[dict[str, str]]:
        """The steps as JSON-friendly dicts (stored on the zone)."""
        return [asdict(step) for step in self.steps]

    def summary(self) -> str:
        """One line: the first failure, or what was verified."""
        if self.failures:
            return self.failures[0].message
        bits = [f"Connected to zone {self.zone_name or self.zone}"]
        if self.plan:
            bits.append(f"plan {self.plan}")
        return ", ".join(bits) + "."


def _cited(err: CfPurgeError) -> str:
    """What Cloudflare answered, as status and error codes only ("HTTP 403, code 10000"):
    enough to look the error up, without repeating the client's own sentence."""
    parts = []
    status = getattr(err, "status_code", None)
    if status:
        parts.append(f"HTTP {status}")
    codes = sorted(getattr(err, "codes", ()) or ())
    if codes:
        parts.append(("code " if len(codes) == 1 else "codes ") + ", ".join(map(str, codes)))
    return ", ".join(parts) or type(err).__name__


def _describe_api_error(err: CfPurgeError, *, doing: str) -> str:
    """A sentence for the errors every step can meet (network, 429, 5xx, bad answers)."""
    if isinstance(err, CloudflareRateLimited):
        wait = f" Try again in {math.ceil(err.retry_after)} s." if err.retry_after else ""
        return (
            f"Cloudflare is rate-limiting this account's API requests ({doing}; "
            f"{_cited(err)}).{wait} Purges are not lost meanwhile: they wait and are retried."
        )
    if isinstance(err, CloudflareServerError):
        return (
            f"Cloudflare answered with a temporary server error ({doing}; {_cited(err)}); "
            "try again in a few minutes."
        )
    if isinstance(err, CloudflareNetworkError):
        return (
            f"Could not reach the Cloudflare API ({doing}): {err.reason or err}. Check this "
            "server's outbound network access (firewall, proxy, DNS) and "
            f"CFPURGE['API_URL'] ({get_setting('API_URL')})."
        )
    # Answers that did not come from Cloudflare: the client's sentence says what
    # came back and what to check.
    return str(err)


class ConnectionTest:
    """Runs the steps for one zone. ``client_factory`` builds the Cloudflare client."""

    def __init__(
        self, zone: CloudflareZone, *, client_factory: Callable[..., Any] | None = None
    ) -> None:
        if client_factory is None:
            from .drain import default_client_factory

            client_factory = default_client_factory()
        self.zone = zone
        self.client_factory = client_factory
        self.report = TestReport(zone=zone.name)

    def add(self, key: str, label: str, status: str, message: str) -> StepResult:
        step = StepResult(key=key, label=label, status=status, message=message)
        self.report.steps.append(step)
        return step

    def skip_rest(self, keys: list[tuple[str, str]], reason: str) -> None:
        for key, label in keys:
            self.add(key, label, SKIPPED, reason)

    def run(self) -> TestReport:
        """Run every step and return the report (nothing is saved)."""
        from .zones import credentials_for, resolved_credentials_values

        later = [
            ("credentials", "Credentials"),
            ("zone", "Zone"),
            ("purge", "Purge permission"),
        ]
        try:
            credentials = credentials_for(self.zone)
        except InvalidCredentials as err:
            self.add("local", "Values", ERROR, str(err))
            self.skip_rest(later, "Skipped: fix the values first.")
            return self.report
        values = resolved_credentials_values(self.zone)
        if values["zone_id"].strip().lower() == values["account_id"].strip().lower():
            self.add(
                "local",
                "Values",
                ERROR,
                "The Zone ID and the Account ID are the same value. The Account ID was probably "
                "pasted as the Zone ID: copy the Zone ID from the zone's Overview page, section "
                "“API” (the first of the two IDs).",
            )
            self.skip_rest(later, "Skipped: fix the values first.")
            return self.report
        self.add("local", "Values", OK, "The Zone ID and credentials are well-formed.")
        client = self.client_factory(credentials)
        try:
            if not self._check_credentials(client, credentials):
                self.skip_rest(later[1:], "Skipped: the credentials were not accepted.")
                return self.report
            zone_name = self._check_zone(client, credentials)
            if zone_name is None:
                self.skip_rest(later[2:], "Skipped: the zone could not be read.")
                return self.report
            self._check_purge(client, zone_name)
        finally:
            getattr(client, "close", lambda: None)()
        return self.report

    # -- steps ----------------------------------------------------------------------
    def _check_credentials(self, client: Any, credentials: Credentials) -> bool:
        label = "Credentials"
        if credentials.auth_kind != "token":
            self.add(
                "credentials",
                label,
                WARNING,
                "Using the legacy email + Global API Key, which can do anything on the account. "
                "It is checked with the zone below. An API token limited to Zone → Cache Purge → "
                "Purge is safer.",
            )
            return True
        try:
            token = client.verify_token()
        except CloudflareAuthError as err:
            hint = ""
            if credentials.is_account_token or credentials.account_id:
                hint = " If this is an account-owned token, check that the Account ID is right."
            self.add(
                "credentials",
                label,
                ERROR,
                "Cloudflare rejected the API token: it is unknown, revoked or mistyped "
                f"({_cited(err)}).{hint} Create a new token under My Profile → API Tokens.",
            )
            return False
        except CfPurgeError as err:
            self.add(
                "credentials", label, ERROR, _describe_api_error(err, doing="verifying the token")
            )
            return False
        self.report.token_status = token.status
        self.report.token_expires_on = token.expires_on
        now = timezone.now()
        if token.status == "expired" or (token.expires_on and token.expires_on <= now):
            when = f" on {token.expires_on:%Y-%m-%d}" if token.expires_on else ""
            self.add(
                "credentials",
                label,
                ERROR,
                f"The API token expired{when}. Roll it or create a new one in the Cloudflare "
                "dashboard (My Profile → API Tokens) and paste it here.",
            )
            return False
        if token.status == "disabled":
            self.add(
                "credentials",
                label,
                ERROR,
                "The API token is disabled. Enable it again in the Cloudflare dashboard "
                "(My Profile → API Tokens) or create a new one.",
            )
            return False
        if token.not_before and token.not_before > now:
            self.add(
                "credentials",
                label,
                ERROR,
                f"The API token is not valid before {token.not_before:%Y-%m-%d %H:%M} UTC.",
            )
            return False
        if token.expires_on and token.expires_on <= now + timedelta(days=EXPIRY_WARNING_DAYS):
            self.add(
                "credentials",
                label,
                WARNING,
                f"The API token is active but expires on {token.expires_on:%Y-%m-%d}: roll it "
                "before then or purging will stop.",
            )
            return True
        expiry = f", expires {token.expires_on:%Y-%m-%d}" if token.expires_on else ", no expiry"
        self.add("credentials", label, OK, f"The API token is active{expiry}.")
        return True

    def _check_zone(self, client: Any, credentials: Credentials) -> str | None:
        label = "Zone"
        try:
            info = client.get_zone()
        except (CloudflareZoneNotFound, CloudflareAuthError) as err:
            if (
                credentials.auth_kind != "token"
                and isinstance(err, CloudflareAuthError)
                and (err.codes & {9103, 6003, 6103, 6102})
            ):
                message = (
                    "Cloudflare rejected the email + Global API Key: check the account email and "
                    f"copy the Global API Key again ({_cited(err)})."
                )
            else:
                message = (
                    f"Cloudflare does not give these credentials access to the zone "
                    f"{credentials.zone_id} ({_cited(err)}). Usually the Account ID or another "
                    "ID was pasted as the Zone ID, or the token is limited to other zones: copy "
                    "the Zone ID from the zone's Overview page, section “API”, and check the "
                    "token's Zone Resources."
                )
            self.add("zone", label, ERROR, message)
            return None
        except CfPurgeError as err:
            self.add("zone", label, ERROR, _describe_api_error(err, doing="reading the zone"))
            return None
        self.report.zone_name = info.name
        self.report.zone_status = info.status
        self.report.plan = info.plan_legacy_id
        notes = []
        status = OK
        if info.status != "active":
            status = WARNING
            notes.append(
                f"The zone's status is “{info.status}”: Cloudflare serves and caches it only "
                "once active."
            )
        if info.paused:
            status = WARNING
            notes.append("The zone is paused: Cloudflare does not cache it now.")
        if info.permissions is not None and PURGE_PERMISSION not in info.permissions:
            status = WARNING
            notes.append(
                "Cloudflare does not list the Cache Purge permission for these credentials; "
                "the purge test below is the final word."
            )
        plan = f", plan {info.plan_name or info.plan_legacy_id}" if info.plan_legacy_id else ""
        self.add(
            "zone", label, status, " ".join([f"Zone {info.name} ({info.status}{plan}).", *notes])
        )
        return info.name

    def _check_purge(self, client: Any, zone_name: str) -> None:
        label = "Purge permission"
        if not get_setting("PROBE_PURGE"):
            self.add("purge", label, SKIPPED, "Skipped: CFPURGE['PROBE_PURGE'] is False.")
            return
        path = str(get_setting("PROBE_PATH") or "/__cfpurge_probe")
        url = f"https://{zone_name}{path if path.startswith('/') else '/' + path}"
        try:
            client.purge_request("files", [url])
        except CloudflareAuthError as err:
            self.add(
                "purge",
                label,
                ERROR,
                "Cloudflare rejected the API token: it needs Zone → Cache Purge → Purge on this "
                f"zone ({_cited(err)}). Edit the token's permissions in My Profile → API Tokens.",
            )
            return
        except CloudflareAPIError as err:
            self.add("purge", label, ERROR, _describe_api_error(err, doing="the test purge"))
            return
        self.add("purge", label, OK, f"A test purge of {url} was accepted.")


def run_connection_test(
    zone: CloudflareZone,
    *,
    save: bool = True,
    client_factory: Callable[..., Any] | None = None,
) -> TestReport:
    """Test ``zone``'s connection; store the result on the zone when ``save``.

    A passing test makes the zone's purges that waited for a fix due again.
    """
    report = ConnectionTest(zone, client_factory=client_factory).run()
    if save:
        store_report(zone, report)
    return report


def store_report(zone: CloudflareZone, report: TestReport) -> None:
    """Save a report's outcome on the zone (no secret is part of a report)."""
    zone.last_test_at = report.tested_at
    zone.last_test_ok = report.ok
    zone.last_test_steps = report.as_dicts()
    if report.zone_name:
        zone.cf_zone_name = report.zone_name
        zone.cf_zone_status = report.zone_status
    if report.plan:
        zone.plan = report.plan
    # What this test learnt about the token, or nothing: a rejected or replaced token's
    # old status and expiry must not stay on show as if they were current.
    zone.token_status = report.token_status
    zone.token_expires_on = report.token_expires_on
    CloudflareZone.objects.filter(pk=zone.pk).update(
        last_test_at=zone.last_test_at,
        last_test_ok=zone.last_test_ok,
        last_test_steps=zone.last_test_steps,
        cf_zone_name=zone.cf_zone_name,
        cf_zone_status=zone.cf_zone_status,
        plan=zone.plan,
        token_status=zone.token_status,
        token_expires_on=zone.token_expires_on,
    )
    if report.ok:
        from .outbox import requeue_zone

        requeue_zone(zone)
