"""Purge targets as the CDNs take them: absolute URLs, tags, hosts, prefixes.

Everything given to purge by a person or by code (``purge_urls`` & co., the admin's
manual purge, ``manage.py cfpurge``) is checked and normalised here **before** a row is
written, so that a bad item is refused with a clear message and never becomes a row
that waits for ever:

* URLs: ``http(s)://`` only (``ftp:``, ``javascript:``… refused), well formed, or a path
  joined with every origin of ``BASE_URLS``; IRIs percent-encoded; signing parameters
  (S3/GCS ``querystring_auth``) dropped, since each signature is its own cache key;
* tags: printable ASCII without spaces or commas, at most 1,024 characters;
* hosts: a bare host name (a scheme and a trailing ``/`` are removed; a path is refused);
* prefixes: ``host/path`` without a scheme, ``?`` or ``#``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from django.utils.encoding import iri_to_uri, punycode
from django.utils.translation import gettext

from .changes import unique
from .conf import get_setting as _get_setting
from .conf import key
from .enums import EXPLICIT_KINDS, URL_KINDS, Kind
from .exceptions import InvalidTarget

#: Query parameters that mark a signed, per-request URL.
SIGNATURE_PARAMS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-algorithm",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-security-token",
        "signature",
        "x-goog-signature",
        "x-goog-credential",
        "x-goog-algorithm",
        "x-goog-date",
        "x-goog-expires",
        "x-goog-signedheaders",
        "googleaccessid",
        "sig",
        "se",
        "expires",
        "awsaccesskeyid",
    }
)
#: Longest cache tag Cloudflare takes in a purge call.
MAX_TAG_LENGTH = 1024
_TAG = re.compile(r"[!-~]+")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def base_urls() -> list[str]:
    """The public origins of ``BASE_URLS``, without trailing slash; malformed entries
    are left out (the system check reports them)."""
    origins = _get_setting("BASE_URLS") or []
    if isinstance(origins, str):
        origins = [origins]
    cleaned = []
    for origin in origins:
        try:
            parts = urlsplit(str(origin).strip())
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.netloc:
            cleaned.append(
                urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))
            )
    return cleaned


def bad_base_urls() -> list[str]:
    """``BASE_URLS`` entries that are not ``http(s)://host`` origins (for the check)."""
    origins = _get_setting("BASE_URLS") or []
    if isinstance(origins, str):
        origins = [origins]
    bad = []
    for origin in origins:
        try:
            parts = urlsplit(str(origin).strip())
        except ValueError:
            bad.append(repr(origin))
            continue
        if parts.scheme not in ("http", "https") or not parts.netloc:
            bad.append(repr(origin))
    return bad


def strip_signature(url: str) -> str:
    """Remove signing parameters from a URL's query string (keep the others).

    The parameters kept are kept exactly as written: the cache key is the query string
    as the browser sent it, so ``a%20b`` must not become ``a+b``.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url
    pieces = parts.query.split("&")
    kept = [piece for piece in pieces if _param_name(piece) not in SIGNATURE_PARAMS]
    if len(kept) == len(pieces):
        return url
    return urlunsplit(parts._replace(query="&".join(kept)))


def _param_name(piece: str) -> str:
    return unquote_plus(piece.partition("=")[0]).lower()


def absolute_urls(url: str) -> list[str]:
    """Absolute, encoded purge URLs for one URL or path (one per origin for a path).

    :raises InvalidTarget: another scheme, a malformed URL, or a path with no
        ``BASE_URLS`` to join it with.
    """
    text = iri_to_uri(_ascii_host(str(url).strip()))
    if not text:
        return []
    if text.startswith("//"):
        origins = base_urls()
        schemes = unique(origin.split("://")[0] for origin in origins) or ["https"]
        return [_checked(f"{scheme}:{text}") for scheme in schemes]
    try:
        parts = urlsplit(text)
    except ValueError:
        raise _bad_url(url) from None
    if parts.scheme:
        if parts.scheme.lower() not in ("http", "https"):
            raise InvalidTarget(
                gettext("Only http:// and https:// URLs can be purged, not %(url)s.")
                % {"url": repr(str(url))}
            )
        return [_checked(text)]
    if ":" in text.split("/", 1)[0]:
        raise _bad_url(url)
    path = text if text.startswith("/") else f"/{text}"
    origins = base_urls()
    if not origins:
        raise InvalidTarget(
            gettext(
                "The URL %(url)s is relative and %(setting)s is empty: give an absolute URL, "
                "or add the public origins that serve it, e.g. ['https://www.example.com']."
            )
            % {"url": repr(str(url)), "setting": key("BASE_URLS")}
        )
    return [_checked(f"{origin}{path}") for origin in origins]


def _ascii_host(url: str) -> str:
    """``url`` with an internationalised host name in its ASCII (IDNA) form: the host
    of a cache key is never percent-encoded, as :func:`iri_to_uri` would do."""
    if url.isascii():
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url  # reported by the caller
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    if host.isascii():
        return url
    try:
        host = punycode(host.lower())
    except UnicodeError:
        raise _bad_url(url) from None
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}{colon}{port}"))


def _checked(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise _bad_url(url) from None
    if not host:
        raise _bad_url(url)
    # A fragment never reaches the server, so it is never part of a cache key.
    parts = parts._replace(netloc=parts.netloc.lower(), fragment="")
    return strip_signature(urlunsplit(parts))


def _bad_url(url: Any) -> InvalidTarget:
    return InvalidTarget(gettext("%(url)s is not a valid URL.") % {"url": repr(str(url))})


def clean_tag(tag: Any) -> str:
    """A cache tag as Cloudflare takes it. :raises InvalidTarget: see the module doc."""
    value = str(tag).strip()
    if not value or len(value) > MAX_TAG_LENGTH or not _TAG.fullmatch(value) or "," in value:
        raise InvalidTarget(
            gettext(
                "%(tag)s is not a valid cache tag: use 1 to 1,024 printable ASCII characters, "
                "without spaces or commas."
            )
            % {"tag": repr(value[:80] + ("…" if len(value) > 80 else ""))}
        )
    return value


def clean_host(host: Any) -> str:
    """A bare host name, lower case (``https://IMG.example.com/`` → ``img.example.com``).

    :raises InvalidTarget: a path, a port, a wildcard, an invalid label, a name without a
        dot (``localhost``) or an IP address.
    """
    value = str(host).strip()
    if "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError:
            raise _bad_host(host) from None
        if parts.path not in ("", "/") or parts.query or parts.port is not None:
            raise _bad_host(host)
        value = parts.hostname or ""
    value = value.rstrip("/").lower().rstrip(".")
    labels = value.split(".")
    if not value or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _bad_host(host)
    if len(labels) < 2 or labels[-1].isdigit():
        # A CDN zone serves fully qualified names only: ``localhost``, ``evil`` (from
        # ``http://evil/``) or an IPv4 address would be written, then skipped by every zone.
        raise _bad_host(host)
    return value


def _bad_host(host: Any) -> InvalidTarget:
    return InvalidTarget(
        gettext(
            "%(host)s is not a host name: give a public host such as img.example.com (no "
            "path, port, IP address or “*”)."
        )
        % {"host": repr(str(host))}
    )


def clean_prefix(prefix: Any) -> str:
    """``https://Host/path`` or ``host/path`` → ``host/path`` (no scheme).

    :raises InvalidTarget: ``?`` or ``#`` in it, or no valid host.
    """
    value = iri_to_uri(str(prefix).strip())
    if "?" in value or "#" in value:
        raise InvalidTarget(
            gettext("A prefix cannot contain “?” or “#”: %(prefix)s.") % {"prefix": repr(value)}
        )
    if "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError:
            raise _bad_prefix(prefix) from None
        if parts.scheme.lower() not in ("http", "https"):
            raise _bad_prefix(prefix)
        value = f"{parts.netloc}{parts.path}"
    host, _, path = value.partition("/")
    try:
        host = clean_host(host)
    except InvalidTarget:
        raise _bad_prefix(prefix) from None
    return f"{host}/{path}" if path else host


def _bad_prefix(prefix: Any) -> InvalidTarget:
    # The message names the whole prefix as given, not just the part found wrong.
    return InvalidTarget(
        gettext(
            "%(prefix)s is not a URL prefix: give a host and a path such as "
            "www.example.com/media/ (http:// or https:// only; no port or “*”)."
        )
        % {"prefix": repr(str(prefix))}
    )


def clean_file(item: Any) -> list[Any]:
    """A URL, or ``{"url": …, "headers": {…}}`` for cache keys that vary on headers, as
    absolute URLs (one per origin for a path)."""
    if isinstance(item, dict):
        headers = item.get("headers") or {}
        if not isinstance(item.get("url"), str) or not (
            isinstance(headers, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise InvalidTarget(
                gettext("A URL with headers is {'url': '…', 'headers': {'Name': 'value'}}.")
            )
        return [{"url": url, "headers": dict(headers)} for url in absolute_urls(item["url"])]
    return list(absolute_urls(str(item)))


def clean(kind: str, items: Iterable[Any]) -> list[Any]:
    """Checked and normalised items of one kind (repeats removed).

    :raises InvalidTarget: a bad item (the message names it), or no item.
    """
    if kind not in EXPLICIT_KINDS:
        raise InvalidTarget(gettext("Unknown purge kind %(kind)s.") % {"kind": repr(kind)})
    if kind == Kind.EVERYTHING:
        return [True]
    if isinstance(items, str | bytes):
        items = [items]
    out: list[Any] = []
    for item in items:
        if kind == Kind.FILES:
            out += clean_file(item)
        elif kind == Kind.TAGS:
            out.append(clean_tag(item))
        elif kind == Kind.HOSTS:
            out.append(clean_host(item))
        else:
            out.append(clean_prefix(item))
    if not out:
        raise InvalidTarget(
            # Translators: %(kind)s is URLs, tags, prefixes or hostnames.
            gettext("Nothing to purge: give at least one of the %(kind)s.")
            % {"kind": Kind(kind).label}
        )
    return unique(out)


def host_of(kind: str, item: Any) -> str | None:
    """The host a target belongs to (None for tags and everything)."""
    if kind in URL_KINDS:
        url = item["url"] if isinstance(item, dict) else item
        return (urlsplit(url).hostname or "").lower() or None
    if kind == Kind.PREFIXES:
        return str(item).split("/", 1)[0].lower()
    if kind == Kind.HOSTS:
        return str(item).lower()
    return None


def unpurgeable(kind: str, item: Any) -> str:
    """Why a target cannot be purged (empty string if it can)."""
    if kind == Kind.FILES:
        url = item["url"] if isinstance(item, dict) else item
        if urlsplit(url).path.startswith("/cdn-cgi/"):
            return gettext(
                "Cloudflare cannot purge /cdn-cgi/ URLs; purging the original URL purges "
                "its variants."
            )
    return ""
