"""The fake Cloudflare API: routes, auth, limits, faults, records and control routes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from django_cfpurge.testing.cloudflare_api import (
    ACCOUNT_TOKEN,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_ID,
    DEFAULT_ZONE_ID,
    DISABLED_TOKEN,
    EXPIRED_TOKEN,
    GLOBAL_KEY,
    GLOBAL_KEY_EMAIL,
    NO_PURGE_TOKEN,
    UNKNOWN_TOKEN,
    FakeCloudflare,
    FakeCloudflareRemote,
    PurgeRateLimit,
    Token,
)

ZONE = DEFAULT_ZONE_ID
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"
NEW_TOKEN = "cfut_" + "N" * 40 + "newtoken"
TIMEOUT = 5


# -- helpers -------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare(seed=1) as server:
        yield server


def bearer(token: str = DEFAULT_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def key_pair(email: str = GLOBAL_KEY_EMAIL, key: str = GLOBAL_KEY) -> dict[str, str]:
    return {"X-Auth-Email": email, "X-Auth-Key": key}


def purge(
    fake: FakeCloudflare | FakeCloudflareRemote,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    zone: str = ZONE,
    session: requests.Session | None = None,
) -> requests.Response:
    sender = session or requests
    return sender.post(
        f"{fake.api_url}/zones/{zone}/purge_cache",
        json=body,
        headers=bearer() if headers is None else headers,
        timeout=TIMEOUT,
    )


def api_get(
    fake: FakeCloudflare | FakeCloudflareRemote, path: str, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.get(
        fake.api_url + path, headers=bearer() if headers is None else headers, timeout=TIMEOUT
    )


def codes(response: requests.Response) -> list[int]:
    return [error["code"] for error in response.json()["errors"]]


def chain_codes(response: requests.Response) -> list[int]:
    return [
        link["code"] for error in response.json()["errors"] for link in error.get("error_chain", [])
    ]


def urls(n: int, prefix: str = "https://www.example.com/f") -> list[str]:
    return [f"{prefix}{i}.jpg" for i in range(n)]


# -- lifecycle -----------------------------------------------------------------------


def test_urls_and_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeCloudflare(host="0.0.0.0")  # noqa: S104  (the point: it must refuse)
    with FakeCloudflare() as server:
        assert server.api_url == f"http://127.0.0.1:{server.port}/client/v4"
        assert server.control_url == f"http://127.0.0.1:{server.port}/__fake__"
        response = requests.get(server.control_url + "/health", timeout=TIMEOUT)
        assert response.json()["ok"] is True
    assert not server.running


def test_stop_closes_kept_alive_connections() -> None:
    server = FakeCloudflare().start()
    health = server.control_url + "/health"
    with requests.Session() as session:
        assert session.get(health, timeout=TIMEOUT).status_code == 200
        server.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(health, timeout=2)


def test_every_api_response_carries_cloudflare_headers(fake: FakeCloudflare) -> None:
    response = purge(fake, {"files": ["https://www.example.com/a.jpg"]})
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {"id": ZONE},
    }
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Ratelimit"] == '"default";r=1199;t=300'
    assert response.headers["Ratelimit-Policy"] == '"default";q=1200;w=300'
    assert response.headers["cf-ray"]
    assert "Retry-After" not in response.headers


def test_token_repr_and_config_hide_values(fake: FakeCloudflare) -> None:
    token = fake.add_token(NEW_TOKEN)
    assert NEW_TOKEN not in repr(token)
    text = json.dumps(fake.config())
    for secret in (DEFAULT_TOKEN, NEW_TOKEN, ACCOUNT_TOKEN, GLOBAL_KEY):
        assert secret not in text


# -- authentication ------------------------------------------------------------------

PURGE = ("POST", f"/zones/{ZONE}/purge_cache")
ZONE_GET = ("GET", f"/zones/{ZONE}")
VERIFY_USER = ("GET", "/user/tokens/verify")
VERIFY_ACCOUNT = ("GET", f"/accounts/{DEFAULT_ACCOUNT_ID}/tokens/verify")


@pytest.mark.no_contract_request
@pytest.mark.parametrize(
    ("route", "headers", "status", "errors", "chain"),
    [
        pytest.param(PURGE, {"Authorization": "Bearer short"}, 400, [6003], [6111], id="short"),
        pytest.param(
            PURGE, {"Authorization": f"Token {DEFAULT_TOKEN}"}, 400, [6003], [6111], id="scheme"
        ),
        pytest.param(
            PURGE, {"Authorization": f"Bearer {DEFAULT_TOKEN}!"}, 400, [6003], [6111], id="chars"
        ),
        pytest.param(
            VERIFY_USER, {"Authorization": "Bearer x"}, 400, [6003], [6111], id="verify-malformed"
        ),
        pytest.param(PURGE, key_pair(key="not-a-key"), 400, [6003], [6103], id="bad-key"),
        pytest.param(PURGE, key_pair(email="no-at-sign"), 400, [6003], [6102], id="bad-email"),
        pytest.param(PURGE, {}, 400, [9106], [], id="no-credentials"),
        pytest.param(ZONE_GET, {}, 400, [9106], [], id="zone-no-credentials"),
        pytest.param(
            PURGE, {"X-Auth-Email": GLOBAL_KEY_EMAIL}, 400, [9106], [], id="email-without-key"
        ),
        pytest.param(PURGE, bearer(UNKNOWN_TOKEN), 401, [1000], [], id="unknown-token"),
        pytest.param(VERIFY_USER, bearer(UNKNOWN_TOKEN), 401, [1000], [], id="verify-unknown"),
        pytest.param(
            VERIFY_USER, bearer(ACCOUNT_TOKEN), 401, [1000], [], id="account-token-user-verify"
        ),
        pytest.param(
            VERIFY_ACCOUNT, bearer(DEFAULT_TOKEN), 401, [1000], [], id="user-token-account-verify"
        ),
        pytest.param(
            ("GET", f"/accounts/{OTHER_ACCOUNT}/tokens/verify"),
            bearer(ACCOUNT_TOKEN),
            403,
            [10000],
            [],
            id="account-token-other-account",
        ),
        pytest.param(VERIFY_USER, key_pair(), 401, [1000], [], id="global-key-on-verify"),
        pytest.param(
            PURGE, key_pair(email="someone@example.com"), 403, [9103], [], id="wrong-email"
        ),
        pytest.param(PURGE, key_pair(key="f" * 37), 403, [9103], [], id="wrong-key"),
        pytest.param(PURGE, bearer(NO_PURGE_TOKEN), 403, [10000], [], id="no-purge-grant"),
        pytest.param(PURGE, bearer(EXPIRED_TOKEN), 401, [1000], [], id="expired-purge"),
        pytest.param(PURGE, bearer(DISABLED_TOKEN), 401, [1000], [], id="disabled-purge"),
        pytest.param(ZONE_GET, bearer(EXPIRED_TOKEN), 401, [1000], [], id="expired-zone"),
    ],
)
def test_auth_errors(
    fake: FakeCloudflare,
    route: tuple[str, str],
    headers: dict[str, str],
    status: int,
    errors: list[int],
    chain: list[int],
) -> None:
    method, path = route
    response = requests.request(
        method, fake.api_url + path, headers=headers, json={"tags": ["a"]}, timeout=TIMEOUT
    )
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert codes(response) == errors
    assert chain_codes(response) == chain
    assert fake.purges() == []


def test_token_without_zone_grant_cannot_read_or_purge(fake: FakeCloudflare) -> None:
    other = fake.add_zone("other.org", account_id=OTHER_ACCOUNT)
    fake.add_token(NEW_TOKEN, purge_zones=[other.id])
    assert codes(api_get(fake, f"/zones/{ZONE}", bearer(NEW_TOKEN))) == [10000]
    assert codes(purge(fake, {"tags": ["a"]}, headers=bearer(NEW_TOKEN))) == [10000]
    assert purge(fake, {"tags": ["a"]}, headers=bearer(NEW_TOKEN), zone=other.id).ok
    # An account token never reaches a zone of another account, even with ALL_ZONES.
    assert codes(purge(fake, {"tags": ["a"]}, headers=bearer(ACCOUNT_TOKEN), zone=other.id)) == [
        10000
    ]


def test_global_key_and_account_token_can_purge(fake: FakeCloudflare) -> None:
    assert purge(fake, {"tags": ["a"]}, headers=key_pair()).status_code == 200
    assert purge(fake, {"tags": ["b"]}, headers=bearer(ACCOUNT_TOKEN)).status_code == 200
    assert [p["credential"] for p in fake.purges()] == [
        fake.config()["global_keys"][0]["id"],
        Token(ACCOUNT_TOKEN, owner="account", account_id=DEFAULT_ACCOUNT_ID).id,
    ]


@pytest.mark.parametrize(
    ("token", "status", "expires_on", "messages"),
    [
        (DEFAULT_TOKEN, "active", None, [10000]),
        (EXPIRED_TOKEN, "expired", "2020-01-01T00:00:00Z", []),
        (DISABLED_TOKEN, "disabled", None, []),
    ],
)
def test_verify_user_token(
    fake: FakeCloudflare, token: str, status: str, expires_on: str | None, messages: list[int]
) -> None:
    response = api_get(fake, "/user/tokens/verify", bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["result"]["status"] == status
    assert body["result"].get("expires_on") == expires_on
    assert [m["code"] for m in body["messages"]] == messages
    if token == DEFAULT_TOKEN:
        assert body["result"]["id"] == DEFAULT_TOKEN_ID
        assert body["messages"][0]["type"] is None


def test_verify_account_token(fake: FakeCloudflare) -> None:
    response = api_get(fake, f"/accounts/{DEFAULT_ACCOUNT_ID}/tokens/verify", bearer(ACCOUNT_TOKEN))
    assert response.status_code == 200
    assert response.json()["result"]["status"] == "active"


def test_token_past_its_expiry_is_expired(fake: FakeCloudflare) -> None:
    fake.add_token(NEW_TOKEN, expires_on="2021-06-01T00:00:00Z")
    verify = api_get(fake, "/user/tokens/verify", bearer(NEW_TOKEN))
    assert verify.json()["result"]["status"] == "expired"
    assert codes(purge(fake, {"tags": ["a"]}, headers=bearer(NEW_TOKEN))) == [1000]


# -- zones ---------------------------------------------------------------------------


def test_zone_object(fake: FakeCloudflare) -> None:
    response = api_get(fake, f"/zones/{ZONE}")
    assert response.status_code == 200
    zone = response.json()["result"]
    assert zone["id"] == ZONE
    assert zone["name"] == "example.com"
    assert zone["status"] == "active"
    assert zone["paused"] is False
    assert zone["account"] == {"id": DEFAULT_ACCOUNT_ID, "name": "Example Account"}
    assert zone["plan"]["legacy_id"] == "free"
    assert zone["plan"]["name"] == "Free Website"
    assert set(zone["plan"]) >= {
        "id",
        "price",
        "currency",
        "frequency",
        "is_subscribed",
        "can_subscribe",
        "legacy_discount",
        "externally_managed",
    }
    assert "#cache_purge:edit" in zone["permissions"]


@pytest.mark.parametrize(
    ("headers", "can_purge"),
    [(bearer(NO_PURGE_TOKEN), False), (bearer(ACCOUNT_TOKEN), True), (key_pair(), True)],
)
def test_zone_permissions_reflect_the_credential(
    fake: FakeCloudflare, headers: dict[str, str], can_purge: bool
) -> None:
    zone = api_get(fake, f"/zones/{ZONE}", headers).json()["result"]
    assert "#zone:read" in zone["permissions"]
    assert ("#cache_purge:edit" in zone["permissions"]) is can_purge


def test_zone_plan(fake: FakeCloudflare) -> None:
    zone = fake.add_zone("big.example.org", plan="enterprise")
    result = api_get(fake, f"/zones/{zone.id}").json()["result"]
    assert result["plan"]["legacy_id"] == "enterprise"
    assert result["name"] == "big.example.org"


def test_zone_identifiers(fake: FakeCloudflare) -> None:
    malformed = api_get(fake, "/zones/not-a-zone-id")
    assert (malformed.status_code, codes(malformed)) == (400, [7003, 7000])
    malformed_purge = purge(fake, {"tags": ["a"]}, zone="ABC")
    assert (malformed_purge.status_code, codes(malformed_purge)) == (400, [7003, 7000])
    unknown = api_get(fake, "/zones/" + "0" * 32)
    assert (unknown.status_code, codes(unknown)) == (403, [10000])
    fake.configure(unknown_zone_status=404)
    unknown = purge(fake, {"tags": ["a"]}, zone="0" * 32)
    assert (unknown.status_code, codes(unknown)) == (404, [7003])


@pytest.mark.no_contract_request
@pytest.mark.no_contract_response  # no schema for routes that do not exist
def test_unknown_route_and_method(fake: FakeCloudflare) -> None:
    response = api_get(fake, "/zones")
    assert (response.status_code, codes(response)) == (404, [7000])
    response = api_get(fake, f"/zones/{ZONE}/purge_cache")
    assert (response.status_code, codes(response)) == (405, [7001])


# -- purge bodies --------------------------------------------------------------------


@pytest.mark.no_contract_request
@pytest.mark.parametrize(
    ("mode", "plan", "key", "limit"),
    [
        ("legacy", "free", "files", 30),
        ("legacy", "business", "tags", 30),
        ("legacy", "enterprise", "files", 500),
        ("legacy", "enterprise", "prefixes", 500),
        ("current", "free", "files", 100),
        ("current", "pro", "hosts", 100),
        ("current", "enterprise", "files", 500),
        ("current", "enterprise", "tags", 100),
    ],
)
def test_item_limits(mode: str, plan: str, key: str, limit: int) -> None:
    with FakeCloudflare(plan_limits_mode=mode) as server:
        zone = server.add_zone(f"{plan}.example.org", plan=plan)

        def items(n: int) -> list[str]:
            if key == "files":
                return urls(n, f"https://www.{plan}.example.org/f")
            if key == "hosts":
                return [f"h{i}.{plan}.example.org" for i in range(n)]
            if key == "prefixes":
                return [f"www.{plan}.example.org/p{i}" for i in range(n)]
            return [f"tag-{i}" for i in range(n)]

        over = purge(server, {key: items(limit + 1)}, zone=zone.id)
        assert (over.status_code, codes(over)) == (400, [1013])
        assert purge(server, {key: items(limit)}, zone=zone.id).status_code == 200
        assert len(server.purges()[0]["items"]) == limit
        server.configure(too_many_items_code=1099)
        assert codes(purge(server, {key: items(limit + 1)}, zone=zone.id)) == [1099]


@pytest.mark.no_contract_request
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"files": ["https://www.example.com/a"], "tags": ["a"]}, id="two-kinds"),
        pytest.param({"tags": ["a"], "purge_everything": True}, id="tags-and-everything"),
        pytest.param({"files": []}, id="empty-list"),
        pytest.param({"tags": "a"}, id="not-a-list"),
        pytest.param({"purge_everything": False}, id="everything-false"),
        pytest.param({"hosts": ["https://www.example.com"]}, id="host-with-scheme"),
        pytest.param({"hosts": ["www.example.com/a"]}, id="host-with-path"),
        pytest.param({"prefixes": ["https://www.example.com/a"]}, id="prefix-with-scheme"),
        pytest.param({"prefixes": ["www.example.com/a?b=1"]}, id="prefix-with-query"),
        pytest.param({"files": ["/media/a.jpg"]}, id="relative-url"),
        pytest.param({"files": [{"headers": {"CF-IPCountry": "US"}}]}, id="file-without-url"),
        pytest.param(
            {"files": [{"url": "https://www.example.com/a", "headers": {"X": 1}}]},
            id="header-not-string",
        ),
        pytest.param({"tags": ["has space"]}, id="tag-with-space"),
        pytest.param({"tags": [5]}, id="tag-not-string"),
        pytest.param(["https://www.example.com/a"], id="not-an-object"),
        pytest.param(
            {"files": ["https://www.example.com/a", {"url": "https://www.example.com/b"}]},
            id="mixed-file-forms",
        ),
    ],
)
def test_rejected_purge_bodies(fake: FakeCloudflare, body: Any) -> None:
    response = purge(fake, body)
    assert (response.status_code, codes(response)) == (400, [1012])
    assert fake.purges() == []


@pytest.mark.no_contract_request
def test_rejected_body_code_is_configurable_and_json_is_required(fake: FakeCloudflare) -> None:
    fake.configure(invalid_body_code=1098)
    response = requests.post(
        f"{fake.api_url}/zones/{ZONE}/purge_cache",
        data=b"{not json",
        headers={**bearer(), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert (response.status_code, codes(response)) == (400, [1098])
    assert fake.requests()[-1]["body_error"] == "not JSON"


@pytest.mark.parametrize(
    ("body", "kind", "items"),
    [
        ({"tags": ["Tag-A", "b"]}, "tags", ["Tag-A", "b"]),
        ({"hosts": ["www.example.com"]}, "hosts", ["www.example.com"]),
        ({"prefixes": ["www.example.com/media"]}, "prefixes", ["www.example.com/media"]),
        ({"purge_everything": True}, "everything", []),
        (
            {"files": [{"url": "https://www.example.com/a", "headers": {"CF-IPCountry": "US"}}]},
            "files",
            [{"url": "https://www.example.com/a", "headers": {"CF-IPCountry": "US"}}],
        ),
    ],
)
def test_purge_kinds_are_recorded(
    fake: FakeCloudflare, body: dict[str, Any], kind: str, items: list[Any]
) -> None:
    assert purge(fake, body).status_code == 200
    (record,) = fake.purges()
    assert (record["zone"], record["zone_name"], record["kind"]) == (ZONE, "example.com", kind)
    assert record["items"] == items
    assert fake.purges(kind=kind) == [record]
    assert fake.purges(zone="f" * 32) == []


def test_cdn_cgi_urls_are_accepted_but_not_purged(fake: FakeCloudflare) -> None:
    variant = "https://www.example.com/cdn-cgi/image/width=100/media/a.jpg"
    original = "https://www.example.com/media/a.jpg"
    response = purge(fake, {"files": [variant, original]})
    assert response.status_code == 200
    assert fake.purged_urls() == [original]
    assert fake.purges()[0]["ignored"] == [variant]


def test_purged_helpers(fake: FakeCloudflare) -> None:
    purge(fake, {"files": ["https://www.example.com/a"]})
    purge(fake, {"files": [{"url": "https://www.example.com/b"}]})
    purge(fake, {"tags": ["t"]})
    purge(fake, {"hosts": ["h.example.com"]})
    purge(fake, {"prefixes": ["www.example.com/p"]})
    assert fake.purged_urls() == ["https://www.example.com/a", "https://www.example.com/b"]
    assert fake.purged_tags() == ["t"]
    assert fake.purged_hosts() == ["h.example.com"]
    assert fake.purged_prefixes() == ["www.example.com/p"]
    assert len(fake.wait_for_purges(5, timeout=0.1)) == 5
    with pytest.raises(TimeoutError):
        fake.wait_for_purges(6, timeout=0.05)


# -- rate limits ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flex_purge_bucket_per_account() -> None:
    clock = FakeClock()
    with FakeCloudflare(clock=clock) as server:
        same_account = server.add_zone("sister.example.net")
        other_account = server.add_zone("other.org", account_id=OTHER_ACCOUNT)
        statuses = [purge(server, {"tags": [f"t{i}"]}).status_code for i in range(25)]
        assert statuses == [200] * 25
        limited = purge(server, {"tags": ["late"]})
        assert limited.status_code == 429
        assert codes(limited) == [1134]
        # Free plan: 5 per minute, so one token every 12 seconds.
        assert limited.headers["Retry-After"] == "12"
        assert limited.headers["Ratelimit"].endswith(";r=0;t=12")
        assert "Ratelimit-Policy" in limited.headers
        # The bucket is the account's: a zone of the same account is limited too.
        assert purge(server, {"tags": ["x"]}, zone=same_account.id).status_code == 429
        assert purge(server, {"tags": ["x"]}, zone=other_account.id).status_code == 200
        # Single-file purges have their own bucket.
        assert purge(server, {"files": ["https://www.example.com/a"]}).status_code == 200
        clock.now += 12
        assert purge(server, {"tags": ["later"]}).status_code == 200
        assert purge(server, {"tags": ["again"]}).status_code == 429
        assert len(server.purges(zone=ZONE, kind="tags")) == 26


def test_file_purge_bucket_counts_urls() -> None:
    with FakeCloudflare(speed=1e-6) as server:
        # Free plan: 800 URLs per second, a bucket of one second's worth.
        statuses = [
            purge(server, {"files": urls(30, f"https://e.example.com/{i}/")}).status_code
            for i in range(26)
        ]
        assert statuses == [200] * 26
        limited = purge(server, {"files": urls(30)})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert len(server.purged_urls()) == 780


def test_rate_limit_code_and_custom_limits() -> None:
    limits = {"free": PurgeRateLimit(urls_per_second=10, flex_per_second=0.001, flex_burst=2)}
    with FakeCloudflare(rate_limit_code=971, rate_limits=limits) as server:
        assert purge(server, {"hosts": ["a.example.com"]}).status_code == 200
        assert purge(server, {"purge_everything": True}).status_code == 200
        limited = purge(server, {"prefixes": ["www.example.com/a"]})
        assert (limited.status_code, codes(limited)) == (429, [971])
        server.configure(speed=1e6)  # also empties the buckets
        assert purge(server, {"prefixes": ["www.example.com/a"]}).status_code == 200


def test_global_request_limit_per_token() -> None:
    clock = FakeClock()
    with FakeCloudflare(global_limit=3, clock=clock) as server:
        remaining = [api_get(server, "/user/tokens/verify").headers["Ratelimit"] for _ in range(3)]
        assert remaining == [
            '"default";r=2;t=300',
            '"default";r=1;t=300',
            '"default";r=0;t=300',
        ]
        limited = api_get(server, f"/zones/{ZONE}")
        assert (limited.status_code, codes(limited)) == (429, [971])
        assert limited.headers["Retry-After"] == "300"
        # Another credential has its own window.
        assert api_get(server, f"/zones/{ZONE}", key_pair()).status_code == 200
        clock.now += 300
        assert api_get(server, f"/zones/{ZONE}").status_code == 200


def test_speed_scales_the_global_window() -> None:
    with FakeCloudflare(speed=10) as server:
        response = api_get(server, "/user/tokens/verify")
        assert response.headers["Ratelimit-Policy"] == '"default";q=1200;w=30'


# -- faults --------------------------------------------------------------------------


def outcome(send: Callable[[], requests.Response]) -> int | str:
    try:
        return send().status_code
    except requests.ConnectionError:
        return "drop"


def test_error_ratio_styles(fake: FakeCloudflare) -> None:
    fake.set_faults(error_ratio=1.0, error_style="html")
    response = purge(fake, {"tags": ["a"]})
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert "503" in response.text
    fake.set_faults(error_style="json")
    response = purge(fake, {"tags": ["a"]})
    assert response.status_code == 503
    assert response.json()["success"] is False
    assert fake.purges() == []
    assert [r["fault"] for r in fake.requests()] == ["error", "error"]


def test_seeded_faults_are_reproducible_and_recorded() -> None:
    runs = []
    for _ in range(2):
        with FakeCloudflare(seed=42, error_ratio=0.3, drop_ratio=0.1, speed=1e6) as server:
            outcomes = [outcome(lambda i=i: purge(server, {"tags": [f"t{i}"]})) for i in range(60)]
            records = server.requests()
            assert outcomes.count(503) == sum(r["fault"] == "error" for r in records)
            assert outcomes.count("drop") == sum(r["status"] is None for r in records)
            assert outcomes.count(200) == len(server.purges())
            assert 0 < outcomes.count(503) < 60
            assert 0 < outcomes.count("drop") < 60
            runs.append(outcomes)
    assert runs[0] == runs[1]


def test_drop_ratio_closes_connections(fake: FakeCloudflare) -> None:
    fake.set_faults(drop_ratio=1.0)
    assert [outcome(lambda: purge(fake, {"tags": ["a"]})) for _ in range(3)] == ["drop"] * 3
    assert [r["status"] for r in fake.requests()] == [None, None, None]
    assert [r["fault"] for r in fake.requests()] == ["drop"] * 3


def test_fail_next_scripts_purge_answers(fake: FakeCloudflare) -> None:
    fake.set_faults(fail_next=[503, 429, {"status": 502, "html": True}, "drop"])
    # Only purge calls consume the script.
    assert api_get(fake, "/user/tokens/verify").status_code == 200
    first = purge(fake, {"tags": ["a"]})
    assert (first.status_code, codes(first)) == (503, [10001])
    second = purge(fake, {"tags": ["a"]})
    assert (second.status_code, codes(second)) == (429, [1134])
    assert second.headers["Retry-After"] == "1"
    third = purge(fake, {"tags": ["a"]})
    assert third.status_code == 502
    assert third.headers["Content-Type"].startswith("text/html")
    assert outcome(lambda: purge(fake, {"tags": ["a"]})) == "drop"
    assert purge(fake, {"tags": ["a"]}).status_code == 200
    assert [r["fault"] for r in fake.requests(route="purge")] == ["fail_next"] * 4 + [None]
    assert fake.config()["faults"]["fail_next"] == []


def test_fault_routes_and_latency(fake: FakeCloudflare) -> None:
    fake.set_faults(error_ratio=1.0, error_style="json", routes=["purge"], latency=0.01)
    assert api_get(fake, "/user/tokens/verify").status_code == 200
    assert purge(fake, {"tags": ["a"]}).status_code == 503
    assert [r["latency"] for r in fake.requests()] == [0.01, 0.01]
    with pytest.raises(ValueError, match="between 0 and 1"):
        fake.set_faults(error_ratio=2)
    with pytest.raises(ValueError, match="fail_next"):
        fake.set_faults(fail_next=[200])


# -- records and control API ---------------------------------------------------------


def test_request_records(fake: FakeCloudflare) -> None:
    body = {"files": ["https://www.example.com/a.jpg"]}
    purge(fake, body)
    api_get(fake, f"/zones/{ZONE}", key_pair())
    api_get(fake, "/user/tokens/verify", bearer(UNKNOWN_TOKEN))
    first, second, third = fake.requests()
    assert first["method"] == "POST"
    assert first["path"] == f"/client/v4/zones/{ZONE}/purge_cache"
    assert (first["route"], first["zone"], first["status"]) == ("purge", ZONE, 200)
    assert (first["auth"], first["credential"]) == ("token", DEFAULT_TOKEN_ID)
    assert first["body"] == body
    assert first["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in first["headers"]
    assert isinstance(first["timestamp"], float)
    assert first["time"].endswith("Z")
    assert (second["route"], second["auth"], second["status"]) == ("zone", "global_key", 200)
    assert (third["status"], third["errors"], third["credential"]) == (401, [1000], None)


@pytest.mark.no_contract_request
def test_no_secret_in_the_control_api(fake: FakeCloudflare) -> None:
    purge(fake, {"tags": ["a"]})
    purge(fake, {"tags": ["a"]}, headers=key_pair())
    purge(fake, {"tags": ["a"]}, headers=bearer(ACCOUNT_TOKEN))
    api_get(fake, "/user/tokens/verify", bearer(EXPIRED_TOKEN))
    # A careless client could even put a token in the URL or the body.
    api_get(fake, f"/user/tokens/verify?token={DEFAULT_TOKEN}")
    purge(fake, {"tags": [DISABLED_TOKEN]})
    texts = [
        requests.get(f"{fake.control_url}/{route}", timeout=TIMEOUT).text
        for route in ("requests", "purges", "config", "health")
    ]
    assert len(json.loads(texts[0])["requests"]) == 6
    for secret in (
        DEFAULT_TOKEN,
        ACCOUNT_TOKEN,
        EXPIRED_TOKEN,
        DISABLED_TOKEN,
        GLOBAL_KEY,
    ):
        for text in texts:
            assert secret not in text
    assert "[redacted]" in texts[0]


def test_control_api(fake: FakeCloudflare) -> None:
    control = fake.control_url
    health = requests.get(f"{control}/health", timeout=TIMEOUT).json()
    assert health == {"ok": True, "api_url": fake.api_url, "control_url": control}
    not_json = requests.post(f"{control}/reset", data="x", timeout=TIMEOUT)
    assert not_json.status_code == 415
    config = {
        "zones": [{"name": "shop.example.org", "plan": "pro"}],
        "tokens": [{"value": NEW_TOKEN, "purge_zones": "*"}],
        "faults": {"fail_next": [500]},
        "plan_limits_mode": "current",
    }
    answer = requests.post(f"{control}/config", json=config, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert NEW_TOKEN not in answer.text
    shop = next(z for z in answer.json()["config"]["zones"] if z["name"] == "shop.example.org")
    assert (
        purge(fake, {"tags": ["a"]}, zone=shop["id"], headers=bearer(NEW_TOKEN)).status_code == 500
    )
    assert purge(fake, {"tags": ["a"]}, zone=shop["id"], headers=bearer(NEW_TOKEN)).ok
    bad = requests.post(f"{control}/config", json={"speed": -1}, timeout=TIMEOUT)
    assert bad.status_code == 400
    purges = requests.get(f"{control}/purges", timeout=TIMEOUT).json()["purges"]
    assert [p["zone_name"] for p in purges] == ["shop.example.org"]
    assert requests.post(f"{control}/reset", json={}, timeout=TIMEOUT).json() == {"ok": True}
    assert fake.purges() == []
    assert fake.requests() == []
    assert "shop.example.org" not in [z["name"] for z in fake.config()["zones"]]
    assert fake.config()["plan_limits_mode"] == "legacy"


def test_reset_restores_the_initial_state() -> None:
    with FakeCloudflare(error_ratio=0.5, seed=7, speed=1e6, fault_routes=["purge"]) as server:
        first = [outcome(lambda: purge(server, {"tags": ["a"]})) for _ in range(20)]
        server.set_faults(error_ratio=0.0, fail_next=[503])
        server.add_token(NEW_TOKEN)
        server.reset()
        assert server.requests() == []
        assert server.config()["faults"]["error_ratio"] == 0.5
        assert NEW_TOKEN not in {t["id"] for t in server.config()["tokens"]}
        assert api_get(server, "/user/tokens/verify", bearer(NEW_TOKEN)).status_code == 401
        server.reset()
        again = [outcome(lambda: purge(server, {"tags": ["a"]})) for _ in range(20)]
        assert again == first
