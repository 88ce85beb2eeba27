"""Cloudflare's Test connection steps: the credentials, the zone, the purge permission.

1. :class:`VerifyCredentials` — the token is known, active and not expired
   (``tokens/verify``, at the account's endpoint for account-owned tokens), or the
   email + Global API Key are used (checked by the next step, with a warning);
2. :class:`ReadZone` — the Zone ID names a zone these credentials can read; learns its
   name, status, plan and account;
3. :class:`ProbePurge` — a purge of one harmless URL on the zone's own hostname proves
   the Cache Purge permission (``CFPURGE["PROBE_PURGE"] = False`` skips it).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from ...conf import get_bool, get_str
from ...exceptions import (
    AuthenticationFailed,
    BackendError,
    ZoneNotFound,
)
from ..base import Step as BaseStep
from ..base import StepResult, StepStatus, TestContext
from ..sentences import describe_error
from . import codes
from .client import CloudflareClient, TokenInfo, ZoneInfo
from .credentials import AUTH_TOKEN

if TYPE_CHECKING:  # pragma: no cover
    from . import CloudflareBackend

#: Days before a token's expiry from which Test connection warns.
EXPIRY_WARNING_DAYS = 14
OK, WARNING, ERROR = StepStatus.OK, StepStatus.WARNING, StepStatus.ERROR


def cited(err: BackendError) -> str:
    """What Cloudflare answered, as status and codes only ("HTTP 403, code 10000")."""
    parts = []
    if err.status_code:
        parts.append(f"HTTP {err.status_code}")
    found = sorted(err.codes, key=str)
    if found:
        parts.append(
            # Translators: Cloudflare's numeric error codes, e.g. "code 10000" or
            # "codes 1000, 9109".
            ngettext("code %(codes)s", "codes %(codes)s", len(found))
            % {"codes": ", ".join(map(str, found))}
        )
    return ", ".join(parts) or type(err).__name__


def describe(err: Exception, *, doing: str) -> str:
    """A sentence for the errors every step can meet (network, 429, 5xx, bad answers)."""
    return describe_error(err, doing=doing, service="Cloudflare", cited=cited, url_key="API_URL")


class Step(BaseStep):
    """A step of the Cloudflare backend (its client is ``context.backend.client``)."""

    def client(self, context: TestContext) -> CloudflareClient:
        backend: CloudflareBackend = context.backend  # type: ignore[assignment]
        return backend.client


class VerifyCredentials(Step):
    """The token is active and not expired; a Global API Key gets a warning."""

    key = "credentials"
    label = gettext_lazy("Credentials")
    doing = gettext_lazy("verifying the token")

    def run(self, context: TestContext) -> StepResult:
        client = self.client(context)
        creds = client.credentials
        if creds.auth_kind != AUTH_TOKEN:
            return StepResult(
                WARNING,
                gettext(
                    "Using the legacy email + Global API Key, which can do anything on the "
                    "account. It is checked with the zone below. An API token limited to Zone → "
                    "Cache Purge → Purge is safer."
                ),
            )

        def learn_account() -> str:
            return context.account_id or read_zone(context).remote.account_id

        if creds.is_account_token and not creds.account_id:
            with contextlib.suppress(BackendError):
                learn_account()
            if not context.account_id:
                return StepResult(
                    WARNING,
                    gettext(
                        "This account-owned token (cfat_…) can only be verified at its "
                        "account's endpoint, and the Account ID is neither entered nor readable "
                        "from the zone. Purging does not need it; enter the Account ID to see "
                        "the token's status and expiry here."
                    ),
                )
        try:
            token = client.verify_token(learn_account=learn_account)
        except AuthenticationFailed as err:
            return StepResult(ERROR, _refused_message(err), _skip_refused())
        except ZoneNotFound as err:
            return StepResult(ERROR, str(err), _skip_refused())
        except BackendError as err:
            return StepResult(
                ERROR,
                describe(err, doing=str(self.doing)),
                gettext("Skipped: the credentials could not be checked."),
            )
        context.token_status = token.status
        context.token_expires_on = token.expires_on
        if token.account_id:
            context.account_id = token.account_id
        return _token_result(token)


def _skip_refused() -> str:
    return gettext("Skipped: the credentials were not accepted.")


def _refused_message(err: AuthenticationFailed) -> str:
    if err.codes & codes.MALFORMED:
        # Cloudflare could not even read the header: the client's sentence says what is
        # wrong with the value (a quote, "Bearer", a line break…).
        return str(err)
    return gettext(
        "Cloudflare rejected the API token: it is unknown, revoked or mistyped (%(cited)s). "
        "Create a new token under My Profile → API Tokens (an account-owned token: under "
        "Manage Account → API Tokens, and enter the Account ID)."
    ) % {"cited": cited(err)}


def _token_result(token: TokenInfo) -> StepResult:
    now = timezone.now()
    date = f"{token.expires_on:%Y-%m-%d}" if token.expires_on else ""
    if token.status == "expired" or (token.expires_on and token.expires_on <= now):
        if date:
            message = gettext(
                "The API token expired on %(date)s. Roll it or create a new one in the "
                "Cloudflare dashboard (My Profile → API Tokens) and paste it here."
            ) % {"date": date}
        else:
            message = gettext(
                "The API token expired. Roll it or create a new one in the Cloudflare "
                "dashboard (My Profile → API Tokens) and paste it here."
            )
        return StepResult(ERROR, message, _skip_refused())
    if token.status == "disabled":
        return StepResult(
            ERROR,
            gettext(
                "The API token is disabled. Enable it again in the Cloudflare dashboard "
                "(My Profile → API Tokens) or create a new one."
            ),
            _skip_refused(),
        )
    if token.not_before and token.not_before > now:
        return StepResult(
            ERROR,
            gettext("The API token is not valid before %(when)s UTC.")
            % {"when": f"{token.not_before:%Y-%m-%d %H:%M}"},
            _skip_refused(),
        )
    owner = (
        gettext(" It is owned by the account %(account)s.") % {"account": token.account_id}
        if token.account_id
        else ""
    )
    if token.expires_on and token.expires_on <= now + timedelta(days=EXPIRY_WARNING_DAYS):
        return StepResult(
            WARNING,
            gettext(
                "The API token is active but expires on %(date)s: roll it before then or "
                "purging will stop."
            )
            % {"date": date}
            + owner,
        )
    if date:
        message = gettext("The API token is active, expires %(date)s.") % {"date": date}
    else:
        message = gettext("The API token is active, no expiry.")
    return StepResult(OK, message + owner)


def read_zone(context: TestContext) -> ZoneInfo:
    """``GET /zones/{id}`` once per Test connection (the verify step may need it first)."""
    cached = context.facts.get("cloudflare_zone")
    if isinstance(cached, ZoneInfo):
        return cached
    client: CloudflareClient = context.backend.client  # type: ignore[attr-defined]
    info = client.get_zone()
    context.facts["cloudflare_zone"] = info
    context.remote = info.remote
    if info.remote.account_id and not context.account_id:
        context.account_id = info.remote.account_id
    return info


class ReadZone(Step):
    """The Zone ID names a zone the credentials can read."""

    key = "zone"
    label = gettext_lazy("Zone")
    doing = gettext_lazy("reading the zone")

    def run(self, context: TestContext) -> StepResult:
        creds = self.client(context).credentials
        try:
            info = read_zone(context)
        except (ZoneNotFound, AuthenticationFailed) as err:
            return StepResult(
                ERROR,
                _zone_refused(err, token=creds.auth_kind == AUTH_TOKEN, zone_id=creds.zone_id),
                gettext("Skipped: the zone could not be read."),
            )
        except BackendError as err:
            return StepResult(
                ERROR,
                describe(err, doing=str(self.doing)),
                gettext("Skipped: the zone could not be read."),
            )
        remote = info.remote
        plan = remote.plan_name or remote.plan
        if plan:
            sentences = [
                gettext("Zone %(name)s (%(status)s, plan %(plan)s).")
                % {"name": remote.name, "status": remote.status, "plan": plan}
            ]
        else:
            sentences = [
                gettext("Zone %(name)s (%(status)s).")
                % {"name": remote.name, "status": remote.status}
            ]
        status = OK
        if remote.status != "active":
            status = WARNING
            sentences.append(
                gettext(
                    "The zone's status is “%(status)s”: Cloudflare serves and caches it only "
                    "once active."
                )
                % {"status": remote.status}
            )
        if remote.paused:
            status = WARNING
            sentences.append(gettext("The zone is paused: Cloudflare does not cache it now."))
        if info.permissions is not None and codes.PURGE_PERMISSION not in info.permissions:
            status = WARNING
            sentences.append(
                gettext(
                    "Cloudflare does not list the Cache Purge permission for these credentials; "
                    "the purge test below is the final word."
                )
            )
        return StepResult(status, " ".join(sentences))


def _zone_refused(err: BackendError, *, token: bool, zone_id: str) -> str:
    if not token and err.codes & {
        codes.UNKNOWN_KEY,
        codes.BAD_HEADERS,
        codes.BAD_KEY_FORMAT,
        codes.BAD_EMAIL_FORMAT,
    }:
        return gettext(
            "Cloudflare rejected the email + Global API Key: check the account email and copy "
            "the Global API Key again (%(cited)s)."
        ) % {"cited": cited(err)}
    if not token:
        return gettext(
            "Cloudflare does not let this account reach the zone %(zone_id)s (%(cited)s). "
            "Usually the Account ID or another ID was pasted as the Zone ID, or the email "
            "belongs to another account: copy the Zone ID from the zone's Overview page, "
            "section “API”."
        ) % {"zone_id": zone_id, "cited": cited(err)}
    return gettext(
        "Cloudflare does not give these credentials access to the zone %(zone_id)s "
        "(%(cited)s). Usually the Account ID or another ID was pasted as the Zone ID, or the "
        "token is limited to other zones: copy the Zone ID from the zone's Overview page, "
        "section “API”, and check the token's Zone Resources."
    ) % {"zone_id": zone_id, "cited": cited(err)}


class ProbePurge(Step):
    """A purge of one harmless URL proves the Cache Purge permission."""

    key = "purge"
    label = gettext_lazy("Purge permission")
    doing = gettext_lazy("the test purge")
    #: The permission, as the message names it.
    permission: ClassVar[str] = "Zone → Cache Purge → Purge"

    def run(self, context: TestContext) -> StepResult:
        if not get_bool("PROBE_PURGE"):
            return StepResult(
                StepStatus.SKIPPED, gettext("Skipped: CFPURGE['PROBE_PURGE'] is False.")
            )
        remote = context.remote
        zone_name = remote.name if remote else ""
        path = get_str("PROBE_PATH") or "/__cfpurge_probe"
        url = f"https://{zone_name}{path if path.startswith('/') else '/' + path}"
        client = self.client(context)
        try:
            client.purge("files", [url])
        except AuthenticationFailed as err:
            if client.credentials.auth_kind != AUTH_TOKEN:
                # A Global API Key has no permissions of its own to edit: the client's
                # sentence names the account and the Zone ID.
                return StepResult(ERROR, str(err))
            return StepResult(
                ERROR,
                gettext(
                    "Cloudflare rejected the API token: it needs Zone → Cache Purge → Purge on "
                    "this zone (%(cited)s). Edit the token's permissions in My Profile → API "
                    "Tokens."
                )
                % {"cited": cited(err)},
            )
        except BackendError as err:
            return StepResult(ERROR, describe(err, doing=str(self.doing)))
        return StepResult(OK, gettext("A test purge of %(url)s was accepted.") % {"url": url})
