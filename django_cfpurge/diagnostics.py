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
from django.utils.translation import gettext, ngettext

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
        zone = self.zone_name or self.zone
        if self.plan:
            return gettext("Connected to zone %(zone)s, plan %(plan)s.") % {
                "zone": zone,
                "plan": self.plan,
            }
        return gettext("Connected to zone %(zone)s.") % {"zone": zone}


def _cited(err: CfPurgeError) -> str:
    """What Cloudflare answered, as status and error codes only ("HTTP 403, code 10000"):
    enough to look the error up, without repeating the client's own sentence."""
    parts = []
    status = getattr(err, "status_code", None)
    if status:
        parts.append(f"HTTP {status}")
    codes = sorted(getattr(err, "codes", ()) or ())
    if codes:
        parts.append(
            # Translators: Cloudflare's numeric error codes, e.g. "code 10000" or
            # "codes 1000, 9109".
            ngettext("code %(codes)s", "codes %(codes)s", len(codes))
            % {"codes": ", ".join(map(str, codes))}
        )
    return ", ".join(parts) or type(err).__name__


def _describe_api_error(err: CfPurgeError, *, doing: str) -> str:
    """A sentence for the errors every step can meet (network, 429, 5xx, bad answers).

    ``doing`` is what the step was doing, already translated; it is shown in parentheses.
    """
    if isinstance(err, CloudflareRateLimited):
        values = {"doing": doing, "cited": _cited(err)}
        if err.retry_after:
            values["seconds"] = str(math.ceil(err.retry_after))
            return (
                gettext(
                    "Cloudflare is rate-limiting this account's API requests (%(doing)s; "
                    "%(cited)s). Try again in %(seconds)s s. Purges are not lost meanwhile: "
                    "they wait and are retried."
                )
                % values
            )
        return (
            gettext(
                "Cloudflare is rate-limiting this account's API requests (%(doing)s; "
                "%(cited)s). Purges are not lost meanwhile: they wait and are retried."
            )
            % values
        )
    if isinstance(err, CloudflareServerError):
        return gettext(
            "Cloudflare answered with a temporary server error (%(doing)s; %(cited)s); "
            "try again in a few minutes."
        ) % {"doing": doing, "cited": _cited(err)}
    if isinstance(err, CloudflareNetworkError):
        return gettext(
            "%(reason)s (%(doing)s). Check this server's outbound network access (firewall, "
            "proxy, DNS) and CFPURGE['API_URL'] (%(api_url)s)."
        ) % {"doing": doing, "reason": err.reason or err, "api_url": get_setting("API_URL")}
    # Answers that did not come from Cloudflare: the client's sentence says what
    # came back and what to check.
    return str(err)


#: Codes that mean the credential could not be read at all (not: unknown or revoked).
_MALFORMED_CREDENTIAL_CODES = frozenset({6003, 6102, 6103, 6111, 9106})


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
        # Set when Cloudflare could not be asked about the credentials (network, 429…).
        self._credentials_unchecked = False

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
            ("credentials", gettext("Credentials")),
            ("zone", gettext("Zone")),
            ("purge", gettext("Purge permission")),
        ]
        values_label = gettext("Values")
        try:
            credentials = credentials_for(self.zone)
        except InvalidCredentials as err:
            self.add("local", values_label, ERROR, str(err))
            self.skip_rest(later, gettext("Skipped: fix the values first."))
            return self.report
        values = resolved_credentials_values(self.zone)
        if values["zone_id"].strip().lower() == values["account_id"].strip().lower():
            self.add(
                "local",
                values_label,
                ERROR,
                gettext(
                    "The Zone ID and the Account ID are the same value. The Account ID was "
                    "probably pasted as the Zone ID: copy the Zone ID from the zone's Overview "
                    "page, section “API” (the first of the two IDs)."
                ),
            )
            self.skip_rest(later, gettext("Skipped: fix the values first."))
            return self.report
        self.add("local", values_label, OK, gettext("The Zone ID and credentials are well-formed."))
        client = self.client_factory(credentials)
        try:
            if not self._check_credentials(client, credentials):
                reason = (
                    gettext("Skipped: the credentials could not be checked.")
                    if self._credentials_unchecked
                    else gettext("Skipped: the credentials were not accepted.")
                )
                self.skip_rest(later[1:], reason)
                return self.report
            zone_name = self._check_zone(client, credentials)
            if zone_name is None:
                self.skip_rest(later[2:], gettext("Skipped: the zone could not be read."))
                return self.report
            self._check_purge(client, zone_name)
        finally:
            getattr(client, "close", lambda: None)()
        return self.report

    # -- steps ----------------------------------------------------------------------
    def _check_credentials(self, client: Any, credentials: Credentials) -> bool:
        label = gettext("Credentials")
        if credentials.auth_kind != "token":
            self.add(
                "credentials",
                label,
                WARNING,
                gettext(
                    "Using the legacy email + Global API Key, which can do anything on the "
                    "account. It is checked with the zone below. An API token limited to Zone → "
                    "Cache Purge → Purge is safer."
                ),
            )
            return True
        try:
            token = client.verify_token()
        except CloudflareAuthError as err:
            if err.codes & _MALFORMED_CREDENTIAL_CODES:
                # Cloudflare could not even read the header: the client's message says
                # what is wrong with the value (a quote, "Bearer", a line break…).
                self.add("credentials", label, ERROR, str(err))
                return False
            if credentials.is_account_token or credentials.account_id:
                message = gettext(
                    "Cloudflare rejected the API token: it is unknown, revoked or mistyped "
                    "(%(cited)s). If this is an account-owned token, check that the Account ID "
                    "is right. Create a new token under My Profile → API Tokens."
                )
            else:
                message = gettext(
                    "Cloudflare rejected the API token: it is unknown, revoked or mistyped "
                    "(%(cited)s). Create a new token under My Profile → API Tokens."
                )
            self.add("credentials", label, ERROR, message % {"cited": _cited(err)})
            return False
        except CfPurgeError as err:
            # Translators: what Test connection was doing, shown in parentheses in a sentence.
            doing = gettext("verifying the token")
            self.add("credentials", label, ERROR, _describe_api_error(err, doing=doing))
            self._credentials_unchecked = bool(getattr(err, "transient", False))
            return False
        self.report.token_status = token.status
        self.report.token_expires_on = token.expires_on
        now = timezone.now()
        if token.status == "expired" or (token.expires_on and token.expires_on <= now):
            if token.expires_on:
                message = gettext(
                    "The API token expired on %(date)s. Roll it or create a new one in the "
                    "Cloudflare dashboard (My Profile → API Tokens) and paste it here."
                ) % {"date": f"{token.expires_on:%Y-%m-%d}"}
            else:
                message = gettext(
                    "The API token expired. Roll it or create a new one in the Cloudflare "
                    "dashboard (My Profile → API Tokens) and paste it here."
                )
            self.add("credentials", label, ERROR, message)
            return False
        if token.status == "disabled":
            self.add(
                "credentials",
                label,
                ERROR,
                gettext(
                    "The API token is disabled. Enable it again in the Cloudflare dashboard "
                    "(My Profile → API Tokens) or create a new one."
                ),
            )
            return False
        if token.not_before and token.not_before > now:
            self.add(
                "credentials",
                label,
                ERROR,
                gettext("The API token is not valid before %(when)s UTC.")
                % {"when": f"{token.not_before:%Y-%m-%d %H:%M}"},
            )
            return False
        if token.expires_on and token.expires_on <= now + timedelta(days=EXPIRY_WARNING_DAYS):
            self.add(
                "credentials",
                label,
                WARNING,
                gettext(
                    "The API token is active but expires on %(date)s: roll it before then or "
                    "purging will stop."
                )
                % {"date": f"{token.expires_on:%Y-%m-%d}"},
            )
            return True
        if token.expires_on:
            message = gettext("The API token is active, expires %(date)s.") % {
                "date": f"{token.expires_on:%Y-%m-%d}"
            }
        else:
            message = gettext("The API token is active, no expiry.")
        self.add("credentials", label, OK, message)
        return True

    def _check_zone(self, client: Any, credentials: Credentials) -> str | None:
        label = gettext("Zone")
        try:
            info = client.get_zone()
        except (CloudflareZoneNotFound, CloudflareAuthError) as err:
            if (
                credentials.auth_kind != "token"
                and isinstance(err, CloudflareAuthError)
                and (err.codes & {9103, 6003, 6103, 6102})
            ):
                message = gettext(
                    "Cloudflare rejected the email + Global API Key: check the account email and "
                    "copy the Global API Key again (%(cited)s)."
                ) % {"cited": _cited(err)}
            else:
                message = gettext(
                    "Cloudflare does not give these credentials access to the zone "
                    "%(zone_id)s (%(cited)s). Usually the Account ID or another ID was pasted "
                    "as the Zone ID, or the token is limited to other zones: copy the Zone ID "
                    "from the zone's Overview page, section “API”, and check the token's Zone "
                    "Resources."
                ) % {"zone_id": credentials.zone_id, "cited": _cited(err)}
            self.add("zone", label, ERROR, message)
            return None
        except CfPurgeError as err:
            # Translators: what Test connection was doing, shown in parentheses in a sentence.
            doing = gettext("reading the zone")
            self.add("zone", label, ERROR, _describe_api_error(err, doing=doing))
            return None
        self.report.zone_name = info.name
        self.report.zone_status = info.status
        self.report.plan = info.plan_legacy_id
        if info.plan_legacy_id:
            sentences = [
                gettext("Zone %(name)s (%(status)s, plan %(plan)s).")
                % {
                    "name": info.name,
                    "status": info.status,
                    "plan": info.plan_name or info.plan_legacy_id,
                }
            ]
        else:
            sentences = [
                gettext("Zone %(name)s (%(status)s).") % {"name": info.name, "status": info.status}
            ]
        status = OK
        if info.status != "active":
            status = WARNING
            sentences.append(
                gettext(
                    "The zone's status is “%(status)s”: Cloudflare serves and caches it only "
                    "once active."
                )
                % {"status": info.status}
            )
        if info.paused:
            status = WARNING
            sentences.append(gettext("The zone is paused: Cloudflare does not cache it now."))
        if info.permissions is not None and PURGE_PERMISSION not in info.permissions:
            status = WARNING
            sentences.append(
                gettext(
                    "Cloudflare does not list the Cache Purge permission for these credentials; "
                    "the purge test below is the final word."
                )
            )
        self.add("zone", label, status, " ".join(sentences))
        return info.name

    def _check_purge(self, client: Any, zone_name: str) -> None:
        label = gettext("Purge permission")
        if not get_setting("PROBE_PURGE"):
            self.add("purge", label, SKIPPED, gettext("Skipped: CFPURGE['PROBE_PURGE'] is False."))
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
                gettext(
                    "Cloudflare rejected the API token: it needs Zone → Cache Purge → Purge on "
                    "this zone (%(cited)s). Edit the token's permissions in My Profile → API "
                    "Tokens."
                )
                % {"cited": _cited(err)},
            )
            return
        except CloudflareAPIError as err:
            # Translators: what Test connection was doing, shown in parentheses in a sentence.
            doing = gettext("the test purge")
            self.add("purge", label, ERROR, _describe_api_error(err, doing=doing))
            return
        self.add(
            "purge", label, OK, gettext("A test purge of %(url)s was accepted.") % {"url": url}
        )


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
