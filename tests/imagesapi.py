"""The Cloudflare Images API contract, and the ``images_api`` mock.

Loaded as a plugin by ``tests/cfapi.py``, whose ``cf_contract`` fixture checks every
request to ``/client/v4/accounts/{account_id}/images/…`` against
``tests/data/cloudflare-images-openapi-subset.json`` and these rules, which the schema
does not encode:

* exactly one of Cloudflare's auth schemes (as for the rest of the v4 API);
* the account id is 32 hex characters;
* ``POST /images/v1`` is ``multipart/form-data`` with exactly one of ``file`` (a part
  with a filename) and ``url``, and only the documented parts; ``metadata`` is a JSON
  object of at most 1024 bytes; ``requireSignedURLs`` is ``true`` or ``false``;
* ``PATCH /images/v1/{image_id}`` is a JSON object of ``creator``, ``metadata`` and
  ``requireSignedURLs`` only, and not empty;
* ``GET`` and ``DELETE`` send no body.

Two schema errors are forgiven in requests, because Cloudflare accepts what they reject:
a multipart ``requireSignedURLs`` of ``"true"``/``"false"`` (openapi-core does not cast
multipart text to a boolean), and image ids longer than the schema's 32 characters (real
ids are 36-character UUIDs). Answers are checked as the rest of Cloudflare's API: 2xx
against the success schema, JSON errors against the failure envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
import requests
import responses

from tests.cfapi import (
    ACCOUNT_ID,
    API_URL,
    DATA,
    IMAGES_PATH,
    Api,
    Contract,
    Exchange,
    api_path,
    check_auth,
    code_971,
    envelope_response_problems,
    failure_body,
    header,
    register_api,
)

IMAGE_ID = "2cdc28f0017a49d4a3b8e1c7d3f2a6b0"
#: The account hash of delivery URLs (``imagedelivery.net/<hash>/<id>/<variant>``).
ACCOUNT_HASH = "Vi7wi5KSItxGFsWRG2Us6Q"
UPLOAD_PARTS = {"file", "url", "id", "metadata", "requireSignedURLs", "creator"}
PATCH_KEYS = {"creator", "metadata", "requireSignedURLs"}

_ACCOUNT = re.compile(r"/accounts/([^/]+)/")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _locate(url: str) -> str | None:
    path = api_path(url)
    return path if path is not None and IMAGES_PATH.fullmatch(path) else None


def _request_deviation(schema_error: Any) -> bool:
    instance = getattr(schema_error, "instance", None)
    where = list(getattr(schema_error, "path", []))
    validator = getattr(schema_error, "validator", None)
    multipart_boolean = (
        validator == "type" and instance in ("true", "false") and where == ["requireSignedURLs"]
    )
    real_image_id = (
        validator == "maxLength" and isinstance(instance, str) and bool(_UUID.fullmatch(instance))
    )
    return multipart_boolean or real_image_id


def multipart_parts(content_type: str, body: bytes) -> list[Message]:
    """The parts of a ``multipart/form-data`` body (empty if it is not one)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return []
    return list(message.iter_parts())


def _upload_rules(exchange: Exchange) -> list[str]:
    content_type = header(exchange.headers, "Content-Type")
    if not content_type.lower().startswith("multipart/form-data"):
        return [f"an upload is multipart/form-data, not {content_type!r}"]
    parts = {
        part.get_param("name", header="content-disposition"): part
        for part in multipart_parts(content_type, exchange.body)
    }
    problems = []
    unknown = sorted(str(name) for name in set(parts) - UPLOAD_PARTS)
    if unknown:
        problems.append(f"unknown parts {unknown}; an upload has {sorted(UPLOAD_PARTS)}")
    sources = [name for name in ("file", "url") if name in parts]
    if len(sources) != 1:
        problems.append(f"an upload has exactly one of file and url, found {sources or 'none'}")
    if "file" in parts and not parts["file"].get_filename():
        problems.append("the file part has no filename")
    if "metadata" in parts:
        raw = parts["metadata"].get_payload(decode=True) or b""
        try:
            metadata = json.loads(raw)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict) or len(raw) > 1024:
            problems.append("metadata is a JSON object of at most 1024 bytes")
    if "requireSignedURLs" in parts:
        flag = (parts["requireSignedURLs"].get_payload(decode=True) or b"").decode()
        if flag not in ("true", "false"):
            problems.append(f"requireSignedURLs={flag!r}: send true or false")
    return problems


def _patch_rules(exchange: Exchange) -> list[str]:
    content_type = header(exchange.headers, "Content-Type").split(";")[0].strip().lower()
    if content_type != "application/json":
        return [f"Content-Type must be application/json, not {content_type!r}"]
    try:
        body = json.loads(exchange.body or b"")
    except ValueError:
        return ["the body is not JSON"]
    if not isinstance(body, dict) or not body or set(body) - PATCH_KEYS:
        return [f"a PATCH body is a non-empty object of {sorted(PATCH_KEYS)}, not {body!r}"]
    return []


def _request_rules(exchange: Exchange, contract: Contract) -> list[str]:
    problems = check_auth(exchange.headers)
    account = _ACCOUNT.match(exchange.path)
    if account is None or not re.fullmatch(r"[0-9a-f]{32}", account.group(1)):
        problems.append("the account id in the path is not 32 lowercase hex characters")
    method = exchange.method.upper()
    if method == "POST":
        problems.extend(_upload_rules(exchange))
    elif method == "PATCH":
        problems.extend(_patch_rules(exchange))
    elif exchange.body:
        problems.append(f"{method} sends no body")
    return problems


IMAGES = Api(
    label="Cloudflare Images API",
    schema_file=DATA / "cloudflare-images-openapi-subset.json",
    host="https://api.cloudflare.com",
    prefix="/client/v4",
    locate=_locate,
    request_rules=_request_rules,
    response_problems=envelope_response_problems,
    request_deviation=_request_deviation,
    response_deviation=code_971,
)
register_api(IMAGES)


# -- bodies -------------------------------------------------------------------


def image_body(
    image_id: str = IMAGE_ID,
    filename: str = "photo.jpg",
    *,
    variants: Sequence[str] = ("public",),
    require_signed_urls: bool = False,
    metadata: Mapping[str, Any] | None = None,
    creator: str | None = None,
    uploaded: str = "2026-01-02T03:04:05.678Z",
) -> dict[str, Any]:
    """One image, as the API returns it (``meta`` and ``creator`` only when set)."""
    image: dict[str, Any] = {
        "id": image_id,
        "filename": filename,
        "uploaded": uploaded,
        "requireSignedURLs": require_signed_urls,
        "variants": [f"https://imagedelivery.net/{ACCOUNT_HASH}/{image_id}/{v}" for v in variants],
    }
    if metadata:
        image["meta"] = dict(metadata)
    if creator is not None:
        image["creator"] = creator
    return image


def envelope(result: Any) -> dict[str, Any]:
    """Cloudflare's success envelope."""
    return {"result": result, "success": True, "errors": [], "messages": []}


# -- the images_api fixture ---------------------------------------------------------


class ImagesAPIMock:
    """The Cloudflare Images API mocked with ``responses``. Get it from ``images_api``.

    Each ``add_*`` helper registers one reply for every matching call; several replies
    for the same URL are used in the order added (the last one repeats).
    """

    def __init__(
        self, mock: responses.RequestsMock, base_url: str = API_URL, account_id: str = ACCOUNT_ID
    ) -> None:
        self.mock = mock
        self.base_url = f"{base_url.rstrip('/')}/accounts/{account_id}"

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Register any reply; ``path`` is under ``/accounts/{account_id}``."""
        self.mock.add(
            method, self.base_url + path, status=status, json=json, headers=dict(headers or {})
        )

    def add_upload_ok(self, **image: Any) -> None:
        """``POST /images/v1`` succeeds with :func:`image_body` of ``image``."""
        self.add("POST", "/images/v1", json=envelope(image_body(**image)))

    def add_image_ok(self, image_id: str = IMAGE_ID, **image: Any) -> None:
        """``GET /images/v1/{image_id}`` answers the image."""
        self.add("GET", f"/images/v1/{image_id}", json=envelope(image_body(image_id, **image)))

    def add_patch_ok(self, image_id: str = IMAGE_ID, **image: Any) -> None:
        """``PATCH /images/v1/{image_id}`` answers the updated image."""
        self.add("PATCH", f"/images/v1/{image_id}", json=envelope(image_body(image_id, **image)))

    def add_delete_ok(self, image_id: str = IMAGE_ID) -> None:
        """``DELETE /images/v1/{image_id}`` answers ``result: {}``."""
        self.add("DELETE", f"/images/v1/{image_id}", json=envelope({}))

    def add_list_ok(
        self, images: Sequence[Mapping[str, Any]] = (), continuation_token: str | None = None
    ) -> None:
        """``GET /images/v2`` answers one page."""
        result = {"images": list(images), "continuation_token": continuation_token}
        self.add("GET", "/images/v2", json=envelope(result))

    def add_stats_ok(self, current: int = 0, allowed: int = 100000) -> None:
        """``GET /images/v1/stats``."""
        result = {"count": {"allowed": allowed, "current": current}}
        self.add("GET", "/images/v1/stats", json=envelope(result))

    def add_error(
        self,
        method: str,
        path: str,
        status: int = 404,
        code: int = 5404,
        message: str = "Image not found",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Any route fails with Cloudflare's envelope (default: 404 5404, no such image)."""
        self.add(method, path, status=status, json=failure_body(code, message), headers=headers)

    def sent_requests(self) -> list[requests.PreparedRequest]:
        """Every request made, in order."""
        return [call.request for call in self.mock.calls]


@pytest.fixture
def images_api(cf_contract: Contract) -> Iterator[ImagesAPIMock]:
    """The Images API of :data:`~tests.cfapi.ACCOUNT_ID` at Cloudflare's API URL, mocked
    with ``responses`` (requests are still checked by the contract)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield ImagesAPIMock(mock)
