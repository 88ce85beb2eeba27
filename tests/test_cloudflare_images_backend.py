"""The Cloudflare Images backend at the wire: what it declares, what each file state
sends, how each answer is classified and worded, and its Test connection. Every request
is checked against the Images API's schema subset by the contract (``tests/imagesapi.py``;
the token check against Cloudflare's, ``tests/cfapi.py``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import override_settings
from django.utils import timezone

from django_cfpurge.backends import get_backend_class
from django_cfpurge.backends.base import RateBudget
from django_cfpurge.backends.cloudflare_images import API_BUDGET, CloudflareImagesBackend, steps
from django_cfpurge.backends.cloudflare_images.client import image_id_from_url
from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.enums import Kind
from django_cfpurge.exceptions import (
    AuthenticationFailed,
    InvalidCredentials,
    NetworkError,
    RateLimited,
    RequestRejected,
    ServerError,
    ZoneNotFound,
)
from django_cfpurge.models import Zone
from tests.cfapi import (
    ACCOUNT_API_TOKEN,
    ACCOUNT_ID,
    API_TOKEN,
    GLOBAL_API_KEY,
    ZONE_ID,
    verify_ok_body,
)
from tests.imagesapi import ACCOUNT_HASH, IMAGE_ID, ImagesAPIMock, image_body, multipart_parts

pytestmark = pytest.mark.django_db
VALUES = {"zone_id": ACCOUNT_ID, "api_token": API_TOKEN}
URL = f"https://imagedelivery.net/{ACCOUNT_HASH}/{IMAGE_ID}/public"
IMAGE_PATH = f"/images/v1/{IMAGE_ID}"


def backend(**values: str) -> CloudflareImagesBackend:
    return CloudflareImagesBackend(CloudflareImagesBackend.clean_credentials({**VALUES, **values}))


def sent(images_api: ImagesAPIMock) -> list[str]:
    """Every request as ``METHOD path [body]`` (the path after ``/client/v4``)."""
    out = []
    for request in images_api.sent_requests():
        line = f"{request.method} {urlsplit(request.url).path.removeprefix('/client/v4')}"
        content_type = request.headers.get("Content-Type", "")
        if request.body and content_type == "application/json":
            line += f" {json.loads(request.body)}"
        out.append(line)
    images_api.mock.calls.reset()
    return out


# -- declarations -----------------------------------------------------------------------


def test_what_the_backend_declares() -> None:
    assert get_backend_class("cloudflare_images") is CloudflareImagesBackend
    assert CloudflareImagesBackend.kinds == ("gone", "hide", "show")
    fields = {f.name: f for f in CloudflareImagesBackend.credential_fields}
    assert list(fields) == ["zone_id", "api_token"]
    assert [str(f.label) for f in fields.values()] == ["Account ID", "API token"]
    assert fields["api_token"].secret and fields["zone_id"].setting == "ZONE_ID"
    images = backend()
    assert {images.max_items(kind) for kind in images.kinds} == {1}
    assert {images.budget(kind) for kind in images.kinds} == {API_BUDGET}
    assert RateBudget("cf-api", 1200, 300.0) == API_BUDGET
    assert images.rate_limit_key().startswith("cfimages-")
    assert API_TOKEN not in images.rate_limit_key() and API_TOKEN not in repr(images)
    assert [type(s) for s in images.test_steps()] == [
        steps.VerifyToken,
        steps.ReadImages,
        steps.ProbeEdit,
    ]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"zone_id": ""}, "zone_id", "Enter the Account ID (Copy it from the Cloudflare"),
        ({"zone_id": "example.com"}, "zone_id", "“example.com” looks like a domain name."),
        ({"zone_id": "123"}, "zone_id", "must be 32 hexadecimal characters"),
        ({"api_token": ""}, "api_token", "Enter the API token."),
        ({"api_token": f"Bearer {API_TOKEN}"}, "api_token", "without the word “Bearer”"),
        ({"api_token": GLOBAL_API_KEY}, "api_token", "This is a Global API Key, not an API"),
        ({"api_token": GLOBAL_API_KEY}, "api_token", "permission Account → Cloudflare Images"),
        ({"api_token": "short"}, "api_token", "does not look like a Cloudflare API token"),
        ({"api_token": f"'{API_TOKEN}'"}, "api_token", "wrapped in quotes"),
    ],
)
def test_bad_values_are_named(values: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        CloudflareImagesBackend.clean_credentials({**VALUES, **values})
    assert caught.value.field == field
    assert message in str(caught.value)
    assert API_TOKEN not in str(caught.value)


def test_values_are_cleaned() -> None:
    creds = CloudflareImagesBackend.clean_credentials(
        {"zone_id": f" {ACCOUNT_ID.upper()} ", "api_token": f" {ACCOUNT_API_TOKEN}\n"}
    )
    assert (creds.account_id, creds.api_token) == (ACCOUNT_ID, ACCOUNT_API_TOKEN)
    assert API_TOKEN not in repr(backend().credentials)


@pytest.mark.parametrize(
    ("url", "image_id"),
    [
        (URL, IMAGE_ID),
        (f"https://imagedelivery.net/{ACCOUNT_HASH}/{IMAGE_ID}/w=400,h=300", IMAGE_ID),
        (f"https://imagedelivery.net/{ACCOUNT_HASH}/{IMAGE_ID}", IMAGE_ID),
        (f"https://imagedelivery.net/{ACCOUNT_HASH}/albums/cat%20one/public", "albums/cat one"),
        (
            f"https://www.example.com/cdn-cgi/imagedelivery/{ACCOUNT_HASH}/{IMAGE_ID}/thumb",
            IMAGE_ID,
        ),
        ("https://www.example.com/media/a.jpg", None),
        (f"https://imagedelivery.net/{ACCOUNT_HASH}", None),
    ],
)
def test_image_ids_from_delivery_urls(url: str, image_id: str | None) -> None:
    assert image_id_from_url(url) == image_id


# -- what each state sends -------------------------------------------------------------


def test_gone_deletes_the_image(images_api: ImagesAPIMock) -> None:
    images_api.add_delete_ok()
    assert backend().purge(Kind.GONE, [URL]) == IMAGE_ID
    assert sent(images_api) == [f"DELETE /accounts/{ACCOUNT_ID}{IMAGE_PATH}"]


def test_hide_and_show_patch_require_signed_urls(images_api: ImagesAPIMock) -> None:
    images_api.add_patch_ok(require_signed_urls=True)
    images = backend()
    images.purge(Kind.HIDE, [URL])
    images.purge(Kind.SHOW, [URL])
    assert sent(images_api) == [
        f"PATCH /accounts/{ACCOUNT_ID}{IMAGE_PATH} {{'requireSignedURLs': True}}",
        f"PATCH /accounts/{ACCOUNT_ID}{IMAGE_PATH} {{'requireSignedURLs': False}}",
    ]


def test_the_token_is_a_bearer_token(images_api: ImagesAPIMock) -> None:
    images_api.add_delete_ok()
    backend().purge(Kind.GONE, [URL])
    (request,) = images_api.sent_requests()
    assert request.headers["Authorization"] == f"Bearer {API_TOKEN}"


@pytest.mark.parametrize("kind", [Kind.GONE, Kind.HIDE, Kind.SHOW])
def test_an_image_that_is_gone_already_is_no_error(images_api: ImagesAPIMock, kind: str) -> None:
    images_api.add_error("DELETE", IMAGE_PATH)
    images_api.add_error("PATCH", IMAGE_PATH)
    assert backend().purge(kind, [URL]) == IMAGE_ID


def test_a_url_that_is_no_delivery_url_is_rejected(images_api: ImagesAPIMock) -> None:
    with pytest.raises(RequestRejected) as caught:
        backend().purge(Kind.GONE, ["https://www.example.com/media/a.jpg"])
    assert str(caught.value) == (
        "https://www.example.com/media/a.jpg is not a Cloudflare Images delivery URL "
        "(https://imagedelivery.net/<account hash>/<image id>/<variant>): check the storage's "
        "url() and this zone's hostnames."
    )
    assert images_api.sent_requests() == []


# -- answers -----------------------------------------------------------------------------


def delete_error(images_api: ImagesAPIMock, **kwargs: Any) -> Exception:
    images_api.add_error("DELETE", IMAGE_PATH, **kwargs)
    with pytest.raises(Exception) as caught:
        backend().purge(Kind.GONE, [URL])
    return caught.value


def test_an_unknown_token_on_a_delete(images_api: ImagesAPIMock) -> None:
    err = delete_error(images_api, status=401, code=1000, message="Invalid API Token")
    assert isinstance(err, AuthenticationFailed)
    assert str(err) == (
        "Cloudflare rejected the API token: it is unknown, revoked, or was rolled (HTTP 401: "
        "Invalid API Token [code 1000]). Create a token in Manage Account → Account API "
        "Tokens with Account → Cloudflare Images → Edit, and paste it again."
    )


def test_a_token_without_edit(images_api: ImagesAPIMock) -> None:
    err = delete_error(images_api, status=403, code=10000, message="Authentication error")
    assert isinstance(err, AuthenticationFailed)
    assert str(err) == (
        f"The API token may not change Cloudflare Images on account {ACCOUNT_ID} (HTTP 403: "
        "Authentication error [code 10000]): it needs Account → Cloudflare Images → Edit "
        "(“Cloudflare Images Write” in the API) on that account."
    )


def test_an_account_without_images(images_api: ImagesAPIMock) -> None:
    err = delete_error(
        images_api, status=403, code=5403, message="Account not authorized for the service"
    )
    assert isinstance(err, AuthenticationFailed)
    assert f"Cloudflare says account {ACCOUNT_ID} cannot use Cloudflare Images" in str(err)


def test_an_unknown_account(images_api: ImagesAPIMock) -> None:
    err = delete_error(images_api, status=404, code=7003, message="Could not route")
    assert isinstance(err, ZoneNotFound)
    assert str(err).startswith(
        f"Cloudflare found no account {ACCOUNT_ID} for this token (HTTP 404: Could not route "
        "[code 7003]): check the Account ID"
    )


@pytest.mark.parametrize(("headers", "waits"), [({"Retry-After": "9"}, 9.0), ({}, None)])
def test_rate_limited(images_api: ImagesAPIMock, headers: dict[str, str], waits: Any) -> None:
    err = delete_error(
        images_api, status=429, code=971, message="Please wait", headers=headers or None
    )
    assert isinstance(err, RateLimited) and err.retry_after == waits
    assert str(err).startswith("Cloudflare is rate-limiting API requests for this account")


def test_server_errors_are_retried(images_api: ImagesAPIMock) -> None:
    err = delete_error(images_api, status=503, code=5503, message="Server Unavailable")
    assert isinstance(err, ServerError) and err.transient


def test_a_bad_request(images_api: ImagesAPIMock) -> None:
    err = delete_error(images_api, status=400, code=5400, message="Bad request")
    assert isinstance(err, RequestRejected)
    assert str(err) == (
        f"Cloudflare Images rejected the delete request for image {IMAGE_ID} (HTTP 400: Bad "
        "request [code 5400])."
    )


@pytest.mark.no_contract_response
def test_a_proxys_page_is_no_answer(images_api: ImagesAPIMock) -> None:
    images_api.mock.add(
        "DELETE",
        images_api.base_url + IMAGE_PATH,
        status=502,
        body=b"<html>bad gateway</html>",
        content_type="text/html",
    )
    with pytest.raises(ServerError, match=r"HTTP 502 with an HTML page"):
        backend().purge(Kind.GONE, [URL])


def test_the_network_failing(images_api: ImagesAPIMock) -> None:
    images_api.mock.add(
        "DELETE", images_api.base_url + IMAGE_PATH, body=requests.ConnectionError("refused")
    )
    with pytest.raises(NetworkError, match=r"Cloudflare's API at api\.cloudflare\.com"):
        backend().purge(Kind.GONE, [URL])


def test_describe_zone_routes_imagedelivery_net(images_api: ImagesAPIMock) -> None:
    images_api.add_stats_ok(current=3)
    remote = backend().describe_zone()
    assert (remote.name, remote.hostnames, remote.account_id) == (
        "imagedelivery.net",
        ("imagedelivery.net",),
        ACCOUNT_ID,
    )


# -- Test connection ----------------------------------------------------------------------


def images_zone(**fields: Any) -> Zone:
    values = {
        "name": "images",
        "backend": "cloudflare_images",
        "zone_id": ACCOUNT_ID,
        "api_token": API_TOKEN,
        **fields,
    }
    return Zone.objects.create(**values)


def steps_of(zone: Zone) -> list[tuple[str, str, str]]:
    return [(s.key, s.status, s.message) for s in run_connection_test(zone).steps]


def all_ok(images_api: ImagesAPIMock) -> None:
    images_api.add("GET", "/tokens/verify", json=verify_ok_body())
    images_api.add_list_ok([image_body()])
    images_api.add_upload_ok(image_id="0123456789abcdef0123456789abcdef")
    images_api.add_delete_ok("0123456789abcdef0123456789abcdef")


def test_test_connection_proves_read_and_edit(images_api: ImagesAPIMock) -> None:
    all_ok(images_api)
    zone = images_zone()
    assert steps_of(zone) == [
        ("local", "ok", "The values are well-formed."),
        ("credentials", "ok", "The API token is active, no expiry."),
        (
            "read",
            "ok",
            "The token can read the account's images; they are delivered from "
            f"https://imagedelivery.net/{ACCOUNT_HASH}/…",
        ),
        (
            "edit",
            "ok",
            "A 1x1 test image was uploaded and deleted: the token can delete, hide and show "
            "images.",
        ),
    ]
    assert sent(images_api) == [
        f"GET /accounts/{ACCOUNT_ID}/tokens/verify",
        f"GET /accounts/{ACCOUNT_ID}/images/v2",
        f"POST /accounts/{ACCOUNT_ID}/images/v1",
        f"DELETE /accounts/{ACCOUNT_ID}/images/v1/0123456789abcdef0123456789abcdef",
    ]
    zone.refresh_from_db()
    assert zone.last_test_ok
    assert (zone.remote_name, zone.remote_hostnames) == (
        f"imagedelivery.net/{ACCOUNT_HASH}",
        ["imagedelivery.net"],
    )
    assert (zone.remote_account_id, zone.token_status) == (ACCOUNT_ID, "active")


def test_the_probe_is_a_png_uploaded_as_a_form(images_api: ImagesAPIMock) -> None:
    all_ok(images_api)
    steps_of(images_zone())
    upload = images_api.sent_requests()[2]
    parts = {
        p.get_param("name", header="content-disposition"): p
        for p in multipart_parts(upload.headers["Content-Type"], upload.body)
    }
    assert set(parts) == {"file", "metadata"}
    assert parts["file"].get_payload(decode=True).startswith(b"\x89PNG")
    assert parts["file"].get_filename() == "django-cfpurge-probe.png"


def test_an_unknown_token(images_api: ImagesAPIMock) -> None:
    images_api.add_error(
        "GET", "/tokens/verify", status=401, code=1000, message="Invalid API Token"
    )
    result = steps_of(images_zone())
    assert result[1][:2] == ("credentials", "error")
    assert result[1][2].startswith("Cloudflare rejected the API token: it is unknown, revoked")
    assert result[2:] == [
        ("read", "skipped", "Skipped: the token was not accepted."),
        ("edit", "skipped", "Skipped: the token was not accepted."),
    ]


def test_an_expired_token(images_api: ImagesAPIMock) -> None:
    when = timezone.now() - timedelta(days=2)
    images_api.add("GET", "/tokens/verify", json=verify_ok_body(status="expired", expires_on=when))
    assert steps_of(images_zone())[1] == (
        "credentials",
        "error",
        f"The API token expired on {when:%Y-%m-%d}. Roll it or create a new one in the "
        "Cloudflare dashboard (Manage Account → Account API Tokens) and paste it here.",
    )


def test_a_token_expiring_soon_is_a_warning(images_api: ImagesAPIMock) -> None:
    all_ok(images_api)
    when = timezone.now() + timedelta(days=3)
    images_api.mock.replace(
        "GET",
        images_api.base_url + "/tokens/verify",
        json=verify_ok_body(expires_on=when),
    )
    assert steps_of(images_zone())[1][:2] == ("credentials", "warning")


def test_read_missing(images_api: ImagesAPIMock) -> None:
    images_api.add("GET", "/tokens/verify", json=verify_ok_body())
    images_api.add_error(
        "GET", "/images/v2", status=403, code=10000, message="Authentication error"
    )
    result = steps_of(images_zone())
    assert result[2] == (
        "read",
        "error",
        f"The token cannot read Cloudflare Images on account {ACCOUNT_ID} (HTTP 403, code "
        "10000): add the permission Account → Cloudflare Images → Edit to it (Edit includes "
        "Read), and check that the Account ID is the account it was created for.",
    )
    assert result[3] == ("edit", "skipped", "Skipped: the token cannot read the account's images.")


def test_edit_missing(images_api: ImagesAPIMock) -> None:
    images_api.add("GET", "/tokens/verify", json=verify_ok_body())
    images_api.add_list_ok()
    images_api.add_error(
        "POST", "/images/v1", status=403, code=10000, message="Authentication error"
    )
    assert steps_of(images_zone())[2:] == [
        ("read", "ok", "The token can read the account's images (none yet)."),
        (
            "edit",
            "error",
            "The token can read images but not change them (HTTP 403, code 10000): deleting, "
            "hiding and showing images needs Account → Cloudflare Images → Edit (“Cloudflare "
            "Images Write” in the API). Edit the token in Manage Account → Account API Tokens.",
        ),
    ]


def test_a_probe_that_cannot_be_deleted_is_a_warning(images_api: ImagesAPIMock) -> None:
    images_api.add("GET", "/tokens/verify", json=verify_ok_body())
    images_api.add_list_ok()
    images_api.add_upload_ok(image_id="0123456789abcdef0123456789abcdef")
    images_api.add_error(
        "DELETE",
        "/images/v1/0123456789abcdef0123456789abcdef",
        status=503,
        code=5503,
        message="Server Unavailable",
    )
    step = steps_of(images_zone())[3]
    assert step[:2] == ("edit", "warning")
    assert step[2].startswith(
        "The token can upload images, but the test image 0123456789abcdef0123456789abcdef could "
        "not be deleted (Cloudflare answered with a temporary server error"
    )
    assert step[2].endswith("Delete it in the Cloudflare dashboard (Images).")


def test_the_probe_can_be_switched_off(images_api: ImagesAPIMock) -> None:
    images_api.add("GET", "/tokens/verify", json=verify_ok_body())
    images_api.add_list_ok()
    with override_settings(CFPURGE={"PROBE_PURGE": False}):
        assert steps_of(images_zone())[3] == (
            "edit",
            "skipped",
            "Skipped: CFPURGE['PROBE_PURGE'] is False.",
        )
    assert [r.method for r in images_api.sent_requests()] == ["GET", "GET"]


def test_a_zone_id_is_not_an_account_id(images_api: ImagesAPIMock) -> None:
    zone = images_zone(zone_id=ZONE_ID)
    images_api.mock.add(
        "GET",
        f"https://api.cloudflare.com/client/v4/accounts/{ZONE_ID}/tokens/verify",
        status=404,
        json={
            "success": False,
            "errors": [{"code": 7003, "message": "Could not route"}],
            "messages": [],
            "result": None,
        },
    )
    step = steps_of(zone)[1]
    assert step[:2] == ("credentials", "error")
    assert step[2].endswith("a Zone ID does not work here.")


def test_the_token_never_shows(images_api: ImagesAPIMock) -> None:
    images = backend()
    assert API_TOKEN not in repr(images.credentials.auth_headers())
    images_api.add_error("DELETE", IMAGE_PATH, status=400, code=5400, message=f"bad {API_TOKEN}")
    with pytest.raises(RequestRejected) as caught:
        images.purge(Kind.GONE, [URL])
    assert API_TOKEN not in str(caught.value) and API_TOKEN not in repr(caught.value.response_body)
    assert "[redacted]" in str(caught.value)
