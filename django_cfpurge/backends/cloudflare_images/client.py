"""The HTTP client for the Cloudflare Images API calls django-cfpurge makes.

All under ``/accounts/{account_id}``:

* ``DELETE /images/v1/{image_id}`` — :meth:`ImagesClient.delete`: Cloudflare deletes the
  image and purges every cached copy of every variant;
* ``PATCH /images/v1/{image_id}`` with ``{"requireSignedURLs": true|false}`` —
  :meth:`ImagesClient.set_private`: an access change purges every cached copy too;
* for Test connection: ``GET /tokens/verify``, ``GET /images/v2`` (Read),
  ``POST /images/v1`` and ``DELETE`` of the probe image (Edit), ``GET /images/v1/stats``.

The answers are Cloudflare's v4 envelope: they are read, and their errors classified,
with the Cloudflare backend's parsing and codes
(:mod:`django_cfpurge.backends.cloudflare.client`, ``codes``) plus the Images API's own
codes (:mod:`.codes`). An image that no longer exists (404 / 5404) is not an error for a
delete, a hide or a show: there is nothing left to serve.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from django.utils.translation import gettext

from ...exceptions import (
    ApiMessage,
    AuthenticationFailed,
    BackendError,
    InvalidResponse,
    RateLimited,
    RequestRejected,
    ServerError,
    ZoneNotFound,
)
from ..cloudflare import codes as cf_codes
from ..cloudflare import messages as cf_messages
from ..cloudflare.client import TokenInfo
from ..cloudflare.envelope import error_messages, is_envelope, status_and_errors
from ..http import (
    NOT_JSON,
    ApiClient,
    parse_api_datetime,
    parse_json,
    retry_after,
    seconds_text,
    url_without_query,
    what_came,
)
from . import codes, messages
from .credentials import ImagesCredentials

logger = logging.getLogger(__name__)

#: Where Cloudflare delivers images: ``https://imagedelivery.net/<hash>/<id>/<variant>``.
DELIVERY_HOST = "imagedelivery.net"
#: The path a custom domain of the account's zone delivers them under.
CUSTOM_DELIVERY_PATH = "/cdn-cgi/imagedelivery/"
#: Images listed by the Read check (the API's smallest page).
LIST_PAGE = 10


def image_id_from_url(url: str) -> str | None:
    """The image id of a delivery URL, or None if ``url`` is not one.

    ``https://imagedelivery.net/<account hash>/<image id>/<variant>`` and a custom
    domain's ``https://<host>/cdn-cgi/imagedelivery/<account hash>/<image id>/<variant>``;
    a custom id may contain ``/``: everything between the hash and the variant is the id.
    """
    parts = urlsplit(url)
    path = parts.path
    if CUSTOM_DELIVERY_PATH in path:
        path = path.split(CUSTOM_DELIVERY_PATH, 1)[1]
    elif (parts.hostname or "").lower() != DELIVERY_HOST:
        return None
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2:
        return None
    rest = segments[1:]
    image_id = "/".join(rest[:-1]) if len(rest) > 1 else rest[0]
    return unquote(image_id) or None


class ImagesClient(ApiClient[ImagesCredentials]):
    """A small client for one account's Cloudflare Images API.

    :param credentials: the Account ID and the API token.
    :param http: the HTTP base (API URL, timeouts, deadline, redaction).
    """

    repr_attribute = "account_id"

    @property
    def _base(self) -> str:
        return f"/accounts/{self.credentials.account_id}"

    def _image_path(self, image_id: str) -> str:
        return f"{self._base}/images/v1/{quote(image_id, safe='')}"

    # -- what purges ------------------------------------------------------------------
    def delete(self, image_id: str, *, operation: str = "delete") -> bool:
        """Delete an image (Cloudflare purges its cached copies). False: it was gone.

        :raises BackendError: the image was not deleted.
        """
        payload = self._call(
            "DELETE", self._image_path(image_id), operation, image_id=image_id, missing_ok=True
        )
        return payload is not None

    def set_private(self, image_id: str, private: bool) -> bool:
        """Require signed URLs for an image, or stop requiring them (Cloudflare purges its
        cached copies when this changes). False: the image is gone.

        :raises BackendError: the image was not changed.
        """
        payload = self._call(
            "PATCH",
            self._image_path(image_id),
            "hide" if private else "show",
            image_id=image_id,
            missing_ok=True,
            json={"requireSignedURLs": private},
        )
        return payload is not None

    # -- Test connection ----------------------------------------------------------------
    def verify_token(self) -> TokenInfo:
        """``GET /accounts/{id}/tokens/verify``: the token's status and expiry.

        :raises BackendError: the token was refused, or the call failed.
        """
        payload = self._call("GET", f"{self._base}/tokens/verify", "verify")
        result = (payload or {}).get("result")
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise InvalidResponse(
                cf_messages.missing_field(gettext("the token's status")), status_code=200
            )
        return TokenInfo(
            id=str(result.get("id") or ""),
            status=result["status"],
            not_before=parse_api_datetime(result.get("not_before")),
            expires_on=parse_api_datetime(result.get("expires_on")),
            endpoint="account",
            account_id=self.credentials.account_id,
        )

    def list_images(self) -> list[dict[str, Any]]:
        """The first page of the account's images (``GET /images/v2``; proves Read)."""
        payload = self._call(
            "GET", f"{self._base}/images/v2", "list", params={"per_page": str(LIST_PAGE)}
        )
        result = (payload or {}).get("result")
        images = result.get("images") if isinstance(result, dict) else None
        return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []

    def stats(self) -> tuple[int, int]:
        """``(images stored, images allowed)`` (``GET /images/v1/stats``)."""
        payload = self._call("GET", f"{self._base}/images/v1/stats", "stats")
        result = (payload or {}).get("result")
        count = result.get("count") if isinstance(result, dict) else None
        if not isinstance(count, dict):
            return 0, 0
        return int(count.get("current") or 0), int(count.get("allowed") or 0)

    def upload(self, filename: str, content: bytes, *, metadata: dict[str, str]) -> str:
        """Upload an image; return its id (``POST /images/v1``; proves Edit)."""
        payload = self._call(
            "POST",
            f"{self._base}/images/v1",
            "upload",
            files={"file": (filename, content, "image/png")},
            data={"metadata": json.dumps(metadata)},
        )
        result = (payload or {}).get("result")
        image_id = result.get("id") if isinstance(result, dict) else None
        if not isinstance(image_id, str) or not image_id:
            raise InvalidResponse(
                cf_messages.missing_field(gettext("the new image's id")), status_code=200
            )
        return image_id

    # -- HTTP -------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        image_id: str = "",
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """Send one request; return the success envelope (None: ``missing_ok`` and the
        image does not exist), or raise."""
        response = self.http.send(
            method,
            path,
            headers=self.credentials.auth_headers(),
            operation=str(messages.OPERATION_NAMES[operation]),
            **kwargs,
        )
        status = response.status_code
        # Redacted as soon as parsed: a reply may echo the token, and the parsed reply is
        # a local variable of every frame an error is raised from.
        payload = self.http.redactor.value(parse_json(response))
        if payload is NOT_JSON or not is_envelope(payload):
            raise self._not_envelope(response, operation, payload is not NOT_JSON)
        if 200 <= status < 300 and payload.get("success") is True:
            return dict(payload)
        errors = list(error_messages(payload.get("errors")))
        found = frozenset(e.code for e in errors)
        if missing_ok and (codes.IMAGE_NOT_FOUND in found or (status == 404 and not found)):
            logger.debug("Image %s is gone already (%s)", image_id, operation)
            return None
        raise self._api_error(response, payload, errors, operation, image_id)

    def _api_error(
        self,
        response: requests.Response,
        payload: dict[str, Any],
        errors: list[ApiMessage],
        operation: str,
        image_id: str,
    ) -> BackendError:
        status = response.status_code
        found = frozenset(e.code for e in errors)
        said = status_and_errors(status, errors)
        wait = retry_after(response.headers, status)

        def make(cls: type[BackendError], message: str) -> BackendError:
            return cls(
                self.http.redactor.text(message),
                status_code=status,
                errors=errors,
                retry_after=wait,
                response_body=payload,
            )

        if status == 429 or found & cf_codes.RATE_LIMIT:
            seconds = seconds_text(wait) if wait is not None else None
            return make(RateLimited, cf_messages.rate_limited(said, seconds, purge=False))
        if status >= 500:
            return make(ServerError, cf_messages.server_error(said))
        refused = self._refused(status, found, said, operation)
        if refused is not None:
            return make(AuthenticationFailed, refused)
        if found & cf_codes.NOT_FOUND or status == 404:
            return make(ZoneNotFound, messages.no_account(said, self.credentials.account_id))
        if 300 <= status < 400:
            location = url_without_query(response.headers.get("Location", ""))
            return make(InvalidResponse, cf_messages.redirect(status, location, self.http.api_url))
        if 400 <= status < 500:
            return make(
                RequestRejected,
                messages.rejected(said, operation=operation, image_id=image_id),
            )
        return make(InvalidResponse, cf_messages.unconfirmed(said))

    def _refused(
        self, status: int, found: frozenset[int | str], said: str, operation: str
    ) -> str | None:
        """The sentence for refused credentials, or None when they were not refused."""
        account = self.credentials.account_id
        if codes.NOT_AUTHORISED in found:
            return messages.not_subscribed(said, account)
        if found & cf_codes.MALFORMED:
            return messages.malformed_token(said)
        if cf_codes.INVALID_TOKEN in found or (status == 401 and not found & cf_codes.AUTH):
            return messages.invalid_token(said)
        if found & cf_codes.AUTH or (status == 403 and not found & cf_codes.NOT_FOUND):
            return messages.no_permission(said, operation=operation, account_id=account)
        return None

    def _not_envelope(
        self, response: requests.Response, operation: str, is_json: bool
    ) -> BackendError:
        status = response.status_code
        wait = retry_after(response.headers, status)
        body = self.http.redactor.snippet(response.content)
        what = (
            gettext("JSON that is not Cloudflare's API reply")
            if is_json
            else self.http.redactor.text(what_came(response))
        )
        if status == 429 or status >= 500:
            cls: type[BackendError] = RateLimited if status == 429 else ServerError
            seconds = seconds_text(wait) if status == 429 and wait else None
            return cls(
                cf_messages.not_cloudflare_busy(status, what, seconds),
                status_code=status,
                retry_after=wait,
                response_body=body,
            )
        if 300 <= status < 400:
            location = url_without_query(response.headers.get("Location", ""))
            text = cf_messages.redirect(status, location, self.http.api_url)
        else:
            text = cf_messages.not_cloudflare(
                status, what, str(messages.OPERATION_NAMES[operation]), self.http.api_url
            )
        return InvalidResponse(
            self.http.redactor.text(text), status_code=status, response_body=body
        )
