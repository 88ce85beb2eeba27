"""The fake bunny.net API: purges, pull zones, auth, rate limits, faults and records.

Every exchange below also passes through the bunny.net contract (``tests/bunnyapi.py``):
the fake's answers must validate against bunny.net's schema subset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_cfpurge.testing import fake_bunny_server  # noqa: F401  (the fixture under test)
from django_cfpurge.testing.bunny_api import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_PULL_ZONE_ID,
    OTHER_ACCESS_KEY,
    BunnyRateLimit,
    FakeBunny,
    PullZone,
)
from tests.cfapi import Contract

ZONE = DEFAULT_PULL_ZONE_ID
KEY = {"AccessKey": DEFAULT_ACCESS_KEY}
TIMEOUT = 5
NEW_KEY = "fake-bunny-new-access-key-000000000000000000000000000000"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bunny() -> Iterator[FakeBunny]:
    with FakeBunny(seed=1) as server:
        yield server


def purge_url(
    bunny: FakeBunny, url: str, headers: dict[str, str] | None = None, **params: str
) -> requests.Response:
    return requests.post(
        bunny.api_url + "/purge",
        params={"url": url, **params},
        headers=KEY if headers is None else headers,
        timeout=TIMEOUT,
    )


def purge_zone(
    bunny: FakeBunny,
    zone: int = ZONE,
    tag: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return requests.post(
        f"{bunny.api_url}/pullzone/{zone}/purgeCache",
        json={"CacheTag": tag} if tag is not None else None,
        headers=KEY if headers is None else headers,
        timeout=TIMEOUT,
    )


def get_zone(bunny: FakeBunny, zone: int = ZONE, **params: str) -> requests.Response:
    url = f"{bunny.api_url}/pullzone/{zone}"
    return requests.get(url, params=params, headers=KEY, timeout=TIMEOUT)


# -- purges ------------------------------------------------------------------------------


def test_fixture_and_one_url(
    fake_bunny_server: FakeBunny,  # noqa: F811  (the fixture imported above)
    cf_contract: Contract,
) -> None:
    response = purge_url(fake_bunny_server, "https://cdn.example.com/media/a.jpg")
    assert (response.status_code, response.content) == (200, b"")
    assert "Content-Type" not in response.headers
    assert fake_bunny_server.purged_urls() == ["https://cdn.example.com/media/a.jpg"]
    (record,) = fake_bunny_server.purges()
    assert (record["zone"], record["zone_name"], record["kind"]) == (ZONE, "example", "url")
    assert (record["async"], record["exact_path"]) == (False, False)
    assert cf_contract.checked == 1


@pytest.mark.parametrize(
    ("url", "params", "kind", "evict"),
    [
        (
            "https://cdn.example.com/img/a.jpg",
            {},
            "url",
            ("files", "https://cdn.example.com/img/a.jpg"),
        ),
        ("https://cdn.example.com/img/", {}, "wildcard", ("prefixes", "cdn.example.com/img/")),
        ("https://cdn.example.com/img/*", {}, "wildcard", ("prefixes", "cdn.example.com/img/")),
        ("https://cdn.example.com/i*/a.jpg", {}, "wildcard", ("prefixes", "cdn.example.com/i")),
        # exactPath applies only to zones that do not ignore query strings.
        ("https://cdn.example.com/img/", {"exactPath": "true"}, "wildcard", None),
        ("https://img.strict.example/a/", {"exactPath": "true", "async": "true"}, "url", None),
    ],
)
def test_wildcards(
    bunny: FakeBunny, url: str, params: dict[str, str], kind: str, evict: tuple[str, str] | None
) -> None:
    bunny.add_pull_zone("strict", hostnames=["img.strict.example"], ignore_query_strings=False)
    seen: list[tuple[str, list[Any]]] = []
    bunny.add_purge_listener(lambda k, items, serves: seen.append((k, list(items))) or 0)
    assert purge_url(bunny, url, **params).status_code == 200
    (record,) = bunny.purges()
    assert (record["kind"], record["items"]) == (kind, [url])
    if evict is not None:
        assert seen == [(evict[0], [evict[1]])]


def test_a_url_no_zone_of_the_account_serves(bunny: FakeBunny) -> None:
    for url, key in (
        ("https://elsewhere.example.org/a.jpg", DEFAULT_ACCESS_KEY),
        ("https://cdn.example.com/a.jpg", OTHER_ACCESS_KEY),
    ):
        response = purge_url(bunny, url, {"AccessKey": key})
        assert response.status_code == 404
        assert response.json() == {
            "ErrorKey": "pullZone.not_found",
            "Field": "PullZone",
            "Message": "The requested Pull Zone was not found",
        }
    assert bunny.purges() == []
    assert [r["errors"] for r in bunny.requests()] == [["pullZone.not_found"]] * 2


@pytest.mark.no_contract_request
def test_malformed_purges(bunny: FakeBunny) -> None:
    url = bunny.api_url + "/purge"
    two = [("url", "https://cdn.example.com/a"), ("url", "https://cdn.example.com/b")]
    for params in ([], two, [("url", "/media/a.jpg")]):
        response = requests.post(url, params=params, headers=KEY, timeout=TIMEOUT)
        assert (response.status_code, response.json()["ErrorKey"]) == (400, "purge.urls_invalid")
    flag = requests.post(
        url, params={"url": "https://cdn.example.com/a", "async": "1"}, headers=KEY, timeout=TIMEOUT
    )
    assert (flag.status_code, flag.json()) == (400, {"Message": "The request is invalid."})
    for headers in ({}, {"AccessKey": "wrong"}):
        denied = purge_url(bunny, "https://cdn.example.com/a", headers)
        assert (denied.status_code, denied.json()) == (
            401,
            {"Message": "Authorization has been denied for this request."},
        )
    assert requests.get(url, headers=KEY, timeout=TIMEOUT).status_code == 405
    assert bunny.purges() == []


def test_purge_cache_by_tag_and_whole_zone(bunny: FakeBunny) -> None:
    assert purge_zone(bunny, tag="product-123").status_code == 204
    whole = purge_zone(bunny)
    assert (whole.status_code, whole.content) == (204, b"")
    assert bunny.purged_tags() == ["product-123"]
    assert bunny.purged_zones() == [ZONE]
    assert [r["body"] for r in bunny.requests()] == [{"CacheTag": "product-123"}, None]
    bunny.configure(purge_zone_status=200)
    assert purge_zone(bunny).status_code == 200


def test_purge_cache_of_a_zone_not_owned(bunny: FakeBunny) -> None:
    other = bunny.add_pull_zone("theirs", account="other")
    assert purge_zone(bunny, other.id).status_code == 404
    assert purge_zone(bunny, 999).status_code == 404
    assert purge_zone(bunny, other.id, headers={"AccessKey": OTHER_ACCESS_KEY}).ok
    bunny.configure(unknown_zone_status=401)
    assert purge_zone(bunny, other.id).status_code == 401
    assert bunny.purged_zones() == [other.id]


@pytest.mark.no_contract_request
@pytest.mark.parametrize(
    "body", [b"{not json", b'{"CacheTag": 5}', b'{"Tag": "x"}', b'["x"]'], ids=str
)
def test_purge_cache_rejects_bodies(bunny: FakeBunny, body: bytes) -> None:
    response = requests.post(
        f"{bunny.api_url}/pullzone/{ZONE}/purgeCache",
        data=body,
        headers={**KEY, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert bunny.purges() == []


# -- pull zones --------------------------------------------------------------------------


def test_pull_zone_object(bunny: FakeBunny) -> None:
    response = get_zone(bunny)
    assert response.status_code == 200
    zone = response.json()
    assert (zone["Id"], zone["Name"], zone["Enabled"], zone["Suspended"]) == (
        ZONE,
        "example",
        True,
        False,
    )
    assert [h["Value"] for h in zone["Hostnames"]][:3] == [
        "example.b-cdn.net",
        "www.example.com",
        "cdn.example.com",
    ]
    assert zone["IgnoreQueryStrings"] is True
    for secret in ("ZoneSecurityKey", "AWSSigningSecret", "AWSSigningKey", "LogForwardingToken"):
        assert secret not in zone
    assert all("Certificate" not in h and "CertificateKey" not in h for h in zone["Hostnames"])
    assert get_zone(bunny, 999).status_code == 404


# -- rate limits -------------------------------------------------------------------------


def test_exact_and_prefix_buckets_per_account() -> None:
    clock = FakeClock()
    with FakeBunny(clock=clock) as bunny:
        bunny.add_access_key(NEW_KEY, "other")
        bunny.add_pull_zone("theirs", account="other", hostnames=["cdn.other.example"])
        exact = [purge_url(bunny, f"https://cdn.example.com/{i}.jpg") for i in range(121)]
        assert [r.status_code for r in exact].count(200) == 120
        assert (exact[-1].status_code, exact[-1].headers["Retry-After"]) == (429, "1")
        prefixes = [purge_url(bunny, f"https://cdn.example.com/{i}/") for i in range(21)]
        assert [r.status_code for r in prefixes].count(200) == 20
        assert prefixes[-1].headers["Retry-After"] == "2"  # 0.5 per second
        # Another account has buckets of its own.
        assert purge_url(bunny, "https://cdn.other.example/a", {"AccessKey": NEW_KEY}).ok
        clock.now += 0.2
        assert purge_url(bunny, "https://cdn.example.com/later.jpg").ok
        # Tag and zone purges are not limited unless asked to.
        assert purge_zone(bunny, tag="t").ok
        bunny.configure(limit_zone_purges=True)
        assert purge_zone(bunny, tag="t").status_code == 204
        assert len(bunny.purged_urls(zone=ZONE)) == 121
        assert len(bunny.purged_urls()) == 122


def test_rate_limit_options() -> None:
    limits = {"exact": BunnyRateLimit(burst=1, per_second=0.001)}
    with FakeBunny(rate_limits=limits, retry_after=False, limit_zone_purges=True) as bunny:
        assert purge_url(bunny, "https://cdn.example.com/a").ok
        limited = purge_url(bunny, "https://cdn.example.com/b")
        assert (limited.status_code, "Retry-After" in limited.headers) == (429, False)
        assert [purge_zone(bunny).status_code for _ in range(21)][-1] == 429
        bunny.configure(speed=1e9)
        assert purge_url(bunny, "https://cdn.example.com/b").ok
    with pytest.raises(ValueError, match="exact"):
        FakeBunny(rate_limits={"tags": {"burst": 1, "per_second": 1}})


# -- faults ------------------------------------------------------------------------------


def test_scripted_faults(bunny: FakeBunny) -> None:
    bunny.set_faults(
        fail_next=[
            503,
            429,
            {"status": 429, "retry_after": 3},
            {"status": 502, "html": True},
            "drop",
        ]
    )
    assert get_zone(bunny).ok  # only purges consume the script
    first = purge_url(bunny, "https://cdn.example.com/a")
    assert (first.status_code, first.json()) == (503, {"Message": "An error has occurred."})
    second = purge_zone(bunny)
    assert (second.status_code, second.content, "Retry-After" in second.headers) == (
        429,
        b"",
        False,
    )
    assert purge_url(bunny, "https://cdn.example.com/a").headers["Retry-After"] == "3"
    html = purge_url(bunny, "https://cdn.example.com/a")
    assert (html.status_code, html.headers["Content-Type"][:9]) == (502, "text/html")
    with pytest.raises(requests.ConnectionError):
        purge_url(bunny, "https://cdn.example.com/a")
    assert purge_url(bunny, "https://cdn.example.com/a").ok
    assert [r["fault"] for r in bunny.requests()][1:] == ["fail_next"] * 5 + [None]
    assert bunny.purged_urls() == ["https://cdn.example.com/a"]


def test_random_faults_are_seeded() -> None:
    runs = []
    for _ in range(2):
        with FakeBunny(seed=3, error_ratio=0.3, drop_ratio=0.1, error_style="json") as bunny:
            outcomes = []
            for i in range(40):
                try:
                    outcomes.append(purge_url(bunny, f"https://cdn.example.com/{i}").status_code)
                except requests.ConnectionError:
                    outcomes.append(0)
            assert outcomes.count(200) == len(bunny.purges())
            assert 0 < outcomes.count(503) < 40
            runs.append(outcomes)
    assert runs[0] == runs[1]


# -- records and control routes ------------------------------------------------------------


@pytest.mark.no_contract_request
def test_no_access_key_is_recorded_or_shown(bunny: FakeBunny) -> None:
    purge_url(bunny, "https://cdn.example.com/a")
    purge_url(bunny, "https://cdn.example.com/a", {"AccessKey": OTHER_ACCESS_KEY})
    purge_url(bunny, f"https://cdn.example.com/{DEFAULT_ACCESS_KEY}")
    purge_zone(bunny, tag=OTHER_ACCESS_KEY)
    texts = [
        requests.get(f"{bunny.control_url}/{route}", timeout=TIMEOUT).text
        for route in ("requests", "purges", "config", "health")
    ]
    for text in texts:
        assert DEFAULT_ACCESS_KEY not in text
        assert OTHER_ACCESS_KEY not in text
    assert "[redacted]" in texts[0]
    assert json.loads(texts[2])["accounts"] == ["default", "other"]
    assert "AccessKey" not in json.dumps(bunny.requests())


def test_control_routes(bunny: FakeBunny) -> None:
    control = bunny.control_url
    config = {
        "pull_zones": [{"id": 42, "name": "shop", "hostnames": ["img.shop.example"]}],
        "access_keys": {NEW_KEY: "default"},
        "faults": {"fail_next": [500]},
        "retry_after": False,
    }
    answer = requests.post(f"{control}/config", json=config, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert NEW_KEY not in answer.text
    assert (
        purge_url(bunny, "https://img.shop.example/a.jpg", {"AccessKey": NEW_KEY}).status_code
        == 500
    )
    assert purge_url(bunny, "https://img.shop.example/a.jpg", {"AccessKey": NEW_KEY}).ok
    purges = requests.get(f"{control}/purges", timeout=TIMEOUT).json()["purges"]
    assert [(p["zone"], p["kind"]) for p in purges] == [(42, "url")]
    bad = requests.post(f"{control}/config", json={"speed": 0}, timeout=TIMEOUT)
    assert bad.status_code == 400
    assert requests.post(f"{control}/reset", json={}, timeout=TIMEOUT).json() == {"ok": True}
    assert (bunny.purges(), bunny.requests()) == ([], [])
    assert 42 not in [z["id"] for z in bunny.config()["pull_zones"]]
    assert bunny.config()["retry_after"] is True


def test_pull_zone_validation() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        PullZone(0, "x")
    with pytest.raises(ValueError, match="lowercase"):
        PullZone(1, "Shop Zone")
    assert PullZone(7, "shop", ("CDN.Shop.Example",)).serves("cdn.shop.example")
