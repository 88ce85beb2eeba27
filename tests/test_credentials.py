"""What people paste, and the message each mistake gets: the shared hygiene
(``django_cfpurge.credentials``) and Cloudflare's shapes."""

from __future__ import annotations

import pickle

import pytest

from django_cfpurge.backends.cloudflare.credentials import (
    CloudflareCredentials,
    clean_account_id,
    clean_api_key,
    clean_api_token,
    clean_zone_id,
    is_account_token,
    looks_like_global_key,
    looks_like_token,
)
from django_cfpurge.credentials import clean_email, clean_hex_id, clean_value, strip
from django_cfpurge.exceptions import InvalidCredentials
from tests.cfapi import ACCOUNT_API_TOKEN, ACCOUNT_ID, API_TOKEN, EMAIL, GLOBAL_API_KEY, ZONE_ID

SCANNABLE_TOKEN = "cfut_" + "a" * 40 + "b1c2d3e4"
SCANNABLE_KEY = "cfk_" + "Z" * 40 + "12345678"
QUOTED = "The API token is wrapped in quotes"
INVISIBLE = "The API token contains an invisible character"
SPACE = "The API token contains a space or line break inside it"
BEARER = "Paste the token without the word “Bearer” in front of it."


def assert_secret_not_repeated(value: str, err: InvalidCredentials) -> None:
    """The message never quotes a pasted secret, nor a long piece of it."""
    text = str(err)
    for piece in (value.strip(), *value.split()):
        if len(piece) > 8:
            assert piece not in text
    for token in (API_TOKEN, ACCOUNT_API_TOKEN, GLOBAL_API_KEY, SCANNABLE_TOKEN, SCANNABLE_KEY):
        assert token not in text
        assert token[:12] not in text


# -- the shared hygiene -----------------------------------------------------------------


def test_strip() -> None:
    assert strip(None) == ""
    assert strip("  a\t\n") == "a"


@pytest.mark.parametrize("value", [None, "", "   \n"])
def test_clean_value_keeps_an_empty_value_empty(value: str | None) -> None:
    assert clean_value(value, field="api_token", label="API token") == ""


@pytest.mark.parametrize(
    "quotes", ['""', "''", "``", "\u201c\u201d", "\u2018\u2019", "\u00ab\u00bb", "\"'"]
)
def test_a_value_in_quotes_is_named(quotes: str) -> None:
    value = f"  {quotes[0]}{API_TOKEN}{quotes[1]}\n"
    with pytest.raises(InvalidCredentials) as info:
        clean_value(value, field="api_token", label="API token")
    assert str(info.value).startswith(QUOTED)
    assert "NAME=value without quotes" in str(info.value)
    assert info.value.field == "api_token"
    assert_secret_not_repeated(value, info.value)


def test_a_lone_quote_is_not_called_a_pair() -> None:
    assert clean_value('"abc', field="f", label="value") == '"abc'


@pytest.mark.parametrize(
    ("char", "named"),
    [
        ("\u200b", "U+200B ZERO WIDTH SPACE"),
        ("\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("\u00a0", "U+00A0 NO-BREAK SPACE"),
        ("\u00ad", "U+00AD SOFT HYPHEN"),
        ("\u2060", "U+2060 WORD JOINER"),
        ("\u200e", "U+200E LEFT-TO-RIGHT MARK"),
    ],
)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_an_invisible_character_is_named_with_its_code_point(
    char: str, named: str, where: str
) -> None:
    value = {
        "start": char + API_TOKEN,
        "middle": API_TOKEN[:20] + char + API_TOKEN[20:],
        "end": API_TOKEN + char,
    }[where]
    if char.isspace() and where != "middle":
        # A no-break space at either end is trimmed like any whitespace.
        assert clean_value(value, field="api_token", label="API token") == API_TOKEN
        return
    with pytest.raises(InvalidCredentials) as info:
        clean_value(value, field="api_token", label="API token")
    assert str(info.value).startswith(f"{INVISIBLE} ({named})")
    assert_secret_not_repeated(value, info.value)


@pytest.mark.parametrize("gap", [" ", "\t", "\n", "\r\n", "\u2003"])
def test_whitespace_inside_a_value(gap: str) -> None:
    value = API_TOKEN[:20] + gap + API_TOKEN[20:]
    with pytest.raises(InvalidCredentials) as info:
        clean_value(value, field="api_token", label="API token")
    assert str(info.value).startswith(SPACE)
    assert_secret_not_repeated(value, info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ZONE_ID, ZONE_ID), (f"  {ZONE_ID}\n", ZONE_ID), (ZONE_ID.upper(), ZONE_ID)],
)
def test_hex_ids_are_trimmed_and_lowercased(value: str, expected: str) -> None:
    assert clean_hex_id(value, field="zone_id", label="Zone ID", where="look") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("example.com", "“example.com” looks like a domain name. The Zone ID is a 32-character"),
        (ZONE_ID[:-1], "must be 32 hexadecimal characters (0-9, a-f); this value has 31"),
        (ZONE_ID + "0", "this value has 33 characters"),
        ("g" * 32, "must be 32 hexadecimal characters"),
        (ZONE_ID[:10] + " " + ZONE_ID[10:], "contains a space or line break inside it"),
        (f'"{ZONE_ID}"', "The Zone ID is wrapped in quotes"),
    ],
)
def test_bad_hex_ids(value: str, message: str) -> None:
    with pytest.raises(InvalidCredentials, match=message.replace("(", r"\(").replace(")", r"\)")):
        clean_hex_id(value, field="zone_id", label="Zone ID", where="Look it up")
    with pytest.raises(InvalidCredentials) as info:
        clean_zone_id(value)
    assert info.value.field == "zone_id"


def test_email() -> None:
    assert clean_email("  owner@example.com\n") == "owner@example.com"
    assert clean_email("owner@xn--bcher-kva.example") == "owner@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter the email address of the account that owns the key."),
        ("owner.example.com", "Enter the email address you log in to the CDN's dashboard with."),
        ("owner at example", "contains a space or line break inside it"),
        ("owner@", "Enter the email address you log in"),
        (
            "owner@bücher.example",
            "characters outside ASCII, which cannot be sent in an HTTP header",
        ),
        ("öwner@example.com", "its xn-- form"),
        (f'"{EMAIL}"', "The email address is wrapped in quotes"),
        (EMAIL[:3] + "\u200b" + EMAIL[3:], "contains an invisible character (U+200B"),
    ],
)
def test_bad_emails(value: str, message: str) -> None:
    with pytest.raises(InvalidCredentials) as info:
        clean_email(value)
    assert message in str(info.value)
    assert info.value.field == "email"


# -- Cloudflare's shapes -------------------------------------------------------------------


def test_zone_and_account_ids() -> None:
    assert clean_zone_id(f" {ZONE_ID.upper()} ") == ZONE_ID
    assert clean_account_id(None) == ""
    assert clean_account_id("  ") == ""
    assert clean_account_id(ACCOUNT_ID.upper()) == ACCOUNT_ID
    with pytest.raises(InvalidCredentials, match=r"Enter the Zone ID \(Copy it from") as info:
        clean_zone_id("")
    assert info.value.field == "zone_id"
    with pytest.raises(InvalidCredentials, match="The Account ID must be 32") as info:
        clean_account_id("1234")
    assert info.value.field == "account_id"


@pytest.mark.parametrize("token", [API_TOKEN, SCANNABLE_TOKEN, ACCOUNT_API_TOKEN, "x" * 80])
def test_valid_tokens(token: str) -> None:
    assert clean_api_token(f"\t{token} \r\n") == token
    assert looks_like_token(token)
    assert not looks_like_global_key(token)


BAD_TOKENS = [
    (GLOBAL_API_KEY, "This is a Global API Key, not an API token"),
    (SCANNABLE_KEY, "This is a Global API Key, not an API token"),
    (API_TOKEN[:20] + "\n" + API_TOKEN[20:], SPACE),
    (API_TOKEN[:30], "does not look like a Cloudflare API token (30 characters"),
    ("x" * 81, "(81 characters"),
    (API_TOKEN + "!", "does not look like a Cloudflare API token"),
    (f'"{API_TOKEN}"', QUOTED),
    (f"'{API_TOKEN}'", QUOTED),
    (API_TOKEN[:20] + "\u200b" + API_TOKEN[20:], INVISIBLE + " (U+200B ZERO WIDTH SPACE)"),
    ("Bearer " + API_TOKEN, BEARER),
    ("  bearer " + API_TOKEN, BEARER),
    ("Bearer\t" + API_TOKEN, BEARER),
    ("Bearer:" + API_TOKEN, BEARER),
    ("Bearer" + API_TOKEN, BEARER),
    ("Authorization: Bearer " + API_TOKEN, BEARER),
    ("Bearer", BEARER),
    ("", "Enter the API token."),
    ("   ", "Enter the API token."),
]


@pytest.mark.parametrize(("value", "message"), BAD_TOKENS, ids=range(len(BAD_TOKENS)))
def test_bad_tokens(value: str, message: str) -> None:
    with pytest.raises(InvalidCredentials) as info:
        clean_api_token(value)
    assert message in str(info.value)
    assert info.value.field == "api_token"
    assert_secret_not_repeated(value, info.value)


def test_each_mistake_has_its_own_message() -> None:
    """Quotes, an invisible character, "Bearer " and a space inside: four messages, each
    saying what to remove."""
    mistakes = [
        f'"{API_TOKEN}"',
        API_TOKEN[:10] + "\u200b" + API_TOKEN[10:],
        "Bearer " + API_TOKEN,
        API_TOKEN[:10] + " " + API_TOKEN[10:],
    ]
    messages = set()
    for value in mistakes:
        with pytest.raises(InvalidCredentials) as info:
            clean_api_token(value)
        messages.add(str(info.value))
    assert len(messages) == len(mistakes)


def test_a_token_that_merely_starts_with_bearer_is_a_token() -> None:
    token = "bearer" + "Q" * 34  # 40 characters, a legacy token's shape
    assert clean_api_token(token) == token


@pytest.mark.parametrize("key", [GLOBAL_API_KEY, SCANNABLE_KEY, "a" * 45])
def test_valid_keys(key: str) -> None:
    assert clean_api_key(f" {key}\n") == key
    assert looks_like_global_key(key)
    assert not looks_like_token(key)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (API_TOKEN, "This is an API token, not a Global API Key"),
        (GLOBAL_API_KEY[:-3], "does not look like a Global API Key (34 characters"),
        (GLOBAL_API_KEY.upper(), "does not look like a Global API Key"),
        (GLOBAL_API_KEY[:10] + " " + GLOBAL_API_KEY[10:], "space or line break"),
        (f"“{GLOBAL_API_KEY}”", "The Global API Key is wrapped in quotes"),
        ("", "Enter the Global API Key."),
    ],
)
def test_bad_keys(value: str, message: str) -> None:
    with pytest.raises(InvalidCredentials) as info:
        clean_api_key(value)
    assert message in str(info.value)
    assert info.value.field == "api_key"
    assert_secret_not_repeated(value, info.value)


def test_account_tokens_are_told_by_their_prefix() -> None:
    assert is_account_token(ACCOUNT_API_TOKEN)
    assert not is_account_token(API_TOKEN)
    assert not is_account_token(SCANNABLE_TOKEN)


# -- CloudflareCredentials --------------------------------------------------------------------


def test_from_values() -> None:
    token = CloudflareCredentials.from_values({"zone_id": ZONE_ID.upper(), "api_token": API_TOKEN})
    assert (token.zone_id, token.auth_kind, token.account_id) == (ZONE_ID, "token", "")
    key = CloudflareCredentials.from_values(
        {"zone_id": ZONE_ID, "email": f" {EMAIL} ", "api_key": GLOBAL_API_KEY}
    )
    assert (key.auth_kind, key.email, key.api_token) == ("global_key", EMAIL, "")
    # The kind chosen wins over a stray value of the other kind.
    chosen = CloudflareCredentials.from_values(
        {"zone_id": ZONE_ID, "auth_kind": "global_key", "api_token": API_TOKEN,
         "email": EMAIL, "api_key": GLOBAL_API_KEY}
    )  # fmt: skip
    assert (chosen.auth_kind, chosen.api_token) == ("global_key", "")


def test_an_account_token_needs_no_account_id() -> None:
    creds = CloudflareCredentials.from_values({"zone_id": ZONE_ID, "api_token": ACCOUNT_API_TOKEN})
    assert creds.is_account_token
    assert creds.account_id == ""
    with_account = CloudflareCredentials.from_values(
        {"zone_id": ZONE_ID, "api_token": ACCOUNT_API_TOKEN, "account_id": ACCOUNT_ID.upper()}
    )
    assert with_account.account_id == ACCOUNT_ID


def test_the_account_id_pasted_as_the_zone_id() -> None:
    with pytest.raises(InvalidCredentials, match="the same value") as info:
        CloudflareCredentials.from_values(
            {"zone_id": ACCOUNT_ID, "account_id": ACCOUNT_ID.upper(), "api_token": API_TOKEN}
        )
    assert info.value.field == "zone_id"


def test_credentials_never_show_or_pickle_secrets() -> None:
    token = CloudflareCredentials.from_values({"zone_id": ZONE_ID, "api_token": API_TOKEN})
    key = CloudflareCredentials.from_values(
        {"zone_id": ZONE_ID, "email": EMAIL, "api_key": GLOBAL_API_KEY, "auth_kind": "global_key"}
    )
    for creds in (token, key):
        for text in (repr(creds), str(creds), f"{[creds]}", f"{creds!r}"):
            for secret in (API_TOKEN, GLOBAL_API_KEY, EMAIL):
                assert secret not in text
            assert ZONE_ID in text
        with pytest.raises(TypeError, match="not pickled"):
            pickle.dumps(creds)
    assert token.auth_headers() == {"Authorization": f"Bearer {API_TOKEN}"}
    assert key.auth_headers() == {"X-Auth-Email": EMAIL, "X-Auth-Key": GLOBAL_API_KEY}


def test_everything_a_reply_could_echo_is_redacted() -> None:
    token = CloudflareCredentials(zone_id=ZONE_ID, api_token=API_TOKEN)
    key = CloudflareCredentials(zone_id=ZONE_ID, email=EMAIL, api_key=GLOBAL_API_KEY)
    assert token.secrets == (API_TOKEN,)
    assert set(key.secrets) == {GLOBAL_API_KEY, EMAIL}
