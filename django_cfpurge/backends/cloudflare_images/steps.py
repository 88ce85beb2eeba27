"""Cloudflare Images' Test connection steps, as Cloudflare's Images guide checks a token:

1. :class:`VerifyToken` — the token is active and not expired, at the account's own
   endpoint (``GET /accounts/{id}/tokens/verify``);
2. :class:`ReadImages` — listing the account's images (``GET /images/v2``) proves
   **Read**, and that the Account ID is the token's;
3. :class:`ProbeEdit` — uploading a 1x1 PNG and deleting it proves **Edit**, which
   deleting, hiding and showing images needs (``CFPURGE["PROBE_PURGE"] = False`` skips
   it).

A 403 / 10000 on the list says Read is missing; on the upload, Edit.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from ...conf import get_bool
from ...exceptions import AuthenticationFailed, BackendError, ZoneNotFound
from ..base import RemoteZone, StepResult, StepStatus, TestContext
from ..base import Step as BaseStep
from ..cloudflare.client import TokenInfo
from ..cloudflare.steps import EXPIRY_WARNING_DAYS, cited, describe
from .client import DELIVERY_HOST, ImagesClient
from .credentials import PERMISSION
from .messages import WHERE_TOKENS

if TYPE_CHECKING:  # pragma: no cover
    from . import CloudflareImagesBackend

OK, WARNING, ERROR = StepStatus.OK, StepStatus.WARNING, StepStatus.ERROR
#: A 1x1 transparent PNG: the probe image.
PROBE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="
)
PROBE_FILENAME = "django-cfpurge-probe.png"


def remote_for(account_id: str, account_hash: str = "") -> RemoteZone:
    """The account as a zone: it routes ``imagedelivery.net``."""
    name = f"{DELIVERY_HOST}/{account_hash}" if account_hash else DELIVERY_HOST
    return RemoteZone(name=name, status="active", account_id=account_id, hostnames=(DELIVERY_HOST,))


def account_hash(images: list[dict[str, object]]) -> str:
    """The account hash of delivery URLs, read from a listed image's variants (``""``
    when there is none)."""
    for image in images:
        variants = image.get("variants")
        for url in variants if isinstance(variants, list) else []:
            parts = str(url).split("/")
            if len(parts) > 4 and parts[2] == DELIVERY_HOST:
                return parts[3]
    return ""


class Step(BaseStep):
    """A step of the Cloudflare Images backend (its client is ``context.backend.client``)."""

    def client(self, context: TestContext) -> ImagesClient:
        backend: CloudflareImagesBackend = context.backend  # type: ignore[assignment]
        return backend.client


def _skip_refused() -> str:
    return gettext("Skipped: the token was not accepted.")


class VerifyToken(Step):
    """The token is known, active and not expired."""

    key = "credentials"
    label = gettext_lazy("API token")
    doing = gettext_lazy("verifying the token")

    def run(self, context: TestContext) -> StepResult:
        try:
            token = self.client(context).verify_token()
        except (AuthenticationFailed, ZoneNotFound) as err:
            return StepResult(ERROR, str(err), _skip_refused())
        except BackendError as err:
            return StepResult(
                ERROR,
                describe(err, doing=str(self.doing)),
                gettext("Skipped: the token could not be checked."),
            )
        context.token_status = token.status
        context.token_expires_on = token.expires_on
        context.account_id = token.account_id
        return token_result(token)


def token_result(token: TokenInfo) -> StepResult:
    """The verify step's outcome for a token Cloudflare knows."""
    now = timezone.now()
    date = f"{token.expires_on:%Y-%m-%d}" if token.expires_on else ""
    values = {"date": date, "where": WHERE_TOKENS}
    if token.status == "expired" or (token.expires_on and token.expires_on <= now):
        expired = (
            gettext("The API token expired on %(date)s.") % values
            if date
            else gettext("The API token expired.")
        )
        return StepResult(
            ERROR,
            expired
            + " "
            + gettext(
                "Roll it or create a new one in the Cloudflare dashboard (%(where)s) and paste "
                "it here."
            )
            % values,
            _skip_refused(),
        )
    if token.status != "active":
        return StepResult(
            ERROR,
            gettext(
                "The API token is %(status)s. Enable it again in the Cloudflare dashboard "
                "(%(where)s) or create a new one."
            )
            % {**values, "status": token.status},
            _skip_refused(),
        )
    if token.not_before and token.not_before > now:
        return StepResult(
            ERROR,
            gettext("The API token is not valid before %(when)s UTC.")
            % {"when": f"{token.not_before:%Y-%m-%d %H:%M}"},
            _skip_refused(),
        )
    if token.expires_on and token.expires_on <= now + timedelta(days=EXPIRY_WARNING_DAYS):
        return StepResult(
            WARNING,
            gettext(
                "The API token is active but expires on %(date)s: roll it before then, or "
                "deleting and hiding images will stop."
            )
            % values,
        )
    if date:
        return StepResult(OK, gettext("The API token is active, expires %(date)s.") % values)
    return StepResult(OK, gettext("The API token is active, no expiry."))


class ReadImages(Step):
    """Listing the account's images proves Cloudflare Images Read."""

    key = "read"
    label = gettext_lazy("Images: Read")
    doing = gettext_lazy("listing images")

    def run(self, context: TestContext) -> StepResult:
        client = self.client(context)
        account = client.credentials.account_id
        try:
            images = client.list_images()
        except AuthenticationFailed as err:
            return StepResult(
                ERROR,
                gettext(
                    "The token cannot read Cloudflare Images on account %(account)s (%(cited)s): "
                    "add the permission %(permission)s to it (Edit includes Read), and check "
                    "that the Account ID is the account it was created for."
                )
                % {"account": account, "cited": cited(err), "permission": PERMISSION},
                gettext("Skipped: the token cannot read the account's images."),
            )
        except BackendError as err:
            return StepResult(
                ERROR,
                describe(err, doing=str(self.doing)),
                gettext("Skipped: the account's images could not be listed."),
            )
        found = account_hash(images)
        context.remote = remote_for(account, found)
        context.facts["images_account_hash"] = found
        if found:
            return StepResult(
                OK,
                gettext(
                    "The token can read the account's images; they are delivered from "
                    "https://%(host)s/%(hash)s/…"
                )
                % {"host": DELIVERY_HOST, "hash": found},
            )
        return StepResult(OK, gettext("The token can read the account's images (none yet)."))


class ProbeEdit(Step):
    """Uploading and deleting a 1x1 image proves Cloudflare Images Edit."""

    key = "edit"
    label = gettext_lazy("Images: Edit")
    doing = gettext_lazy("uploading a test image")

    def run(self, context: TestContext) -> StepResult:
        if not get_bool("PROBE_PURGE"):
            return StepResult(
                StepStatus.SKIPPED, gettext("Skipped: CFPURGE['PROBE_PURGE'] is False.")
            )
        client = self.client(context)
        try:
            image_id = client.upload(
                PROBE_FILENAME, PROBE_PNG, metadata={"uploaded_by": "django-cfpurge test"}
            )
        except AuthenticationFailed as err:
            return StepResult(
                ERROR,
                gettext(
                    "The token can read images but not change them (%(cited)s): deleting, "
                    "hiding and showing images needs %(permission)s (“Cloudflare Images "
                    "Write” in the API). Edit the token in %(where)s."
                )
                % {"cited": cited(err), "permission": PERMISSION, "where": WHERE_TOKENS},
            )
        except BackendError as err:
            return StepResult(ERROR, describe(err, doing=str(self.doing)))
        try:
            client.delete(image_id)
        except BackendError as err:
            return StepResult(
                WARNING,
                gettext(
                    "The token can upload images, but the test image %(image_id)s could not be "
                    "deleted (%(error)s). Delete it in the Cloudflare dashboard (Images)."
                )
                % {"image_id": image_id, "error": describe(err, doing=str(self.doing))},
            )
        return StepResult(
            OK,
            gettext(
                "A 1x1 test image was uploaded and deleted: the token can delete, hide and "
                "show images."
            ),
        )
