"""The bunny.net backend at the wire: what it declares, what each purge kind sends, how
each answer is classified and worded, and its Test connection. Every request is checked
against bunny.net's schema subset by the contract (``tests/bunnyapi.py``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import override_settings

from django_cfpurge.backends import get_backend_class
from django_cfpurge.backends.base import RateBudget
from django_cfpurge.backends.bunny import (
    EXACT_BUDGET,
    PREFIX_BUDGET,
    BunnyBackend,
    steps,
    wildcard_url,
)
from django_cfpurge.backends.bunny.credentials import BunnyCredentials
from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.enums import Kind
from django_cfpurge.exceptions import (
    AuthenticationFailed,
    InsecureAPIURL,
    InvalidCredentials,
    InvalidResponse,
    NetworkError,
    RateLimited,
    RequestRejected,
    ServerError,
    ZoneNotFound,
)
from django_cfpurge.models import Zone
from tests.bunnyapi import (
    ACCESS_KEY,
    PULL_ZONE_ID,
    UNAUTHORIZED,
    BunnyAPIMock,
    error_body,
)

pytestmark = pytest.mark.django_db
VALUES = {"zone_id": str(PULL_ZONE_ID), "api_key": ACCESS_KEY}


def backend(**values: str) -> BunnyBackend:
    return BunnyBackend(BunnyBackend.clean_credentials({**VALUES, **values}))


def sent(bunny_api: BunnyAPIMock) -> list[tuple[str, str, dict[str, list[str]], bytes | None]]:
    """``(method, path, query, body)`` of every request."""
    out = []
    for request in bunny_api.sent_requests():
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        out.append((request.method or "", parts.path, parse_qs(parts.query), body))
    return out


# -- declarations -----------------------------------------------------------------------


def test_what_the_backend_declares() -> None:
    assert get_backend_class("bunny") is BunnyBackend
    assert BunnyBackend.kinds == ("files", "prefixes", "hosts", "tags", "everything")
    fields = {f.name: f for f in BunnyBackend.credential_fields}
    assert list(fields) == ["zone_id", "api_key"]
    assert (str(fields["zone_id"].label), str(fields["api_key"].label)) == (
        "Pull zone ID",
        "API key",
    )
    assert fields["api_key"].secret and not fields["zone_id"].secret
    assert str(BunnyBackend.zone_id_label) == "Pull zone ID"
    assert [type(s) for s in backend().test_steps()] == [
        steps.ReadPullZone,
        steps.ServedHostnames,
        steps.ProbePurge,
    ]


def test_one_item_per_call_and_all_hosts_in_one_purge_of_the_zone() -> None:
    bunny = backend()
    assert {kind: bunny.max_items(kind) for kind in BunnyBackend.kinds} == {
        "files": 1,
        "prefixes": 1,
        "hosts": 100,
        "tags": 1,
        "everything": 1,
    }


def test_budgets_are_bunnys_buckets_per_account() -> None:
    bunny = backend()
    assert bunny.budget(Kind.FILES) == EXACT_BUDGET == RateBudget("bunny-exact", 120, 24.0)
    assert EXACT_BUDGET.rate == 5
    assert RateBudget("bunny-prefix", 20, 40.0) == PREFIX_BUDGET
    assert PREFIX_BUDGET.rate == 0.5
    # Tags and whole-zone purges take the smaller bucket: bunny.net does not say which.
    for kind in (Kind.PREFIXES, Kind.TAGS, Kind.HOSTS, Kind.EVERYTHING):
        assert bunny.budget(kind) == PREFIX_BUDGET
    assert bunny.cost(Kind.FILES, 1) == 1


def test_the_rate_limit_key_is_a_hash_of_the_key_shared_by_its_pull_zones() -> None:
    key = backend().rate_limit_key()
    assert key.startswith("bunny-") and ACCESS_KEY not in key
    assert backend(zone_id="42").rate_limit_key() == key  # same account, another zone
    assert backend(api_key="another-account-key").rate_limit_key() != key
    assert ACCESS_KEY not in repr(backend())


# -- credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"zone_id": ""}, "zone_id", "Enter the Pull zone ID (In the bunny.net dashboard"),
        ({"zone_id": "cdn.b-cdn.net"}, "zone_id", "“cdn.b-cdn.net” looks like a hostname."),
        (
            {"zone_id": "023e105f4ecef8ad9ca31a8372d0c353"},
            "zone_id",
            "The Pull zone ID is a number, digits only; this value has 32 characters",
        ),
        ({"zone_id": "-5"}, "zone_id", "The Pull zone ID is a number"),
        ({"zone_id": "0"}, "zone_id", "The Pull zone ID is a number"),
        ({"api_key": ""}, "api_key", "Enter the account's API key (In the bunny.net dashboard"),
        ({"api_key": f'"{ACCESS_KEY}"'}, "api_key", "The API key is wrapped in quotes."),
        ({"api_key": ACCESS_KEY[:10] + "\u200b" + ACCESS_KEY[10:]}, "api_key", "U+200B"),
        ({"api_key": ACCESS_KEY[:10] + " " + ACCESS_KEY[10:]}, "api_key", "a space or line"),
    ],
)
def test_bad_values_are_named(values: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        BunnyBackend.clean_credentials({**VALUES, **values})
    assert caught.value.field == field
    assert message in str(caught.value)
    assert ACCESS_KEY not in str(caught.value)


def test_values_are_trimmed_and_the_id_normalised() -> None:
    creds = BunnyBackend.clean_credentials({"zone_id": " 0042 ", "api_key": f"  {ACCESS_KEY}\n"})
    assert (creds.zone_id, creds.api_key) == ("42", ACCESS_KEY)
    assert BunnyBackend.cleaned_values({"zone_id": "42", "api_key": f" {ACCESS_KEY}"}) == {
        "zone_id": "42",
        "api_key": ACCESS_KEY,
    }
    # No guess about the key's shape: bunny.net does not document one.
    assert BunnyBackend.clean_credentials({"zone_id": "1", "api_key": "abc"}).api_key == "abc"
    assert ACCESS_KEY not in repr(creds) and ACCESS_KEY not in str(creds)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(creds)
    assert isinstance(creds, BunnyCredentials)


def test_the_api_url_must_be_https() -> None:
    with (
        override_settings(CFPURGE={"BUNNY_API_URL": "http://api.bunny.net"}),
        pytest.raises(InsecureAPIURL, match=r"CFPURGE\['BUNNY_API_URL'\] must use https"),
    ):
        backend()


# -- what each kind sends ------------------------------------------------------------------


def test_a_url_is_one_purge_call_with_the_access_key(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_purge_ok()
    assert backend().purge(Kind.FILES, ["https://cdn.example.com/media/a.jpg"]) == ""
    (request,) = bunny_api.sent_requests()
    assert request.headers["AccessKey"] == ACCESS_KEY
    assert "Authorization" not in request.headers
    assert sent(bunny_api) == [
        ("POST", "/purge", {"url": ["https://cdn.example.com/media/a.jpg"]}, None)
    ]


def test_a_url_ending_in_a_slash_is_sent_as_an_exact_path(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_purge_ok()
    bunny = backend()
    bunny.purge(Kind.FILES, ["https://cdn.example.com/gallery/"])
    bunny.purge(Kind.FILES, [{"url": "https://cdn.example.com/a.jpg", "headers": {"X": "1"}}])
    assert sent(bunny_api) == [
        (
            "POST",
            "/purge",
            {"url": ["https://cdn.example.com/gallery/"], "exactPath": ["true"]},
            None,
        ),
        ("POST", "/purge", {"url": ["https://cdn.example.com/a.jpg"]}, None),
    ]


def test_a_prefix_becomes_a_wildcard(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_purge_ok()
    bunny = backend()
    bunny.purge(Kind.PREFIXES, ["cdn.example.com/media/photos/"])
    bunny.purge(Kind.PREFIXES, ["cdn.example.com"])
    assert [q["url"] for _m, _p, q, _b in sent(bunny_api)] == [
        ["https://cdn.example.com/media/photos/*"],
        ["https://cdn.example.com/*"],
    ]
    assert all("exactPath" not in q for _m, _p, q, _b in sent(bunny_api))
    assert wildcard_url("cdn.example.com/a*") == "https://cdn.example.com/a*"


def test_a_tag_hosts_and_everything_purge_the_pull_zone(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_purge_zone_ok()
    bunny = backend()
    bunny.purge(Kind.TAGS, ["photo-7"])
    bunny.purge(Kind.HOSTS, ["cdn.example.com", "www.example.com"])
    bunny.purge(Kind.EVERYTHING, [])
    assert bunny_api.purged_zones() == [
        (PULL_ZONE_ID, "photo-7"),
        (PULL_ZONE_ID, None),
        (PULL_ZONE_ID, None),
    ]
    bodies = [body for _m, _p, _q, body in sent(bunny_api)]
    assert bodies == [b'{"CacheTag": "photo-7"}', None, None]


def test_purge_cache_answering_200_instead_of_204_is_a_success(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_purge_zone_ok(status=200)
    backend().purge(Kind.EVERYTHING, [])


def test_more_than_one_item_in_a_call_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="one item per call"):
        backend().purge(Kind.FILES, ["https://a.example/1", "https://a.example/2"])


# -- answers --------------------------------------------------------------------------------


def purge_error(bunny_api: BunnyAPIMock, **kwargs: Any) -> Exception:
    bunny_api.add_purge_error(**kwargs)
    with pytest.raises(Exception) as caught:
        backend().purge(Kind.FILES, ["https://cdn.example.com/media/a.jpg"])
    return caught.value


def test_401_names_the_key_and_where_to_find_it(bunny_api: BunnyAPIMock) -> None:
    err = purge_error(bunny_api, status=401, body=UNAUTHORIZED)
    assert isinstance(err, AuthenticationFailed) and not err.transient
    assert str(err) == (
        "bunny.net refused the API key (HTTP 401: Authorization has been denied for this "
        "request.). Copy the account's API key again from the bunny.net dashboard, Account "
        "settings → API; a Storage Zone password or a Stream library key does not work here."
    )


def test_401_on_the_pull_zone_names_the_id_too(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_unauthorized("POST", f"/pullzone/{PULL_ZONE_ID}/purgeCache")
    with pytest.raises(AuthenticationFailed) as caught:
        backend().purge(Kind.TAGS, ["t"])
    assert "for pull zone 1234567" in str(caught.value)
    assert "a Storage Zone ID is refused the same way" in str(caught.value)


def test_404_of_a_url_names_the_host_no_pull_zone_serves(bunny_api: BunnyAPIMock) -> None:
    err = purge_error(bunny_api)
    assert isinstance(err, ZoneNotFound)
    assert err.codes == {"pullZone.not_found"}
    assert str(err) == (
        "No pull zone of this bunny.net account serves the host “cdn.example.com” (HTTP 404: "
        "The requested Pull Zone was not found (pullZone.not_found)). Add it to the pull zone "
        "in the bunny.net dashboard, CDN → the pull zone → Hostnames, or remove it from this "
        "zone's hostnames in django-cfpurge."
    )


def test_404_of_the_pull_zone_names_the_id(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add(
        "POST",
        f"/pullzone/{PULL_ZONE_ID}/purgeCache",
        status=404,
        json=error_body("pullZone.not_found", "PullZone", "The requested Pull Zone was not found"),
    )
    with pytest.raises(ZoneNotFound, match=r"bunny\.net found no pull zone 1234567 for this API"):
        backend().purge(Kind.EVERYTHING, [])


@pytest.mark.parametrize(("retry_after", "waits"), [(7, "waiting 7 s"), (None, "slowing down")])
def test_429_with_or_without_retry_after(
    bunny_api: BunnyAPIMock, retry_after: int | None, waits: str
) -> None:
    bunny_api.add_rate_limited(retry_after)
    with pytest.raises(RateLimited) as caught:
        backend().purge(Kind.FILES, ["https://cdn.example.com/a.jpg"])
    assert caught.value.transient
    assert caught.value.retry_after == (float(retry_after) if retry_after else None)
    assert f"bunny.net is rate-limiting purge requests for this account (HTTP 429): {waits}" in (
        str(caught.value)
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_a_server_error_retried_later(bunny_api: BunnyAPIMock, status: int) -> None:
    err = purge_error(bunny_api, status=status, body={"Message": "An error has occurred."})
    assert isinstance(err, ServerError) and err.transient
    assert str(err) == (
        f"bunny.net's API had a temporary server error (HTTP {status}: An error has "
        "occurred.); it is retried later."
    )


def test_400_with_an_error_key_is_rejected(bunny_api: BunnyAPIMock) -> None:
    body = error_body("purge.urls_invalid", "Urls", "The purge request must contain at least one")
    err = purge_error(bunny_api, status=400, body=body)
    assert isinstance(err, RequestRejected) and not err.transient
    assert err.codes == {"purge.urls_invalid"}
    assert str(err).startswith(
        "bunny.net rejected the purge of https://cdn.example.com/media/a.jpg (HTTP 400: The "
        "purge request must contain at least one (purge.urls_invalid))."
    )


@pytest.mark.no_contract_response
def test_an_html_404_is_not_bunnys_answer(bunny_api: BunnyAPIMock) -> None:
    bunny_api.mock.add(
        "POST",
        "https://api.bunny.net/purge",
        status=404,
        body=b"<html>not here</html>",
        content_type="text/html",
    )
    with pytest.raises(InvalidResponse) as caught:
        backend().purge(Kind.FILES, ["https://cdn.example.com/a.jpg"])
    assert "HTTP 404 with an HTML page instead of bunny.net's reply" in str(caught.value)
    assert "CFPURGE['BUNNY_API_URL'] (https://api.bunny.net) is wrong" in str(caught.value)


@pytest.mark.no_contract_response
def test_a_redirect_names_the_api_url_setting(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add("POST", "/purge", status=301, headers={"Location": "https://bunny.net/?x=1"})
    with pytest.raises(InvalidResponse) as caught:
        backend().purge(Kind.FILES, ["https://cdn.example.com/a.jpg"])
    assert str(caught.value) == (
        "bunny.net's API answered with a redirect (HTTP 301) to https://bunny.net/; "
        "CFPURGE['BUNNY_API_URL'] (https://api.bunny.net) should be the exact API address, "
        "normally https://api.bunny.net."
    )


def test_network_errors_come_from_the_http_base(bunny_api: BunnyAPIMock) -> None:
    bunny_api.mock.add(
        "POST", "https://api.bunny.net/purge", body=requests.ConnectionError("refused")
    )
    with pytest.raises(NetworkError) as caught:
        backend().purge(Kind.FILES, ["https://cdn.example.com/a.jpg"])
    assert "bunny.net's API at api.bunny.net" in str(caught.value)
    assert ACCESS_KEY not in str(caught.value)


def test_an_echoed_key_is_redacted(bunny_api: BunnyAPIMock) -> None:
    err = purge_error(bunny_api, status=400, body={"Message": f"bad key {ACCESS_KEY}"})
    assert ACCESS_KEY not in str(err) and ACCESS_KEY not in repr(err.response_body)
    assert "[redacted]" in str(err)


# -- the pull zone ---------------------------------------------------------------------------


def test_describe_zone_reads_name_state_and_hostnames(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok(hostnames=("cdn.example.com", "IMG.example.com"))
    remote = backend().describe_zone()
    assert (remote.name, remote.status) == ("example", "active")
    assert remote.hostnames == ("example.b-cdn.net", "cdn.example.com", "img.example.com")
    (request,) = bunny_api.sent_requests()
    assert request.method == "GET" and urlsplit(request.url).path == "/pullzone/1234567"
    assert not urlsplit(request.url).query  # never includeCertificate


@pytest.mark.no_contract_response
def test_the_pull_zones_secrets_never_reach_an_error(bunny_api: BunnyAPIMock) -> None:
    # A body without a name, holding a secret: the error does not keep it.
    bunny_api.add("GET", f"/pullzone/{PULL_ZONE_ID}", json={"ZoneSecurityKey": "s3cr3t-value"})
    with pytest.raises(InvalidResponse) as caught:
        backend().describe_zone()
    assert caught.value.response_body is None
    assert "s3cr3t" not in repr(caught.value) and "s3cr3t" not in str(caught.value)


# -- Test connection ------------------------------------------------------------------------


def bunny_zone(**fields: Any) -> Zone:
    values = {
        "name": "cdn",
        "backend": "bunny",
        "zone_id": str(PULL_ZONE_ID),
        "api_key": ACCESS_KEY,
        "hostnames": "cdn.example.com",
        **fields,
    }
    return Zone.objects.create(**values)


def steps_of(zone: Zone) -> list[tuple[str, str, str]]:
    return [(s.key, s.status, s.message) for s in run_connection_test(zone).steps]


def test_test_connection_passes_and_learns_the_pull_zone(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok(hostnames=("cdn.example.com",))
    bunny_api.add_purge_ok()
    zone = bunny_zone()
    assert steps_of(zone) == [
        ("local", "ok", "The values are well-formed."),
        (
            "pull_zone",
            "ok",
            "Pull zone example (1234567), serving example.b-cdn.net, cdn.example.com.",
        ),
        ("hostnames", "ok", "The pull zone serves every hostname routed to it: cdn.example.com."),
        ("purge", "ok", "A test purge of https://example.b-cdn.net/__cfpurge_probe was accepted."),
    ]
    assert bunny_api.purged_urls() == ["https://example.b-cdn.net/__cfpurge_probe"]
    zone.refresh_from_db()
    assert (zone.last_test_ok, zone.remote_name, zone.remote_status) == (True, "example", "active")
    assert zone.remote_hostnames == ["example.b-cdn.net", "cdn.example.com"]


def test_test_connection_with_a_refused_key(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_unauthorized("GET", f"/pullzone/{PULL_ZONE_ID}")
    assert steps_of(bunny_zone()) == [
        ("local", "ok", "The values are well-formed."),
        (
            "pull_zone",
            "error",
            "bunny.net refused the API key for pull zone 1234567 (HTTP 401: Authorization has "
            "been denied for this request.). Copy the account's API key again from the "
            "bunny.net dashboard, Account settings → API (not a Storage Zone password or a "
            "Stream key), and check that 1234567 is the ID of a pull zone of that account: a "
            "Storage Zone ID is refused the same way.",
        ),
        ("hostnames", "skipped", "Skipped: bunny.net did not accept the key or the ID."),
        ("purge", "skipped", "Skipped: bunny.net did not accept the key or the ID."),
    ]


def test_test_connection_with_an_unknown_pull_zone(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_not_found()
    result = steps_of(bunny_zone())
    assert result[1] == (
        "pull_zone",
        "error",
        "bunny.net found no pull zone 1234567 for this API key (HTTP 404: The requested Pull "
        "Zone was not found (pullZone.not_found)). Check the Pull zone ID (the bunny.net "
        "dashboard, CDN → the pull zone: the number in the page's address) and that the API "
        "key belongs to the account that owns it.",
    )


def test_test_connection_names_the_hostnames_the_pull_zone_does_not_serve(
    bunny_api: BunnyAPIMock,
) -> None:
    bunny_api.add_pull_zone_ok(hostnames=("cdn.example.com",))
    bunny_api.add_purge_ok()
    zone = bunny_zone(hostnames="cdn.example.com\nimg.example.com\n.example.org")
    result = steps_of(zone)
    assert result[2] == (
        "hostnames",
        "warning",
        "The pull zone does not serve img.example.com, .example.org, which this zone's "
        "hostnames route to it: purges of their URLs would fail (“no pull zone”). Add them in "
        "the bunny.net dashboard (CDN → the pull zone → Hostnames), or remove them from this "
        "zone's hostnames. It serves example.b-cdn.net, cdn.example.com.",
    )
    assert result[3][1] == "ok"  # a warning does not stop the test purge


def test_a_domain_pattern_is_served_by_any_of_its_names(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok(hostnames=("img.example.com",))
    bunny_api.add_purge_ok()
    assert steps_of(bunny_zone(hostnames=".example.com"))[2][1] == "ok"


def test_a_disabled_or_suspended_pull_zone_is_a_warning(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok(suspended=True)
    bunny_api.add_purge_ok()
    step = steps_of(bunny_zone())[1]
    assert step[1] == "warning"
    assert step[2].endswith(
        "It is suspended: bunny.net serves nothing from it (see Billing in the bunny.net "
        "dashboard)."
    )


def test_the_probe_purge_failing(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok()
    bunny_api.add_purge_error()
    step = steps_of(bunny_zone())[3]
    assert step[:2] == ("purge", "error")
    assert step[2].startswith(
        "bunny.net refused the test purge of https://example.b-cdn.net/__cfpurge_probe: No pull "
        "zone of this bunny.net account serves the host “example.b-cdn.net”"
    )


def test_the_probe_purge_rate_limited(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok()
    bunny_api.add_rate_limited(4)
    assert steps_of(bunny_zone())[3] == (
        "purge",
        "error",
        "bunny.net is rate-limiting this account's API requests (the test purge; HTTP 429). "
        "Try again in 4 s. Purges are not lost meanwhile: they wait and are retried.",
    )


def test_the_probe_purge_can_be_switched_off(bunny_api: BunnyAPIMock) -> None:
    bunny_api.add_pull_zone_ok()
    with override_settings(CFPURGE={"PROBE_PURGE": False}):
        assert steps_of(bunny_zone())[3] == (
            "purge",
            "skipped",
            "Skipped: CFPURGE['PROBE_PURGE'] is False.",
        )
    assert bunny_api.purged_urls() == []


def test_test_connection_when_bunny_is_down(bunny_api: BunnyAPIMock) -> None:
    bunny_api.mock.add(
        "GET",
        f"https://api.bunny.net/pullzone/{PULL_ZONE_ID}",
        body=requests.ConnectionError("refused"),
    )
    step = steps_of(bunny_zone())[1]
    assert step[1] == "error"
    assert "(reading the pull zone). Check this server's outbound network access" in step[2]
    assert "CFPURGE['BUNNY_API_URL'] (https://api.bunny.net)" in step[2]


def test_test_connection_with_malformed_values_sends_nothing(bunny_api: BunnyAPIMock) -> None:
    result = steps_of(bunny_zone(zone_id="cdn.example.com"))
    assert result[0][:2] == ("local", "error")
    assert [s[1] for s in result[1:]] == ["skipped"] * 3
    assert bunny_api.sent_requests() == []


def test_no_key_is_ever_logged(bunny_api: BunnyAPIMock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    bunny_api.add_pull_zone_ok()
    bunny_api.add_purge_ok()
    steps_of(bunny_zone())
    assert ACCESS_KEY not in caplog.text


def test_the_key_never_shows_in_a_headers_repr() -> None:
    headers = backend().credentials.auth_headers()
    assert headers == {"AccessKey": ACCESS_KEY}
    assert ACCESS_KEY not in repr(headers) and ACCESS_KEY not in str(headers)
