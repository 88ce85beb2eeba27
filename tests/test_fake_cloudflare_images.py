"""The fake Cloudflare Images API: uploads, images, listing, permissions, faults, records.

Every exchange below also passes through the Cloudflare Images contract
(``tests/imagesapi.py``): the fake's answers must validate against the schema subset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_cfpurge.testing import (  # noqa: F401  (the fixture under test)
    fake_cloudflare_images_server,
)
from django_cfpurge.testing.cloudflare_accounts import (
    ACCOUNT_TOKEN,
    DEFAULT_TOKEN,
    EXPIRED_TOKEN,
    UNKNOWN_TOKEN,
)
from django_cfpurge.testing.cloudflare_images_api import (
    DEFAULT_ACCOUNT_ID,
    IMAGES_EDIT_TOKEN,
    IMAGES_READ_TOKEN,
    FakeCloudflareImages,
    account_hash,
)
from tests.cfapi import Contract

TIMEOUT = 5
JPEG = b"\xff\xd8\xff\xe0\r\n--not-a-boundary\r\n" + bytes(range(256))
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def images() -> Iterator[FakeCloudflareImages]:
    with FakeCloudflareImages(seed=1) as server:
        yield server


def bearer(token: str = IMAGES_EDIT_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(fake: FakeCloudflareImages, path: str, account: str = DEFAULT_ACCOUNT_ID) -> str:
    return f"{fake.api_url}/accounts/{account}/images{path}"


def upload(
    fake: FakeCloudflareImages, token: str = IMAGES_EDIT_TOKEN, **fields: Any
) -> requests.Response:
    files = {
        name: value if isinstance(value, tuple) else (None, value) for name, value in fields.items()
    }
    files = files or {"file": ("cat.jpg", JPEG, "image/jpeg")}
    return requests.post(url(fake, "/v1"), files=files, headers=bearer(token), timeout=TIMEOUT)


def codes(response: requests.Response) -> list[int]:
    return [error["code"] for error in response.json()["errors"]]


# -- uploads -----------------------------------------------------------------------------------


def test_fixture_and_an_upload(
    fake_cloudflare_images_server: FakeCloudflareImages,  # noqa: F811  (imported above)
    cf_contract: Contract,
) -> None:
    fake = fake_cloudflare_images_server
    response = upload(fake)
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["errors"], body["messages"]) == (True, [], [])
    image = body["result"]
    assert len(image["id"]) == 32
    assert (image["filename"], image["requireSignedURLs"]) == ("cat.jpg", False)
    assert image["uploaded"].endswith("Z")
    assert image["variants"] == [
        f"https://imagedelivery.net/{account_hash(DEFAULT_ACCOUNT_ID)}/{image['id']}/public"
    ]
    assert "meta" not in image
    (change,) = fake.uploads()
    assert (change["image"], change["size"], change["source"]) == (image["id"], len(JPEG), "file")
    assert fake.images() == [image]
    assert cf_contract.checked == 1


def test_upload_by_url_with_every_field(images: FakeCloudflareImages) -> None:
    response = upload(
        images,
        url="https://www.example.com/media/dog.png",
        id="photo-12",
        metadata=json.dumps({"photo": 12}),
        requireSignedURLs="true",
        creator="user-7",
    )
    image = response.json()["result"]
    assert (image["id"], image["filename"], image["requireSignedURLs"]) == (
        "photo-12",
        "dog.png",
        True,
    )
    assert (image["meta"], image["creator"]) == ({"photo": 12}, "user-7")
    assert images.uploads()[0]["source"] == "url"
    again = upload(images, url="https://www.example.com/other.png", id="photo-12")
    assert (again.status_code, codes(again)) == (409, [5409])


@pytest.mark.no_contract_request
@pytest.mark.parametrize(
    "fields",
    [
        {"file": ("a.jpg", JPEG, "image/jpeg"), "url": "https://www.example.com/a.jpg"},
        {"metadata": "{}"},
        {"url": "https://www.example.com/a.jpg", "metadata": "[1]"},
        {"url": "https://www.example.com/a.jpg", "metadata": json.dumps({"a": "x" * 1100})},
        {"url": "https://www.example.com/a.jpg", "requireSignedURLs": "yes"},
        {"url": "/relative.jpg"},
        {"url": "https://www.example.com/a.jpg", "id": "x" * 33},
        {"url": "https://www.example.com/a.jpg", "name": "x"},
        {"file": ("empty.jpg", b"", "image/jpeg")},
    ],
    ids=repr,
)
def test_rejected_uploads(images: FakeCloudflareImages, fields: dict[str, Any]) -> None:
    response = upload(images, **fields)
    assert (response.status_code, codes(response)) == (400, [5400])
    assert images.uploads() == []


@pytest.mark.no_contract_request
def test_an_upload_must_be_a_form_of_at_most_10_mb(images: FakeCloudflareImages) -> None:
    raw = requests.post(
        url(images, "/v1"),
        json={"url": "https://www.example.com/a.jpg"},
        headers=bearer(),
        timeout=TIMEOUT,
    )
    assert (raw.status_code, codes(raw)) == (415, [5415])
    big = upload(images, file=("big.jpg", b"\xff" * (10 * 1024 * 1024 + 1), "image/jpeg"))
    assert (big.status_code, codes(big)) == (413, [5413])


# -- one image -------------------------------------------------------------------------------


def test_get_patch_delete(images: FakeCloudflareImages) -> None:
    evictions: list[tuple[str, list[Any], bool]] = []
    images.add_purge_listener(
        lambda kind, items, serves: (
            evictions.append((kind, list(items), serves("imagedelivery.net"))) or 1
        )
    )
    image_id = upload(images).json()["result"]["id"]
    one = url(images, f"/v1/{image_id}")
    assert requests.get(one, headers=bearer(IMAGES_READ_TOKEN), timeout=TIMEOUT).ok
    meta = requests.patch(one, json={"metadata": {"a": 1}}, headers=bearer(), timeout=TIMEOUT)
    assert meta.json()["result"]["meta"] == {"a": 1}
    assert evictions == []  # metadata does not purge
    signed = requests.patch(
        one, json={"requireSignedURLs": True}, headers=bearer(), timeout=TIMEOUT
    )
    assert signed.json()["result"]["requireSignedURLs"] is True
    prefix = f"imagedelivery.net/{account_hash(DEFAULT_ACCOUNT_ID)}/{image_id}/"
    assert evictions == [("prefixes", [prefix], True)]
    deleted = requests.delete(one, headers=bearer(), timeout=TIMEOUT)
    assert (deleted.status_code, deleted.json()["result"]) == (200, {})
    assert len(evictions) == 2
    gone = requests.get(one, headers=bearer(), timeout=TIMEOUT)
    assert (gone.status_code, codes(gone)) == (404, [5404])
    assert [c["kind"] for c in images.changes()] == ["upload", "patch", "patch", "delete"]
    assert [c.get("evicted") for c in images.changes()] == [None, None, 1, 1]
    assert images.patches()[0]["changes"] == {"metadata": {"a": 1}}
    assert images.deletes()[0]["image"] == image_id


@pytest.mark.no_contract_request
@pytest.mark.parametrize(
    "body", [{}, {"filename": "b.jpg"}, {"requireSignedURLs": "yes"}, {"metadata": [1]}], ids=repr
)
def test_rejected_patches(images: FakeCloudflareImages, body: Any) -> None:
    image_id = upload(images).json()["result"]["id"]
    response = requests.patch(
        url(images, f"/v1/{image_id}"), json=body, headers=bearer(), timeout=TIMEOUT
    )
    assert (response.status_code, codes(response)) == (400, [5400])
    assert images.patches() == []


# -- listing and stats ---------------------------------------------------------------------


def test_list_pages_and_stats(images: FakeCloudflareImages) -> None:
    ids = [
        upload(
            images, url=f"https://www.example.com/{i}.jpg", creator="a" if i % 2 else "b"
        ).json()["result"]["id"]
        for i in range(12)
    ]
    listing = url(images, "/v2")
    first = requests.get(
        listing, params={"per_page": 10}, headers=bearer(IMAGES_READ_TOKEN), timeout=TIMEOUT
    )
    page = first.json()["result"]
    assert [i["id"] for i in page["images"]] == ids[::-1][:10]
    token = page["continuation_token"]
    assert token is not None and len(token) <= 32
    second = requests.get(
        listing,
        params={"per_page": 10, "continuation_token": token},
        headers=bearer(),
        timeout=TIMEOUT,
    ).json()["result"]
    assert ([i["id"] for i in second["images"]], second["continuation_token"]) == (
        ids[::-1][10:],
        None,
    )
    ascending = requests.get(
        listing, params={"sort_order": "asc"}, headers=bearer(), timeout=TIMEOUT
    ).json()
    assert [i["id"] for i in ascending["result"]["images"]] == ids
    by_a = requests.get(listing, params={"creator": "a"}, headers=bearer(), timeout=TIMEOUT).json()
    assert len(by_a["result"]["images"]) == 6
    bad = requests.get(
        listing, params={"continuation_token": "zz"}, headers=bearer(), timeout=TIMEOUT
    )
    assert (bad.status_code, codes(bad)) == (400, [5400])
    stats = requests.get(url(images, "/v1/stats"), headers=bearer(), timeout=TIMEOUT).json()
    assert stats["result"] == {"count": {"allowed": 100000, "current": 12}}


# -- tokens ------------------------------------------------------------------------------------


def test_verify(images: FakeCloudflareImages) -> None:
    verify = f"{images.api_url}/accounts/{DEFAULT_ACCOUNT_ID}/tokens/verify"
    active = requests.get(verify, headers=bearer(), timeout=TIMEOUT).json()
    assert active["result"]["status"] == "active"
    assert [m["code"] for m in active["messages"]] == [10000]
    user = requests.get(verify, headers=bearer(DEFAULT_TOKEN), timeout=TIMEOUT)
    assert (user.status_code, codes(user)) == (401, [1000])


@pytest.mark.parametrize(
    ("token", "method", "status", "code"),
    [
        (IMAGES_READ_TOKEN, "POST", 403, 10000),
        (IMAGES_READ_TOKEN, "GET", 200, None),
        (ACCOUNT_TOKEN, "GET", 403, 10000),
        (DEFAULT_TOKEN, "GET", 403, 10000),
        (UNKNOWN_TOKEN, "GET", 401, 1000),
        (EXPIRED_TOKEN, "GET", 401, 1000),
    ],
)
def test_permissions(
    images: FakeCloudflareImages, token: str, method: str, status: int, code: int | None
) -> None:
    if method == "POST":
        response = upload(images, token)
    else:
        response = requests.get(url(images, "/v1/stats"), headers=bearer(token), timeout=TIMEOUT)
    assert response.status_code == status
    assert codes(response) == ([] if code is None else [code])


@pytest.mark.no_contract_request
def test_accounts_and_credentials(images: FakeCloudflareImages) -> None:
    other = requests.get(url(images, "/v1/stats", OTHER_ACCOUNT), headers=bearer(), timeout=TIMEOUT)
    assert (other.status_code, codes(other)) == (403, [10000])
    malformed = requests.get(url(images, "/v1/stats", "example"), headers=bearer(), timeout=TIMEOUT)
    assert (malformed.status_code, codes(malformed)) == (400, [7003, 7000])
    missing = requests.get(url(images, "/v1/stats"), timeout=TIMEOUT)
    assert (missing.status_code, codes(missing)) == (400, [9106])
    wrong = requests.get(
        url(images, "/v1/stats"), headers={"Authorization": "Bearer x"}, timeout=TIMEOUT
    )
    assert (wrong.status_code, codes(wrong)) == (400, [6003])
    deprecated = requests.get(url(images, "/v1"), headers=bearer(), timeout=TIMEOUT)
    assert (deprecated.status_code, deprecated.headers["Allow"]) == (405, "POST")


# -- limits, faults, records ------------------------------------------------------------------


def test_request_limit_per_token() -> None:
    with FakeCloudflareImages(global_limit=2) as fake:
        stats = url(fake, "/v1/stats")
        answers = [requests.get(stats, headers=bearer(), timeout=TIMEOUT) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert (codes(answers[2]), answers[2].headers["Retry-After"]) == ([971], "300")
        assert answers[0].headers["Ratelimit"] == '"default";r=1;t=300'
        reader = requests.get(stats, headers=bearer(IMAGES_READ_TOKEN), timeout=TIMEOUT)
        assert reader.ok


def test_scripted_faults(images: FakeCloudflareImages) -> None:
    images.set_faults(fail_next=[503, {"status": 429, "retry_after": 2}, "drop"])
    stats = url(images, "/v1/stats")
    assert requests.get(stats, headers=bearer(), timeout=TIMEOUT).ok  # reads pass by
    first = upload(images)
    assert (first.status_code, codes(first)) == (503, [5503])
    second = upload(images)
    assert (second.status_code, second.headers["Retry-After"], codes(second)) == (429, "2", [971])
    with pytest.raises(requests.ConnectionError):
        upload(images)
    assert upload(images).ok
    assert [r["fault"] for r in images.requests()] == [
        None,
        "fail_next",
        "fail_next",
        "fail_next",
        None,
    ]
    assert len(images.uploads()) == 1


def test_records_hold_no_secret_nor_image_bytes(images: FakeCloudflareImages) -> None:
    upload(images)
    upload(
        images, url="https://www.example.com/a.jpg", metadata=json.dumps({"t": IMAGES_EDIT_TOKEN})
    )
    texts = [
        requests.get(f"{images.control_url}/{route}", timeout=TIMEOUT).text
        for route in ("requests", "changes", "config", "images", "health")
    ]
    for text in texts:
        for secret in (IMAGES_EDIT_TOKEN, IMAGES_READ_TOKEN, DEFAULT_TOKEN):
            assert secret not in text
        assert "not-a-boundary" not in text
    assert "[redacted]" in texts[0]
    assert json.loads(texts[2])["images"] == {DEFAULT_ACCOUNT_ID: 2}
    requests.post(f"{images.control_url}/reset", json={}, timeout=TIMEOUT)
    assert (images.images(), images.changes(), images.requests()) == ([], [], [])
