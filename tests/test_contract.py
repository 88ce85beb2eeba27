"""The bunny.net and Cloudflare Images contracts themselves, and their ``responses`` mocks.

(The Cloudflare purge contract's own tests are in ``tests/test_cloudflare.py``.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.bunnyapi import (
    ACCESS_KEY,
    PULL_ZONE_ID,
    PULL_ZONE_NOT_FOUND,
    BunnyAPIMock,
    pull_zone_body,
)
from tests.cfapi import (
    ACCOUNT_ID,
    API_TOKEN,
    API_URL,
    Contract,
    ContractViolation,
    failure_body,
    find_api,
    validate_request,
    validate_response,
)
from tests.imagesapi import IMAGE_ID, ImagesAPIMock, image_body

BUNNY = "https://api.bunny.net"
ACCESS = {"AccessKey": ACCESS_KEY}
JSON = {"Content-Type": "application/json"}
IMAGES = f"{API_URL}/accounts/{ACCOUNT_ID}/images"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _multipart(**parts: Any) -> tuple[dict[str, str], bytes]:
    """Headers and body of a multipart upload, as requests builds them (text parts are
    ``(None, text)``: a part without a filename)."""
    files = {k: v if isinstance(v, tuple) else (None, v) for k, v in parts.items()}
    files = files or {"": (None, "")}
    prepared = requests.Request("POST", IMAGES + "/v1", files=files).prepare()
    assert isinstance(prepared.body, bytes)
    return {**BEARER, "Content-Type": prepared.headers["Content-Type"]}, prepared.body


def test_urls_find_their_api() -> None:
    found = {
        url: (found[0].label if (found := find_api(url)) else None)
        for url in (
            f"{BUNNY}/purge?url=https://cdn.example.com/a.jpg",
            f"{BUNNY}/storagezone",
            "http://127.0.0.1:8000/pullzone/12/purgeCache",
            f"{IMAGES}/v1",
            f"{API_URL}/accounts/{ACCOUNT_ID}/tokens/verify",
            f"{API_URL}/zones/{'0' * 32}/purge_cache",
            "https://www.example.com/purge/",
        )
    }
    assert list(found.values()) == [
        "bunny.net API",
        "bunny.net API",
        "bunny.net API",
        "Cloudflare Images API",
        "Cloudflare API",
        "Cloudflare API",
        None,
    ]


# -- bunny.net: requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        ("POST", f"{BUNNY}/purge?url=https://cdn.example.com/a.jpg", ACCESS, None),
        ("POST", f"{BUNNY}/purge?url=https://cdn.example.com/img/&async=true", ACCESS, None),
        ("POST", f"{BUNNY}/pullzone/{PULL_ZONE_ID}/purgeCache", ACCESS, None),
        (
            "POST",
            f"{BUNNY}/pullzone/{PULL_ZONE_ID}/purgeCache",
            {**ACCESS, **JSON},
            _json({"CacheTag": "product-123"}),
        ),
        ("GET", f"{BUNNY}/pullzone/{PULL_ZONE_ID}", ACCESS, None),
        # The fake server: a loopback URL with one of the operations' paths.
        ("POST", "http://127.0.0.1:9999/purge?url=https://cdn.example.com/a", ACCESS, None),
    ],
)
def test_bunny_accepts_good_requests(
    method: str, url: str, headers: dict[str, str], body: bytes | None
) -> None:
    validate_request(method, url, headers, body)


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "problem"),
    [
        ("POST", f"{BUNNY}/purge?url=https://a.example/x", {}, None, "no AccessKey"),
        (
            "POST",
            f"{BUNNY}/purge?url=https://a.example/x",
            {**ACCESS, "Authorization": "Bearer x"},
            None,
            "takes the AccessKey header",
        ),
        ("POST", f"{BUNNY}/purge", ACCESS, None, "exactly one url"),
        (
            "POST",
            f"{BUNNY}/purge?url=https://a.example/x&url=https://a.example/y",
            ACCESS,
            None,
            "exactly one url query value, got 2",
        ),
        ("POST", f"{BUNNY}/purge?url=/media/a.jpg", ACCESS, None, "absolute http(s) URL"),
        ("POST", f"{BUNNY}/purge?url=https://a.example/x&async=1", ACCESS, None, "true or false"),
        (
            "POST",
            f"{BUNNY}/purge?url=https://a.example/x",
            {**ACCESS, **JSON},
            _json({"urls": ["https://a.example/x"]}),
            "has no body",
        ),
        (
            "POST",
            f"{BUNNY}/pullzone/{PULL_ZONE_ID}/purgeCache",
            {**ACCESS, **JSON},
            _json({"CacheTag": "a", "Extra": 1}),
            '{"CacheTag": "<tag>"} only',
        ),
        (
            "POST",
            f"{BUNNY}/pullzone/{PULL_ZONE_ID}/purgeCache",
            {**ACCESS, **JSON},
            _json({"CacheTag": ""}),
            "non-empty string",
        ),
        (
            "POST",
            f"{BUNNY}/pullzone/{PULL_ZONE_ID}/purgeCache",
            {**ACCESS, "Content-Type": "text/plain"},
            b"CacheTag=a",
            "not JSON",
        ),
        ("POST", f"{BUNNY}/pullzone/abc/purgeCache", ACCESS, None, "id"),
        (
            "GET",
            f"{BUNNY}/pullzone/{PULL_ZONE_ID}?includeCertificate=true",
            ACCESS,
            None,
            "certificate",
        ),
        ("POST", f"{BUNNY}/pullzone/{PULL_ZONE_ID}", ACCESS, None, "OperationNotFound"),
        ("GET", f"{BUNNY}/storagezone", ACCESS, None, "PathNotFound"),
    ],
)
def test_bunny_rejects_bad_requests(
    method: str, url: str, headers: dict[str, str], body: bytes | None, problem: str
) -> None:
    with pytest.raises(ContractViolation, match=r"bunny\.net API contract: request") as info:
        validate_request(method, url, headers, body)
    assert problem in str(info.value)
    assert ACCESS_KEY not in str(info.value)


# -- bunny.net: responses --------------------------------------------------------------


def test_bunny_checks_responses() -> None:
    purge = f"{BUNNY}/purge?url=https://a.example/x"
    zone = f"{BUNNY}/pullzone/{PULL_ZONE_ID}"
    purge_zone = zone + "/purgeCache"
    validate_response("POST", purge, 200, {}, b"")
    validate_response("POST", purge_zone, 204, {}, b"")
    validate_response("POST", purge_zone, 200, {}, b"")  # as the live API has answered
    validate_response("GET", zone, 200, JSON, _json(pull_zone_body()))
    validate_response("POST", purge, 404, JSON, _json(PULL_ZONE_NOT_FOUND))
    validate_response("POST", purge, 429, {"Retry-After": "2"}, b"")
    validate_response("POST", purge, 401, JSON, _json({"Message": "Authorization has been denied"}))
    validate_response("POST", purge, 502, {"Content-Type": "text/html"}, b"<html></html>")
    bad = [
        ("GET", zone, 200, JSON, _json({**pull_zone_body(), "Extra": 1}), "Extra"),
        ("GET", zone, 200, JSON, _json({"Id": "x"}), "Id"),
        ("POST", purge, 200, JSON, b'{"ok": true}', "no body"),
        ("POST", purge, 404, JSON, _json({"error": "not found"}), "ErrorKey"),
        ("POST", purge, 429, {"Retry-After": "soon"}, b"", "Retry-After"),
        ("POST", purge, 400, JSON, _json({"ErrorKey": "a", "Field": "b", "Message": 3}), "strings"),
    ]
    for method, url, status, headers, body, problem in bad:
        with pytest.raises(ContractViolation, match=f"response {status}") as info:
            validate_response(method, url, status, headers, body)
        assert problem in str(info.value)


def test_bunny_api_mock(bunny_api: BunnyAPIMock, cf_contract: Contract) -> None:
    bunny_api.add_purge_ok()
    bunny_api.add_purge_zone_ok()
    bunny_api.add_pull_zone_ok(name="shop", hostnames=("cdn.shop.example",))
    url = "https://cdn.example.com/a.jpg"
    assert requests.post(f"{BUNNY}/purge", params={"url": url}, headers=ACCESS, timeout=1).ok
    tag = {"CacheTag": "product-1"}
    purged = requests.post(
        f"{BUNNY}/pullzone/{PULL_ZONE_ID}/purgeCache", json=tag, headers=ACCESS, timeout=1
    )
    assert purged.status_code == 204
    zone = requests.get(f"{BUNNY}/pullzone/{PULL_ZONE_ID}", headers=ACCESS, timeout=1).json()
    assert [h["Value"] for h in zone["Hostnames"]] == ["shop.b-cdn.net", "cdn.shop.example"]
    assert bunny_api.purged_urls() == [url]
    assert bunny_api.purged_zones() == [(PULL_ZONE_ID, "product-1")]
    assert cf_contract.checked == 3
    with cf_contract.expect_violation("no AccessKey"):
        requests.post(f"{BUNNY}/purge", params={"url": url}, timeout=1)


def test_bunny_api_mock_errors(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_rate_limited(retry_after=None)
    bunny_api.add_unauthorized("GET", f"/pullzone/{PULL_ZONE_ID}")
    limited = requests.post(
        f"{BUNNY}/purge", params={"url": "https://a.example/"}, headers=ACCESS, timeout=1
    )
    assert (limited.status_code, "Retry-After" in limited.headers) == (429, False)
    denied = requests.get(f"{BUNNY}/pullzone/{PULL_ZONE_ID}", headers=ACCESS, timeout=1)
    assert denied.status_code == 401


# -- Cloudflare Images: requests ---------------------------------------------------------


def test_images_accepts_good_requests() -> None:
    headers, body = _multipart(
        file=("cat.jpg", b"\xff\xd8\xff", "image/jpeg"),
        requireSignedURLs="true",
        metadata=json.dumps({"photo": 12}),
        id="photo-12",
    )
    validate_request("POST", IMAGES + "/v1", headers, body)
    headers, body = _multipart(url="https://www.example.com/cat.jpg")
    validate_request("POST", IMAGES + "/v1", headers, body)
    validate_request("GET", f"{IMAGES}/v1/{IMAGE_ID}", BEARER, None)
    # Real ids are 36-character UUIDs, although the schema says 32 at most.
    validate_request("GET", f"{IMAGES}/v1/107b9558-dd06-4bbd-5fef-9c2c16bb7900", BEARER, None)
    patch = {**BEARER, **JSON}
    validate_request("PATCH", f"{IMAGES}/v1/{IMAGE_ID}", patch, _json({"requireSignedURLs": True}))
    validate_request("DELETE", f"{IMAGES}/v1/{IMAGE_ID}", BEARER, None)
    validate_request("GET", f"{IMAGES}/v2?per_page=100&continuation_token=abc", BEARER, None)
    validate_request("GET", f"{IMAGES}/v1/stats", BEARER, None)


@pytest.mark.parametrize(
    ("method", "path", "parts_or_body", "problem"),
    [
        ("POST", "/v1", {}, "exactly one of file and url"),
        (
            "POST",
            "/v1",
            {"file": ("a.jpg", b"x", "image/jpeg"), "url": "https://a.example/a.jpg"},
            "exactly one of file and url",
        ),
        ("POST", "/v1", {"url": "https://a.example/a.jpg", "name": "x"}, "unknown parts"),
        ("POST", "/v1", {"url": "https://a.example/a.jpg", "metadata": "[1]"}, "metadata"),
        ("POST", "/v1", {"url": "https://a.example/a.jpg", "metadata": "x" * 1100}, "metadata"),
        (
            "POST",
            "/v1",
            {"url": "https://a.example/a.jpg", "requireSignedURLs": "yes"},
            "true or false",
        ),
        ("PATCH", f"/v1/{IMAGE_ID}", {}, "non-empty object"),
        ("PATCH", f"/v1/{IMAGE_ID}", {"filename": "b.jpg"}, "non-empty object"),
        ("PATCH", f"/v1/{IMAGE_ID}", {"requireSignedURLs": "yes"}, "boolean"),
        ("DELETE", f"/v1/{IMAGE_ID}", {"id": IMAGE_ID}, "sends no body"),
        ("GET", "/v2?per_page=5", None, "per_page"),
        ("GET", "/v2?sort_order=newest", None, "sort_order"),
        ("GET", "/v1/x/y", None, "PathNotFound"),
    ],
)
def test_images_rejects_bad_requests(
    method: str, path: str, parts_or_body: Any, problem: str
) -> None:
    if method == "POST":
        headers, body = _multipart(**parts_or_body)
    else:
        headers = {**BEARER, **JSON} if parts_or_body is not None else BEARER
        body = _json(parts_or_body) if parts_or_body is not None else None
    with pytest.raises(ContractViolation, match="Cloudflare Images API contract") as info:
        validate_request(method, IMAGES + path, headers, body)
    assert problem in str(info.value)


def test_images_rejects_bad_auth_and_accounts() -> None:
    with pytest.raises(ContractViolation, match="no credentials"):
        validate_request("GET", f"{IMAGES}/v1/stats", {}, None)
    with pytest.raises(ContractViolation, match="32 lowercase hex"):
        validate_request("GET", f"{API_URL}/accounts/example/images/v1/stats", BEARER, None)
    headers = {"Content-Type": "application/json", **BEARER}
    with pytest.raises(ContractViolation, match="multipart/form-data"):
        validate_request("POST", IMAGES + "/v1", headers, _json({"url": "https://a.example/"}))


# -- Cloudflare Images: responses -----------------------------------------------------------


def test_images_checks_responses() -> None:
    def envelope(result: Any) -> bytes:
        return _json({"result": result, "success": True, "errors": [], "messages": []})

    image = f"{IMAGES}/v1/{IMAGE_ID}"
    validate_response("GET", image, 200, JSON, envelope(image_body()))
    validate_response("DELETE", image, 200, JSON, envelope({}))
    validate_response("GET", f"{IMAGES}/v2", 200, JSON, envelope({"images": [image_body()]}))
    validate_response("GET", image, 404, JSON, _json(failure_body(5404, "Image not found")))
    validate_response("GET", image, 503, {"Content-Type": "text/html"}, b"<html></html>")
    bad = [
        (200, envelope(image_body("f" * 36)), "too long"),
        (200, envelope({**image_body(), "uploaded": 5}), "uploaded"),
        (200, _json({"result": image_body(), "success": True}), "errors"),
        (403, _json({"success": False, "errors": [], "messages": [], "result": {}}), "None"),
    ]
    for status, body, problem in bad:
        with pytest.raises(ContractViolation, match=f"response {status}") as info:
            validate_response("GET", image, status, JSON, body)
        assert problem in str(info.value)


def test_images_api_mock(images_api: ImagesAPIMock, cf_contract: Contract) -> None:
    images_api.add_upload_ok(filename="cat.jpg", metadata={"photo": 1})
    images_api.add_delete_ok()
    images_api.add_list_ok([image_body()], continuation_token="abc")
    images_api.add_stats_ok(current=1)
    images_api.add_error("GET", f"/images/v1/{IMAGE_ID}")
    files = {"file": ("cat.jpg", b"\xff\xd8\xff", "image/jpeg")}
    uploaded = requests.post(IMAGES + "/v1", files=files, headers=BEARER, timeout=1).json()
    assert uploaded["result"]["meta"] == {"photo": 1}
    assert requests.delete(f"{IMAGES}/v1/{IMAGE_ID}", headers=BEARER, timeout=1).ok
    page = requests.get(IMAGES + "/v2", headers=BEARER, timeout=1).json()["result"]
    assert page["continuation_token"] == "abc"
    stats = requests.get(IMAGES + "/v1/stats", headers=BEARER, timeout=1).json()
    assert stats["result"]["count"]["current"] == 1
    missing = requests.get(f"{IMAGES}/v1/{IMAGE_ID}", headers=BEARER, timeout=1)
    assert [e["code"] for e in missing.json()["errors"]] == [5404]
    assert cf_contract.checked == 5
    assert len(images_api.sent_requests()) == 5
