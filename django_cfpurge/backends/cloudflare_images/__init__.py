"""The Cloudflare Images backend: images stored on Cloudflare Images, whose copies
Cloudflare purges itself when an image is deleted or its access changes.

A site keeps an image id on the model and serves it from
``https://imagedelivery.net/<account hash>/<image id>/<variant>`` (its storage's
``url()`` gives such URLs). There is no URL purge on ``imagedelivery.net``; instead, what
became of each file (see :class:`~django_cfpurge.enums.Kind`) is done to the image:

* ``gone`` (the object was deleted, or its image replaced or renamed: the old id) —
  ``DELETE /accounts/{account_id}/images/v1/{image_id}``;
* ``hide`` (the registration's ``private=`` became true) — ``PATCH`` the image with
  ``{"requireSignedURLs": true}``;
* ``show`` (it became false again) — ``PATCH`` with ``{"requireSignedURLs": false}``.

Cloudflare purges every cached copy of every variant on a delete and on an access
change. A new image, or one still used whose access did not change, needs nothing. An
image that no longer exists is not an error. One image per call; the pace is Cloudflare's
API limit (1,200 requests per 5 minutes per token).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.utils.translation import gettext, gettext_lazy

from ...enums import Kind
from ...exceptions import RequestRejected
from ..base import Backend, CredentialField, RateBudget, RemoteZone, Step
from ..cloudflare.steps import describe
from ..http import HttpClient
from . import messages, steps
from .client import ImagesClient, image_id_from_url
from .credentials import ACCOUNT_ID_LABEL, API_TOKEN_LABEL, ImagesCredentials

__all__ = ["API_BUDGET", "CloudflareImagesBackend"]

#: Cloudflare's API limit: 1,200 requests per 5 minutes, per token.
API_BUDGET = RateBudget("cf-api", 1200, 300.0)


class CloudflareImagesBackend(Backend):
    """Cloudflare Images on one account."""

    name = "cloudflare_images"
    verbose_name = gettext_lazy("Cloudflare Images")
    kinds = (Kind.GONE, Kind.HIDE, Kind.SHOW)
    zone_id_label = ACCOUNT_ID_LABEL
    step_classes: ClassVar[tuple[type[Step], ...]] = (
        steps.VerifyToken,
        steps.ReadImages,
        steps.ProbeEdit,
    )
    credential_fields = (
        CredentialField(
            "zone_id",
            ACCOUNT_ID_LABEL,
            help_text=gettext_lazy(
                "32 hexadecimal characters: Cloudflare dashboard → Images → Overview "
                "(“Developer resources”)."
            ),
        ),
        CredentialField(
            "api_token",
            API_TOKEN_LABEL,
            secret=True,
            help_text=gettext_lazy(
                "An account API token with Account → Cloudflare Images → Edit on this account."
            ),
        ),
    )

    def __init__(
        self,
        credentials: ImagesCredentials,
        *,
        plan: str = "",
        max_items: int | None = None,
        session: Any = None,
    ) -> None:
        super().__init__(credentials, plan=plan, max_items=max_items)
        self.client = ImagesClient(
            credentials,
            HttpClient.from_settings(
                "API_URL",
                service=gettext("Cloudflare's API"),
                secrets=credentials.secrets,
                session=session,
            ),
        )

    @classmethod
    def clean_credentials(cls, values: Mapping[str, str]) -> ImagesCredentials:
        return ImagesCredentials.from_values(values)

    def max_items(self, kind: str) -> int:
        return 1

    def rate_limit_key(self) -> str:
        # Cloudflare limits API requests per token: named by its hash, never itself.
        return f"cfimages-{self.credentials.token_hash}"

    def budget(self, kind: str) -> RateBudget:
        return API_BUDGET

    def purge(self, kind: str, items: Sequence[Any]) -> str:
        if len(items) != 1:
            raise ValueError(f"Cloudflare Images takes one image per call, not {len(items)}.")
        url = str(items[0]["url"] if isinstance(items[0], dict) else items[0])
        image_id = image_id_from_url(url)
        if image_id is None:
            raise RequestRejected(messages.not_delivery_url(url))
        if kind == Kind.GONE:
            self.client.delete(image_id)
        elif kind in (Kind.HIDE, Kind.SHOW):
            self.client.set_private(image_id, kind == Kind.HIDE)
        else:
            raise ValueError(f"Cloudflare Images cannot purge {kind}.")
        return image_id

    def describe_zone(self) -> RemoteZone:
        self.client.stats()  # proves the token reads this account
        return steps.remote_for(self.credentials.account_id)

    def describe_error(self, error: Exception, *, doing: Any) -> str:
        return describe(error, doing=str(doing))

    def close(self) -> None:
        self.client.close()
