"""A storage whose files live on Cloudflare Images, for the tests of the Cloudflare Images
backend: a file's name is its image id, and ``url()`` its delivery URL,
``https://imagedelivery.net/<account hash>/<image id>/<variant>``.

By default ``save()`` only makes up an id (32 hex characters, as the fake Images API
issues them); with ``api_url``, ``account_id`` and ``token`` it uploads the file to that
Images API and keeps the id it answers (the real-process tests use the fake server).
Nothing is deleted by the storage: deleting images is the backend's job.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import requests
from django.core.files.storage import Storage
from django.utils.deconstruct import deconstructible

#: The account hash of ``tests.imagesapi`` (the mocked Images API).
ACCOUNT_HASH = "Vi7wi5KSItxGFsWRG2Us6Q"


def delivery_url(image_id: str, account_hash: str = ACCOUNT_HASH, variant: str = "public") -> str:
    """Where Cloudflare delivers an image."""
    return f"https://imagedelivery.net/{account_hash}/{image_id}/{variant}"


@deconstructible
class ImagesStorage(Storage):
    """Images on Cloudflare Images (see the module documentation)."""

    def __init__(
        self,
        account_hash: str = ACCOUNT_HASH,
        variant: str = "public",
        api_url: str = "",
        account_id: str = "",
        token: str = "",
    ) -> None:
        self.account_hash = account_hash
        self.variant = variant
        self.api_url = api_url.rstrip("/")
        self.account_id = account_id
        self.token = token

    def _save(self, name: str, content: Any) -> str:
        if not self.api_url:
            return uuid.uuid4().hex
        host = urlsplit(self.api_url).hostname
        assert host in ("127.0.0.1", "localhost", "::1"), "uploads go to a local fake only"
        response = requests.post(
            f"{self.api_url}/accounts/{self.account_id}/images/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            files={"file": (name.rsplit("/", 1)[-1], content.read(), "image/png")},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["result"]["id"])

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name

    def exists(self, name: str) -> bool:
        return False

    def delete(self, name: str) -> None:
        """Left to the backend (``gone``)."""

    def url(self, name: str) -> str:
        return delivery_url(name, self.account_hash, self.variant)
