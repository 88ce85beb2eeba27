"""Purge targets as people and code type them: checked and normalised before any row
is written, every refusal an ``InvalidTarget`` naming the bad item."""

from __future__ import annotations

import pytest

from django_cfpurge.exceptions import InvalidTarget
from django_cfpurge.targets import (
    MAX_TAG_LENGTH,
    bad_base_urls,
    base_urls,
    clean,
    host_of,
    strip_signature,
    unpurgeable,
)

ORIGIN = "https://www.example.com"


@pytest.fixture
def origins(settings):
    """Set ``BASE_URLS`` (and nothing else)."""

    def set_origins(value):
        settings.CFPURGE = {"BASE_URLS": value}

    return set_origins


def refused(kind, item) -> str:
    with pytest.raises(InvalidTarget) as info:
        clean(kind, [item])
    return str(info.value)


# -- URLs ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "ftp://www.example.com/a.jpg",
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "mailto:admin@example.com",
    ],
)
def test_urls_with_another_scheme_are_refused(url):
    message = refused("files", url)
    assert repr(url) in message
    assert "http://" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1/x",  # unclosed IPv6 bracket
        "https://www.example.com:99999/a.jpg",  # port out of range
        "https://www.example.com:http/a.jpg",
        "http://",
        "https:///a.jpg",
        "www.example.com:8080/a.jpg",  # looks like a scheme-less URL with a port
    ],
)
def test_malformed_urls_are_refused_by_name(url):
    assert repr(url) in refused("files", url)


def test_absolute_urls_keep_their_path_case_and_lower_the_host():
    assert clean("files", ["HTTPS://WWW.Example.COM/Photos/A.JPG"]) == [
        "https://www.example.com/Photos/A.JPG"
    ]


def test_protocol_relative_url_takes_the_schemes_of_base_urls(origins):
    origins(["http://www.example.com", "https://www.example.com"])
    assert clean("files", ["//cdn.example.com/a.jpg"]) == [
        "http://cdn.example.com/a.jpg",
        "https://cdn.example.com/a.jpg",
    ]


def test_protocol_relative_url_without_base_urls_is_https(origins):
    origins([])
    assert clean("files", ["//cdn.example.com/a.jpg"]) == ["https://cdn.example.com/a.jpg"]


def test_relative_path_is_joined_with_every_origin(origins):
    origins(["https://www.example.com/", "https://IMG.example.net", "http://old.example.org"])
    assert clean("files", ["/media/a.jpg", "media/b.jpg"]) == [
        "https://www.example.com/media/a.jpg",
        "https://img.example.net/media/a.jpg",
        "http://old.example.org/media/a.jpg",
        "https://www.example.com/media/b.jpg",
        "https://img.example.net/media/b.jpg",
        "http://old.example.org/media/b.jpg",
    ]


def test_base_urls_as_one_string_is_one_origin(origins):
    origins("https://www.example.com")
    assert clean("files", ["/a.jpg"]) == ["https://www.example.com/a.jpg"]


def test_relative_path_without_base_urls_is_refused_with_the_setting_named(origins):
    origins([])
    message = refused("files", "/media/a.jpg")
    assert "'/media/a.jpg'" in message
    assert "CFPURGE['BASE_URLS']" in message


def test_relative_path_with_only_malformed_base_urls_is_refused(origins):
    origins(["www.example.com", "ftp://files.example.com"])
    assert "'/a.jpg'" in refused("files", "/a.jpg")


def test_iri_paths_and_queries_are_percent_encoded(origins):
    origins([ORIGIN])
    assert clean("files", ["https://www.example.com/photos/été 2024.jpg?size=très grand"]) == [
        "https://www.example.com/photos/%C3%A9t%C3%A9%202024.jpg?size=tr%C3%A8s%20grand"
    ]
    assert clean("files", ["/média/a b.jpg"]) == ["https://www.example.com/m%C3%A9dia/a%20b.jpg"]


def test_an_internationalised_host_becomes_its_ascii_form():
    # The cache key's host is the IDNA form; a percent-encoded host names nothing.
    assert clean("files", ["https://Bücher.example/é.jpg"]) == [
        "https://xn--bcher-kva.example/%C3%A9.jpg"
    ]


def test_already_encoded_urls_are_not_encoded_twice():
    assert clean("files", ["https://www.example.com/a%20b.jpg"]) == [
        "https://www.example.com/a%20b.jpg"
    ]


def test_a_fragment_is_not_part_of_the_purged_url():
    assert clean("files", ["https://www.example.com/page/#comments"]) == [
        "https://www.example.com/page/"
    ]


SIGV4 = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef"
)


def test_s3_sigv4_signature_is_stripped():
    url = f"https://bucket.s3.amazonaws.com/photos/a.jpg?{SIGV4}"
    assert clean("files", [url]) == ["https://bucket.s3.amazonaws.com/photos/a.jpg"]


def test_s3_sigv2_signature_is_stripped():
    url = (
        "https://bucket.s3.amazonaws.com/photos/a.jpg"
        "?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc%2Bdef%3D&Expires=1700000000"
    )
    assert clean("files", [url]) == ["https://bucket.s3.amazonaws.com/photos/a.jpg"]


def test_gcs_signatures_are_stripped():
    v4 = (
        "https://storage.googleapis.com/bucket/a.jpg?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Credential=sa%40project.iam.gserviceaccount.com%2F20240101%2Fauto"
        "%2Fstorage%2Fgoog4_request&X-Goog-Date=20240101T000000Z&X-Goog-Expires=900"
        "&X-Goog-SignedHeaders=host&X-Goog-Signature=abcdef"
    )
    v2 = (
        "https://storage.googleapis.com/bucket/b.jpg"
        "?GoogleAccessId=sa%40project.iam.gserviceaccount.com&Expires=1700000000"
        "&Signature=abc%2F%3D"
    )
    assert clean("files", [v4, v2]) == [
        "https://storage.googleapis.com/bucket/a.jpg",
        "https://storage.googleapis.com/bucket/b.jpg",
    ]


def test_other_query_parameters_stay_exactly_as_written():
    # The cache key holds the query string as sent: %20 must not become +, nor
    # a bare flag "a" become "a=".
    url = (
        "https://bucket.s3.amazonaws.com/a.jpg?response-content-disposition="
        "attachment%3B%20filename%3D%22a%20b.jpg%22&versionId=3&flag&"
        f"{SIGV4}&w=100"
    )
    assert clean("files", [url]) == [
        "https://bucket.s3.amazonaws.com/a.jpg?response-content-disposition="
        "attachment%3B%20filename%3D%22a%20b.jpg%22&versionId=3&flag&w=100"
    ]


def test_unsigned_query_strings_are_untouched():
    url = "https://www.example.com/a.jpg?w=100&h=50&fit=crop%20center"
    assert strip_signature(url) == url
    assert clean("files", [url]) == [url]


def test_url_with_headers_is_made_absolute_per_origin(origins):
    origins(["https://www.example.com", "https://m.example.com"])
    item = {"url": "/a.jpg", "headers": {"CF-Device-Type": "mobile"}}
    assert clean("files", [item]) == [
        {"url": "https://www.example.com/a.jpg", "headers": {"CF-Device-Type": "mobile"}},
        {"url": "https://m.example.com/a.jpg", "headers": {"CF-Device-Type": "mobile"}},
    ]


@pytest.mark.parametrize(
    "item",
    [
        {"headers": {"A": "b"}},
        {"url": 42},
        {"url": "https://www.example.com/a", "headers": {"A": 1}},
        {"url": "https://www.example.com/a", "headers": ["A: b"]},
    ],
)
def test_malformed_url_with_headers_is_refused(item):
    assert "'url'" in refused("files", item)


def test_the_bad_url_with_headers_is_named():
    item = {"url": "javascript:alert(1)", "headers": {}}
    assert "'javascript:alert(1)'" in refused("files", item)


def test_repeats_are_removed_in_order():
    assert clean("files", ["https://www.example.com/b", "https://WWW.example.com/b", "/a"]) == [
        "https://www.example.com/b",
        "https://www.example.com/a",
    ]


def test_one_bad_url_among_good_ones_refuses_the_lot_naming_it():
    with pytest.raises(InvalidTarget, match="'ftp://x/y'"):
        clean("files", ["https://www.example.com/a", "ftp://x/y"])


def test_a_single_string_is_one_item_not_its_characters():
    assert clean("files", "https://www.example.com/a.jpg") == ["https://www.example.com/a.jpg"]


# -- tags ------------------------------------------------------------------------
def test_good_tags_are_kept_trimmed():
    assert clean("tags", [" product-42 ", "Gallery:7", "a" * MAX_TAG_LENGTH]) == [
        "product-42",
        "Gallery:7",
        "a" * MAX_TAG_LENGTH,
    ]


@pytest.mark.parametrize("tag", ["two words", "a,b", "café", "tab\there", "new\nline", ""])
def test_bad_tags_are_refused_by_name(tag):
    message = refused("tags", tag)
    assert repr(tag.strip()) in message


def test_a_tag_over_1024_characters_is_refused_with_its_start_named():
    tag = "x" * (MAX_TAG_LENGTH + 1)
    message = refused("tags", tag)
    assert "1,024" in message
    assert repr("x" * 80 + "…") in message


# -- hosts -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://IMG.example.com/", "img.example.com"),
        ("http://img.example.com", "img.example.com"),
        ("IMG.Example.com.", "img.example.com"),
        ("img.example.com/", "img.example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_hosts_are_bare_and_lower_case(given, expected):
    assert clean("hosts", [given]) == [expected]


@pytest.mark.parametrize(
    "host",
    [
        "https://img.example.com/photos",
        "img.example.com/photos",
        "*",
        "*.example.com",
        "img.example.com:8080",
        "https://img.example.com:8443/",
        "https://img.example.com:0/",
        "https://img.example.com/?a=1",
        "-bad.example.com",
        "bad_.example.com",
        "img..example.com",
        "exa mple.com",
        "localhost",
        "http://evil/",
        "203.0.113.7",
        "https://203.0.113.7/",
        "[2001:db8::1]",
        "https://[2001:db8::1]/",
    ],
)
def test_bad_hosts_are_refused_by_name(host):
    assert repr(host) in refused("hosts", host)


# -- prefixes --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://WWW.example.com/Media/Photos/", "www.example.com/Media/Photos/"),
        ("http://www.example.com/media", "www.example.com/media"),
        ("www.example.com/media/", "www.example.com/media/"),
        ("WWW.example.com", "www.example.com"),
        ("www.example.com/média", "www.example.com/m%C3%A9dia"),
    ],
)
def test_prefixes_lose_their_scheme(given, expected):
    assert clean("prefixes", [given]) == [expected]


@pytest.mark.parametrize(
    "prefix", ["www.example.com/media?x=1", "https://www.example.com/a#top", "/media/?"]
)
def test_prefixes_with_query_or_fragment_are_refused(prefix):
    message = refused("prefixes", prefix)
    assert repr(prefix) in message
    assert "?" in message


@pytest.mark.parametrize(
    "prefix",
    [
        "ftp://www.example.com/media",
        "javascript:alert(1)//x",
        "/media/photos",
        "www.example.com:8080/media",
        "*.example.com/media",
    ],
)
def test_bad_prefixes_are_refused_naming_the_whole_prefix(prefix):
    assert repr(prefix) in refused("prefixes", prefix)


# -- everything, kinds, empty ----------------------------------------------------
def test_everything_is_one_item_whatever_is_given():
    assert clean("everything", []) == [True]
    assert clean("everything", ["ignored"]) == [True]


@pytest.mark.parametrize("items", [[], ["https://www.example.com/a"]])
def test_an_unknown_kind_is_refused_by_name(items):
    with pytest.raises(InvalidTarget, match="'urls'"):
        clean("urls", items)


@pytest.mark.parametrize(
    ("kind", "label"),
    [("files", "URLs"), ("tags", "cache tags"), ("hosts", "hostnames"), ("prefixes", "prefixes")],
)
def test_nothing_to_purge_names_the_kind(kind, label):
    with pytest.raises(InvalidTarget, match=f"Nothing to purge.*{label}"):
        clean(kind, [])


def test_blank_url_is_nothing_to_purge():
    with pytest.raises(InvalidTarget, match="Nothing to purge"):
        clean("files", ["   "])


# -- host_of, unpurgeable, base URLs ----------------------------------------------
@pytest.mark.parametrize(
    ("kind", "item", "host"),
    [
        ("files", "https://IMG.example.com/a.jpg", "img.example.com"),
        ("files", {"url": "https://m.example.com/a", "headers": {}}, "m.example.com"),
        ("prefixes", "WWW.example.com/media/", "www.example.com"),
        ("prefixes", "www.example.com", "www.example.com"),
        ("hosts", "Img.Example.com", "img.example.com"),
        ("tags", "product-1", None),
        ("everything", True, None),
    ],
)
def test_host_of(kind, item, host):
    assert host_of(kind, item) == host


def test_cdn_cgi_urls_are_unpurgeable_with_the_reason():
    reason = unpurgeable("files", "https://www.example.com/cdn-cgi/image/width=80/a.jpg")
    assert "/cdn-cgi/" in reason
    assert unpurgeable("files", {"url": "https://www.example.com/cdn-cgi/x", "headers": {}})
    assert unpurgeable("files", "https://www.example.com/media/cdn-cgi/a.jpg") == ""
    assert unpurgeable("files", "https://www.example.com/a.jpg") == ""
    assert unpurgeable("prefixes", "www.example.com/cdn-cgi/") == ""


def test_bad_base_urls_lists_every_malformed_origin(origins):
    origins(
        [
            "https://www.example.com",
            "www.example.com",
            "ftp://files.example.com",
            "https://[::1",
            "/media/",
            " http://ok.example.com/ ",
        ]
    )
    assert bad_base_urls() == [
        repr("www.example.com"),
        repr("ftp://files.example.com"),
        repr("https://[::1"),
        repr("/media/"),
    ]
    assert base_urls() == ["https://www.example.com", "http://ok.example.com"]


def test_bad_base_urls_is_empty_when_all_are_good_or_none_given(origins):
    origins(["https://www.example.com", "http://localhost:8000"])
    assert bad_base_urls() == []
    origins(None)
    assert bad_base_urls() == []
    assert base_urls() == []
