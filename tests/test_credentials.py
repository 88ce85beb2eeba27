"""Input hygiene: what people paste, and the message each mistake gets."""

from __future__ import annotations

import pytest

from django_cfpurge.credentials import (
    Credentials,
    clean_api_key,
    clean_api_token,
    clean_email,
    clean_identifier,
)
from django_cfpurge.exceptions import InvalidCredentials
from tests.cfapi import ACCOUNT_API_TOKEN, ACCOUNT_ID, API_TOKEN, GLOBAL_API_KEY, ZONE_ID

SCANNABLE_TOKEN = "cfut_" + "a" * 40 + "b1c2d3e4"
SCANNABLE_KEY = "cfk_" + "Z" * 40 + "12345678"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ZONE_ID, ZONE_ID),
        (f"  {ZONE_ID}\n", ZONE_ID),
        (ZONE_ID.upper(), ZONE_ID),
    ],
)
def test_zone_id_is_trimmed_and_lowercased(value, expected):
    assert clean_identifier(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("example.com", "looks like a domain name"),
        (ZONE_ID[:-1], "must be 32 hexadecimal characters"),
        (ZONE_ID + "0", "has 33 characters"),
        ("g" * 32, "must be 32 hexadecimal characters"),
        (ZONE_ID[:10] + " " + ZONE_ID[10:], "contains a space or line break inside it"),
        ("", "has 0 characters"),
    ],
)
def test_bad_zone_ids(value, message):
    with pytest.raises(InvalidCredentials, match=message) as exc:
        clean_identifier(value)
    assert exc.value.field == "zone_id"


@pytest.mark.parametrize("token", [API_TOKEN, SCANNABLE_TOKEN, ACCOUNT_API_TOKEN, "x" * 80])
def test_valid_tokens(token):
    assert clean_api_token(f"\t{token} \r\n") == token


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (GLOBAL_API_KEY, "This is a Global API Key, not an API token"),
        (SCANNABLE_KEY, "This is a Global API Key, not an API token"),
        (API_TOKEN[:20] + "\n" + API_TOKEN[20:], "contains a space or line break inside it"),
        (API_TOKEN[:30], "does not look like a Cloudflare API token \\(30 characters"),
        ("Bearer " + API_TOKEN, "contains a space or line break inside it"),
        ("", "Enter the API token"),
        ("   ", "Enter the API token"),
    ],
)
def test_bad_tokens(value, message):
    with pytest.raises(InvalidCredentials, match=message) as exc:
        clean_api_token(value)
    assert exc.value.field == "api_token"
    if len(value.strip()) > 8:
        assert value.strip() not in str(exc.value)


@pytest.mark.parametrize("key", [GLOBAL_API_KEY, SCANNABLE_KEY, "a" * 45])
def test_valid_keys(key):
    assert clean_api_key(f" {key}\n") == key


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (API_TOKEN, "This is an API token, not a Global API Key"),
        (GLOBAL_API_KEY[:-3], "does not look like a Global API Key \\(34 characters"),
        (GLOBAL_API_KEY[:10] + " " + GLOBAL_API_KEY[10:], "space or line break"),
    ],
)
def test_bad_keys(value, message):
    with pytest.raises(InvalidCredentials, match=message):
        clean_api_key(value)


def test_email():
    assert clean_email("  owner@example.com\n") == "owner@example.com"
    with pytest.raises(InvalidCredentials, match="Enter the email address you log in"):
        clean_email("owner at example")


def test_account_token_needs_account_id():
    with pytest.raises(InvalidCredentials, match="account-owned API token") as exc:
        Credentials.from_values(zone_id=ZONE_ID, api_token=ACCOUNT_API_TOKEN)
    assert exc.value.field == "account_id"
    creds = Credentials.from_values(
        zone_id=ZONE_ID, api_token=ACCOUNT_API_TOKEN, account_id=ACCOUNT_ID
    )
    assert creds.is_account_token


def test_credentials_never_show_secrets():
    token = Credentials.from_values(zone_id=ZONE_ID, api_token=API_TOKEN)
    key = Credentials.from_values(
        zone_id=ZONE_ID, email="owner@example.com", api_key=GLOBAL_API_KEY, auth_kind="global_key"
    )
    for creds, secret in ((token, API_TOKEN), (key, GLOBAL_API_KEY)):
        assert secret not in repr(creds)
        assert secret not in str(creds)
        assert secret not in f"{creds!r} {[creds]}"
    assert token.auth_headers() == {"Authorization": f"Bearer {API_TOKEN}"}
    assert key.auth_headers() == {"X-Auth-Email": "owner@example.com", "X-Auth-Key": GLOBAL_API_KEY}
