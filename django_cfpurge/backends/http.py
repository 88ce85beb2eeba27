"""The HTTP base every CDN client uses: one session, a versioned User-Agent, connect and
read timeouts, an overall deadline, no redirects, and credentials sent only over https.

* :func:`check_api_url` refuses an API URL that would carry credentials in clear text:
  only ``https://``, or ``http://`` to a loopback address literal (``127.0.0.0/8``,
  ``::1``, ``localhost``) for local test servers; never a URL with a user name or
  password in it.
* :class:`HttpClient` reads every answer within ``deadline`` seconds in total: a
  watchdog shuts the connection down when the deadline passes, so a server that
  trickles its answer one byte at a time cannot hold a worker or a Test connection.
* Network failures become :class:`~django_cfpurge.exceptions.NetworkError` with a
  sentence that names the host and what to check, and **no exception chain**: the
  underlying ``requests`` error may hold the request's headers (a
  ``requests.InvalidHeader`` quotes the header value), so it is not kept.
* :class:`Redactor` takes every secret out of text and parsed bodies, before anything
  is truncated.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import errno
import ipaddress
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import requests
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .._version import __version__
from ..conf import get_float, get_str
from ..exceptions import DeadlineExceeded, InsecureAPIURL, NetworkError

logger = logging.getLogger(__name__)

#: Longest answer body read (bigger ones are cut): CDN API replies are small.
MAX_BODY_BYTES = 1024 * 1024
#: Characters of an unexpected body kept for a message or the purge log (after redaction).
SNIPPET_CHARS = 300
#: Nesting kept of a parsed body (CDN replies nest a few levels; deeper is cut). Deep
#: enough for an error chain of ``MAX_ERROR_ENTRIES`` entries, two levels each.
MAX_BODY_DEPTH = 128
# Pieces of a secret shorter than this are not redacted on their own.
_MIN_PART_CHARS = 8

_RATELIMIT_RESET = re.compile(r"(?:^|[;,\s])t\s*=\s*(\d+(?:\.\d+)?)")
_RATELIMIT_REMAINING = re.compile(r"(?:^|[;,\s])r\s*=\s*(\d+(?:\.\d+)?)")


def user_agent() -> str:
    """The ``User-Agent`` sent with every request."""
    return f"django-cfpurge/{__version__} python-requests/{requests.__version__}"


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback address literals (``127.0.0.0/8``, ``::1``)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_api_url(url: str, *, setting: str) -> str:
    """Return ``url`` without a trailing slash if credentials may be sent to it.

    :param setting: how the setting is named in the message (``CFPURGE['API_URL']``).
    :raises InsecureAPIURL: not https (and not http to a loopback address), no host,
        or a user name or password in the URL.
    """
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname
        # A port that is not a number in 1-65535 raises here; left alone it would fail
        # every request later, with an error that reads like a bad credential.
        port = parts.port
    except ValueError:
        parts, host, port = None, None, None
    values = {"setting": setting}
    if parts is None or not host or port == 0:
        raise InsecureAPIURL(
            gettext("%(setting)s is not a URL such as https://api.cloudflare.com/client/v4.")
            % values
        )
    if parts.username or parts.password:
        raise InsecureAPIURL(
            gettext(
                "%(setting)s contains a user name or password: credentials are sent in "
                "headers only. Remove them from the URL."
            )
            % values
        )
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return str(url).strip().rstrip("/")
    raise InsecureAPIURL(
        gettext(
            "%(setting)s must use https: the API credentials would otherwise travel in "
            "clear text (plain http is allowed only to a loopback address, for test "
            "servers)."
        )
        % values
    )


# -- the overall deadline -------------------------------------------------------

_current_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "cfpurge_deadline", default=None
)


class _Deadline:
    """Shuts the watched connection's socket down once ``seconds`` have passed.

    It keeps the socket itself, not the connection: when an answer ends the connection
    (``Connection: close``, HTTP/1.0), ``http.client`` hands the socket to the response
    and clears ``connection.sock`` while the body is still to be read.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def watch(self, connection: HTTPConnection) -> None:
        sock = getattr(connection, "sock", None)
        if sock is None:  # not connected yet: connect() calls watch() again
            return
        with self._lock:
            self._sock = sock
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedMixin:
    """Registers the connection with the request's deadline before it is used."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        deadline = _current_deadline.get()
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _current_deadline.get()
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """A ``requests`` adapter whose connections honour the request's overall deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


def new_session() -> requests.Session:
    """A ``requests.Session`` whose connections honour :class:`HttpClient`'s deadline."""
    session = requests.Session()
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# -- redaction ------------------------------------------------------------------


class SecretHeaders(dict[str, str]):
    """HTTP headers that hold credentials: their ``repr`` names the headers only.

    Whatever shows a variable (a DEBUG error page, a logged ``locals()``, a debugger)
    sees ``<SecretHeaders ['Authorization']>``, never a value.
    """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {sorted(self)!r}>"

    __str__ = __repr__


class Redactor:
    """Replaces each secret (and each of its whitespace-separated parts) in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s and len(s) >= 4}
        # A value pasted with a line break in it may come back in pieces (a header
        # folded by a proxy); pieces too short to identify anything are left alone, so
        # that our own sentences ("the word “Bearer”") stay readable.
        values |= {part for s in list(values) for part in s.split() if len(part) >= _MIN_PART_CHARS}
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``[redacted]``."""
        for secret in self._secrets:
            value = value.replace(secret, "[redacted]")
        return value

    def value(self, value: Any, _depth: int = 0) -> Any:
        """A parsed body (dicts, lists, strings) with every secret replaced.

        Nesting deeper than any CDN reply is cut (``"…"``) rather than followed, so a
        hostile body cannot exhaust the stack.
        """
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict | list | tuple) and _depth >= MAX_BODY_DEPTH:
            return "…"
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v, _depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v, _depth + 1) for v in value]
        return value

    def snippet(self, content: bytes, limit: int = SNIPPET_CHARS) -> str:
        """The start of a body for a message: decoded, redacted, *then* cut."""
        text = self.text(content.decode("utf-8", "replace"))
        return text[:limit] + ("…" if len(text) > limit else "")


# -- the client -----------------------------------------------------------------


#: The smallest timeout or deadline read from the settings (as ``conf.TYPED`` checks it).
MIN_SECONDS = 0.001


class HttpClient:
    """Sends requests to one CDN API.

    :param api_url: the API's base URL; checked with :func:`check_api_url`.
    :param setting: the setting's name for messages (``CFPURGE['API_URL']``).
    :param service: the API as named in messages ("Cloudflare's API").
    :param timeout: seconds to wait for each read once connected.
    :param connect_timeout: seconds to wait for the connection.
    :param deadline: seconds one request may take in total.
    :param secrets: values to redact from everything this client reports.
    :param session: a ``requests.Session`` to use and not close (tests).
    :raises InsecureAPIURL: see :func:`check_api_url`.
    :raises ValueError: a timeout is not a positive number.
    """

    def __init__(
        self,
        api_url: str,
        *,
        setting: str,
        service: str,
        timeout: float,
        connect_timeout: float,
        deadline: float,
        secrets: Iterable[str] = (),
        session: requests.Session | None = None,
    ) -> None:
        self.setting = setting
        self.service = service
        self.api_url = check_api_url(api_url, setting=setting)
        self.timeout = _positive(timeout, "timeout")
        self.connect_timeout = _positive(connect_timeout, "connect_timeout")
        self.deadline = _positive(deadline, "deadline")
        self.redactor = Redactor(secrets)
        self._owns_session = session is None
        self.session = session if session is not None else new_session()

    @classmethod
    def from_settings(
        cls,
        url_key: str,
        *,
        service: str,
        secrets: Iterable[str] = (),
        session: requests.Session | None = None,
    ) -> HttpClient:
        """A client for the API whose base URL is ``CFPURGE[url_key]``, with the
        timeouts and deadline of the settings.

        A timeout under the minimum the system check asks for falls back to its default
        (with a warning) instead of failing every request.
        """
        return cls(
            get_str(url_key),
            setting=f"CFPURGE['{url_key}']",
            service=service,
            timeout=get_float("TIMEOUT", minimum=MIN_SECONDS),
            connect_timeout=get_float("CONNECT_TIMEOUT", minimum=MIN_SECONDS),
            deadline=get_float("DEADLINE", minimum=MIN_SECONDS),
            secrets=secrets,
            session=session,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.api_url!r}>"

    def close(self) -> None:
        """Close the session, if this client made it."""
        if self._owns_session:
            self.session.close()

    @property
    def host(self) -> str:
        """The API's host (for messages)."""
        return urlsplit(self.api_url).netloc

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        operation: str,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request to ``api_url + path`` and return the answer, read in full.

        ``kwargs`` go to ``requests`` (``json``, ``params``, ``data``, ``files``).
        Redirects are never followed (they would take the credentials along).

        :param operation: what the request is, for messages ("purge", "verify").
        :raises NetworkError: no complete answer (refused, reset, timed out…).
        :raises DeadlineExceeded: the answer took longer than ``deadline`` in total.
        """
        all_headers = SecretHeaders(
            {"Accept": "application/json", "User-Agent": user_agent(), **headers}
        )
        deadline = _Deadline(self.deadline)
        token = _current_deadline.set(deadline)
        started = time.monotonic()
        deadline.start()
        failure: NetworkError | None = None
        try:
            response = self.session.request(
                method,
                self.api_url + path,
                headers=all_headers,
                timeout=(self.connect_timeout, self.timeout),
                allow_redirects=False,
                stream=True,
                **kwargs,
            )
            try:
                response._content = _read_body(response)
            finally:
                response.close()
        except (requests.RequestException, OSError, UnicodeError, ValueError) as err:
            failure = self._failure(err, operation, expired=deadline.expired)
        finally:
            deadline.cancel()
            _current_deadline.reset(token)
        if failure is None and deadline.expired:
            failure = self._failure(TimeoutError(), operation, expired=True)
        if failure is not None:
            # Raised outside the ``except`` block, so that it has no context: the
            # requests error may quote a header, and headers hold the credentials.
            raise failure
        logger.debug(
            "%s %s -> %s (%.3f s)", method, path, response.status_code, time.monotonic() - started
        )
        return response

    # -- failures ---------------------------------------------------------------
    def _failure(self, err: BaseException, operation: str, *, expired: bool) -> NetworkError:
        values = {
            "host": self.host,
            "service": self.service,
            "operation": operation,
            "setting": self.setting,
            "error": type(err).__name__,
        }
        if expired:
            values["seconds"] = _seconds(self.deadline)
            problem = (
                gettext(
                    "%(service)s at %(host)s did not finish answering within %(seconds)s "
                    "(the overall deadline)"
                )
                % values
            )
            advice = (
                gettext(
                    "the server or the network is very slow; the %(operation)s request can be "
                    "retried (raise CFPURGE['DEADLINE'] if this keeps happening)."
                )
                % values
            )
            return DeadlineExceeded(_join(problem, advice), reason=problem)
        problem = self._problem(err, values) % values
        if isinstance(err, requests.Timeout) and not isinstance(err, requests.ConnectTimeout):
            advice = gettext(
                "the service or the network is slow; the %(operation)s request can be retried."
            )
        elif isinstance(err, UnicodeError | requests.exceptions.InvalidHeader | ValueError):
            advice = gettext(
                "a credential contains characters that cannot be sent in an HTTP header: "
                "enter it again."
            )
        else:
            advice = gettext(
                "check this server's outbound network access (firewall, proxy, DNS) and "
                "%(setting)s; the %(operation)s request can be retried."
            )
        return NetworkError(_join(problem, advice % values), reason=problem)

    def _problem(self, err: BaseException, values: dict[str, Any]) -> str:
        if isinstance(err, requests.ConnectTimeout):
            values["seconds"] = _seconds(self.connect_timeout)
            return gettext(
                "Could not connect to %(service)s at %(host)s: timed out after %(seconds)s"
            )
        if isinstance(err, requests.Timeout):
            values["seconds"] = _seconds(self.timeout)
            return gettext("%(service)s at %(host)s did not answer: timed out after %(seconds)s")
        if isinstance(err, UnicodeError | requests.exceptions.InvalidHeader | ValueError):
            return gettext("The request to %(service)s at %(host)s could not be written")
        if isinstance(err, requests.exceptions.ChunkedEncodingError):
            return gettext(
                "The connection to %(service)s at %(host)s was reset while the answer was arriving"
            )
        if isinstance(err, requests.exceptions.SSLError):
            return gettext(
                "Could not connect securely to %(service)s at %(host)s: the TLS handshake failed"
            )
        if isinstance(err, requests.ConnectionError | OSError):
            return {
                "refused": gettext(
                    "Could not connect to %(service)s at %(host)s: connection refused"
                ),
                "reset": gettext("The connection to %(service)s at %(host)s was reset"),
                "dns": gettext(
                    "Could not connect to %(service)s at %(host)s: the host name could not be "
                    "resolved"
                ),
                "timeout": gettext("Could not connect to %(service)s at %(host)s: timed out"),
            }.get(
                socket_cause(err),
                gettext("Could not connect to %(service)s at %(host)s: the connection failed"),
            )
        return gettext("Could not send the request to %(service)s at %(host)s (%(error)s)")


def _read_body(response: requests.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=16384):
        body += chunk
        if len(body) >= MAX_BODY_BYTES:
            break
    return bytes(body[:MAX_BODY_BYTES])


def _join(problem: str, advice: str) -> str:
    # Translators: joins what went wrong and what to do about it, two clauses.
    return gettext("%(problem)s; %(advice)s") % {"problem": problem, "advice": advice}


def _positive(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(
            gettext("%(name)s must be a positive number of seconds, not %(value)s.")
            % {"name": name, "value": repr(value)}
        )
    return number


def _seconds(value: float | None) -> str:
    if value is None:
        # Translators: stands for a number of seconds inside a sentence ("wait …").
        return gettext("an unknown time")
    return f"{value:g} s"


def seconds_text(value: float | None) -> str:
    """``12 s``, or "an unknown time" (for messages)."""
    return _seconds(value)


def retry_after(headers: Mapping[str, str], status: int = 429) -> float | None:
    """Seconds to wait before the next request, or None when the answer does not say.

    ``Retry-After`` (seconds or an HTTP-date) always counts. The ``Ratelimit`` header's
    ``t`` (seconds until the quota window resets) counts only when the quota is spent: on a
    429, or when its ``r`` (requests remaining) is 0. Cloudflare sends that header on every
    answer, so reading ``t`` on a 503 with quota left would park a retry for minutes.
    """
    raw = (headers.get("Retry-After") or "").strip()
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            seconds = None
        # "inf", "nan" and "1e999" parse as floats but are no number of seconds.
        if seconds is not None and math.isfinite(seconds):
            return max(0.0, seconds)
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, math.ceil((when - datetime.now(timezone.utc)).total_seconds()))
    ratelimit = headers.get("Ratelimit") or ""
    reset = _RATELIMIT_RESET.search(ratelimit)
    if reset is None:
        return None
    remaining = _RATELIMIT_REMAINING.search(ratelimit)
    spent = remaining is not None and float(remaining.group(1)) <= 0
    if status == 429 or spent:
        return float(reset.group(1))
    return None


def socket_cause(err: BaseException) -> str:
    """Name what went wrong under a connection error, from the exception chain (urllib3
    wraps the socket error several levels deep): ``refused``, ``reset``, ``dns``,
    ``timeout`` or ``""``."""
    seen: set[int] = set()
    stack: list[Any] = [err]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(current, ConnectionResetError | BrokenPipeError):
            return "reset"
        if type(current).__name__ in ("NameResolutionError", "gaierror"):
            return "dns"
        if isinstance(current, TimeoutError):
            return "timeout"
        if isinstance(current, OSError) and current.errno is not None:
            if current.errno == errno.ECONNREFUSED:
                return "refused"
            if current.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                return "reset"
        stack.extend(current.args)
        stack.extend((getattr(current, "reason", None), current.__cause__, current.__context__))
    return ""


# -- reading answers ---------------------------------------------------------------

#: What :func:`parse_json` gives for a body that is not JSON.
NOT_JSON: Any = object()


def parse_json(response: requests.Response) -> Any:
    """The answer's JSON, or :data:`NOT_JSON` (not JSON, or nested too deep to read).

    Never raises: the decoder's error keeps the whole body (which may echo a
    credential) and would be chained to whatever the caller raises next.
    """
    try:
        return response.json()
    except (ValueError, RecursionError):
        return NOT_JSON


def what_came(response: requests.Response) -> str:
    """What came back instead of the API's JSON, for a message ("an HTML page")."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if not response.content.strip():
        # Translators: what came back instead of the API's JSON reply; it follows
        # "HTTP 502 with" inside a longer sentence.
        return gettext("an empty body")
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        # Translators: follows "HTTP 502 with" inside a longer sentence.
        return gettext("an HTML page")
    # Translators: follows "HTTP 502 with" inside a longer sentence.
    return gettext("a body that is not JSON (%(content_type)s)") % {
        "content_type": content_type or gettext("no content type")
    }


def url_without_query(url: str) -> str:
    """``url`` without its query and fragment (a redirect's ``Location`` may carry a
    signed query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path


def parse_api_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date of an API answer, timezone-aware (UTC when it names none), or
    None when missing or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


CredentialsT = TypeVar("CredentialsT")


class ApiClient(Generic[CredentialsT]):
    """The base of each CDN's client: its credentials and its :class:`HttpClient`.

    :param credentials: the backend's credentials (never shown by ``repr``).
    :param http: the HTTP base (API URL, timeouts, deadline, redaction).
    """

    #: The credentials' attribute ``repr`` names the client by (an id, never a secret).
    repr_attribute = "zone_id"

    def __init__(self, credentials: CredentialsT, http: HttpClient) -> None:
        self.credentials = credentials
        self.http = http

    def __repr__(self) -> str:
        name = self.repr_attribute
        return f"<{type(self).__name__} {name}={getattr(self.credentials, name)!r} {self.http!r}>"

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()
