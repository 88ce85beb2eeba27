"""The HTTP base every CDN client uses: the API URL check, the overall deadline, network
errors without an exception chain, redaction, ``Retry-After``.

Slow answers are played by a real server on the loopback interface; the tests assert
what happened (the type raised, what the server saw), never how long it took.
"""

from __future__ import annotations

import errno
import logging
import pickle
import select
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import NameResolutionError

from django_cfpurge._version import __version__
from django_cfpurge.backends.cloudflare.client import CloudflareClient
from django_cfpurge.backends.cloudflare.credentials import CloudflareCredentials
from django_cfpurge.backends.http import (
    MAX_BODY_BYTES,
    MAX_BODY_DEPTH,
    SNIPPET_CHARS,
    DeadlineAdapter,
    HttpClient,
    Redactor,
    check_api_url,
    is_loopback_host,
    new_session,
    retry_after,
    socket_cause,
    user_agent,
)
from django_cfpurge.enums import ErrorKind
from django_cfpurge.exceptions import DeadlineExceeded, InsecureAPIURL, NetworkError
from tests.cfapi import API_TOKEN, EMAIL, GLOBAL_API_KEY, ZONE_ID

SETTING = "CFPURGE['API_URL']"
SERVICE = "Cloudflare's API"
SECRET = "s3cr3t-Value-0123456789abcdefABCDEF_xyz"


def make_client(api_url: str = "https://cdn.example.test/api", **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {
        "setting": SETTING,
        "service": SERVICE,
        "timeout": 30,
        "connect_timeout": 5,
        "deadline": 60,
        "secrets": (SECRET,),
    }
    options.update(kwargs)
    return HttpClient(api_url, **options)


def chain_of(err: BaseException) -> list[BaseException]:
    """The exception and everything chained to it."""
    links: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in links:
        links.append(current)
        current = current.__cause__ or current.__context__
    return links


def assert_nothing_holds(err: BaseException, *secrets: str) -> None:
    """No secret in the error, its chain, their arguments and attributes, or its pickle."""
    for link in chain_of(err):
        texts = [str(link), repr(link), repr(link.args), repr(vars(link))]
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{secret!r} found in {type(link).__name__}"
    pickled = pickle.dumps(err)
    for secret in secrets:
        assert secret.encode() not in pickled


# -- a server on the loopback interface ------------------------------------------------


def http_answer(body: bytes = b"{}", *, close: bool = True) -> bytes:
    """A complete HTTP/1.1 answer; ``close``: it ends the connection."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


class LoopbackServer:
    """A server on a loopback address that answers every connection the same way.

    ``mode``: ``"answer"`` writes the first ``fast`` bytes of ``answer`` at once, then
    the rest in pieces of ``piece`` bytes, pausing ``gap`` seconds after each (and
    stopping when the client goes away); ``"reset"`` reads the request and resets the
    connection; ``"silent"`` reads it and says nothing.
    """

    def __init__(
        self,
        answer: bytes = b"",
        *,
        mode: str = "answer",
        fast: int = 0,
        piece: int = 0,
        gap: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.answer, self.mode, self.fast = answer, mode, fast
        self.piece, self.gap = piece, gap
        self.connections = 0
        self.requests: list[bytes] = []
        self.answered = 0  # answers written in full
        self.cut_off = 0  # answers the client closed before they were written in full
        self.bytes_written = 0
        self.event = threading.Event()  # set when a connection is over
        self._done = threading.Condition()
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                self._handle(conn)
            except OSError:
                self.cut_off += 1
            finally:
                if self.mode != "silent":
                    conn.close()
                self.event.set()
                with self._done:
                    self._done.notify_all()

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _handle(self, conn: socket.socket) -> None:
        self.requests.append(self._read_request(conn))
        if self.mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if self.mode == "silent":
            self._held.append(conn)
            return
        pieces = [self.answer[: self.fast]] if self.fast else []
        step = self.piece or len(self.answer) or 1
        pieces += [self.answer[i : i + step] for i in range(self.fast, len(self.answer), step)]
        for index, piece in enumerate(pieces):
            conn.sendall(piece)
            self.bytes_written += len(piece)
            more = index < len(pieces) - 1
            if more and self.gap and self._client_left(conn):
                self.cut_off += 1
                return
        self.answered += 1

    def _client_left(self, conn: socket.socket) -> bool:
        """Wait ``gap``; True if the client closed its side meanwhile."""
        readable, _, _ = select.select([conn], [], [], self.gap)
        if not readable:
            return False
        try:
            return conn.recv(1) == b""
        except OSError:
            return True

    def wait(self) -> None:
        """Wait until a connection is over (a safety net: never a measure)."""
        assert self.event.wait(10), "the server never saw the connection end"

    def wait_answered(self, count: int) -> None:
        """Wait until ``count`` answers were written in full (the client may have read
        the last one before this thread counted it)."""
        with self._done:
            assert self._done.wait_for(lambda: self.answered >= count, timeout=10)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[LoopbackServer] = []

    def start(*args: Any, **kwargs: Any) -> LoopbackServer:
        server = LoopbackServer(*args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the API URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.cloudflare.com/client/v4", "https://api.cloudflare.com/client/v4"),
        (" https://api.cloudflare.com/client/v4/ ", "https://api.cloudflare.com/client/v4"),
        ("https://cf.example.test:8443/client/v4", "https://cf.example.test:8443/client/v4"),
        ("http://127.0.0.1:8765/client/v4", "http://127.0.0.1:8765/client/v4"),
        ("http://127.8.9.10/client/v4", "http://127.8.9.10/client/v4"),
        ("http://[::1]:8765/client/v4", "http://[::1]:8765/client/v4"),
        ("http://localhost:8765/client/v4", "http://localhost:8765/client/v4"),
        ("HTTP://LocalHost:8765", "HTTP://LocalHost:8765"),
    ],
)
def test_https_and_loopback_http_are_allowed(url: str, expected: str) -> None:
    assert check_api_url(url, setting=SETTING) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://api.cloudflare.com/client/v4", "must use https"),
        ("http://10.0.0.8:8080/client/v4", "must use https"),
        ("http://0.0.0.0:8080/client/v4", "must use https"),
        ("http://127.0.0.1.nip.io/client/v4", "must use https"),
        ("http://localhost.example.com/client/v4", "must use https"),
        ("http://evil.example#@127.0.0.1/", "must use https"),
        ("ftp://api.cloudflare.com/client/v4", "must use https"),
        ("https://user:pass@api.cloudflare.com/client/v4", "user name or password"),
        ("https://user@api.cloudflare.com/client/v4", "user name or password"),
        ("https://:pass@api.cloudflare.com/client/v4", "user name or password"),
        ("http://user:pass@127.0.0.1:8765/client/v4", "user name or password"),
        ("http://127.0.0.1@evil.example/client/v4", "user name or password"),
        ("api.cloudflare.com/client/v4", "is not a URL"),
        ("not a url", "is not a URL"),
        ("", "is not a URL"),
        ("https://", "is not a URL"),
        ("https://api.cloudflare.com:99999/client/v4", "is not a URL"),
        ("https://api.cloudflare.com:port/client/v4", "is not a URL"),
        ("https://api.cloudflare.com:0/client/v4", "is not a URL"),
    ],
)
def test_insecure_or_broken_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(InsecureAPIURL) as info:
        check_api_url(url, setting=SETTING)
    assert words in str(info.value)
    assert SETTING in str(info.value)
    assert info.value.error_kind == ErrorKind.SETTINGS
    assert not info.value.transient
    assert "pass" not in str(info.value).replace("password", "")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("128.0.0.1", False),
        ("localhost.example", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host: str | None, expected: bool) -> None:
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example.test/api",
        "https://user:pass@cdn.example.test/api",
        "cdn.example.test/api",
    ],
)
def test_a_refused_url_sends_nothing(url: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        plain = url.replace("user:pass@", "")
        if "://" in plain:
            mock.add("GET", plain + "/zones", json={})
            mock.add("GET", plain.replace("http://", "https://") + "/zones", json={})
        with pytest.raises(InsecureAPIURL):
            make_client(url).send("GET", "/zones", headers={}, operation="zone")
        assert list(mock.calls) == []


def test_credentials_in_a_loopback_url_never_reach_the_server(server_factory) -> None:
    server = server_factory(http_answer())
    with pytest.raises(InsecureAPIURL):
        make_client(f"http://user:pass@127.0.0.1:{server.port}")
    # Nothing connected: the server is still waiting for its first connection.
    assert make_client(server.url).send("GET", "/x", headers={}, operation="zone").ok
    assert server.connections == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_plain_http_to_loopback_really_sends(server_factory, host: str) -> None:
    try:
        server = server_factory(
            http_answer(b'{"ok": 1}'), host="::1" if host == "::1" else "127.0.0.1"
        )
    except OSError:
        pytest.skip("no IPv6 loopback here")
    url = server.url if host != "localhost" else f"http://localhost:{server.port}"
    response = make_client(url).send("GET", "/x", headers={}, operation="zone")
    assert response.json() == {"ok": 1}
    assert server.requests[0].startswith(b"GET /x HTTP/1.1\r\n")


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["timeout", "connect_timeout", "deadline"])
@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_timeouts_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        make_client(**{name: value})


def test_repr_and_host() -> None:
    client = make_client("https://cdn.example.test:8443/api/")
    assert client.api_url == "https://cdn.example.test:8443/api"
    assert client.host == "cdn.example.test:8443"
    assert repr(client) == "<HttpClient 'https://cdn.example.test:8443/api'>"
    assert SECRET not in repr(client)


def test_close_closes_only_its_own_session() -> None:
    closed: list[str] = []
    own = make_client()
    own.session.close = lambda: closed.append("own")  # type: ignore[method-assign]
    own.close()
    session = requests.Session()
    session.close = lambda: closed.append("borrowed")  # type: ignore[method-assign]
    borrowed = make_client(session=session)
    assert borrowed.session is session
    borrowed.close()
    assert closed == ["own"]


def test_new_sessions_carry_the_deadline_adapter() -> None:
    session = new_session()
    assert isinstance(session.get_adapter("https://api.cloudflare.com/"), DeadlineAdapter)
    assert isinstance(session.get_adapter("http://127.0.0.1/"), DeadlineAdapter)
    assert isinstance(make_client().session.get_adapter("https://x.test/"), DeadlineAdapter)


# -- what is sent ------------------------------------------------------------------------


class RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.kwargs.append(kwargs)
        return super().send(request, **kwargs)


def test_headers_timeouts_and_no_redirects() -> None:
    session = RecordingSession()
    client = make_client(timeout=7.5, connect_timeout=1.5, session=session)
    with responses.RequestsMock() as mock:
        mock.add("POST", "https://cdn.example.test/api/purge", json={"done": True})
        response = client.send(
            "POST", "/purge", headers={"X-Key": "k"}, operation="purge", json={"a": 1}
        )
        (call,) = mock.calls
    assert response.json() == {"done": True}
    assert call.request.headers["User-Agent"] == user_agent()
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.headers["X-Key"] == "k"
    assert call.request.body == b'{"a": 1}'
    (kwargs,) = session.kwargs
    assert kwargs["timeout"] == (1.5, 7.5)
    assert kwargs["allow_redirects"] is False
    # A borrowed session is not changed: the headers travel with each request.
    assert "X-Key" not in session.headers
    assert not session.headers["User-Agent"].startswith("django-cfpurge/")


def test_user_agent_is_versioned() -> None:
    assert user_agent() == f"django-cfpurge/{__version__} python-requests/{requests.__version__}"


def test_a_redirect_is_returned_not_followed() -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            "GET",
            "https://cdn.example.test/api/x",
            status=301,
            headers={"Location": "https://elsewhere.example/"},
        )
        response = make_client().send("GET", "/x", headers={}, operation="zone")
        assert len(mock.calls) == 1
    assert response.status_code == 301


def test_a_huge_body_is_cut() -> None:
    with responses.RequestsMock() as mock:
        mock.add("GET", "https://cdn.example.test/api/x", body=b"x" * (MAX_BODY_BYTES + 5000))
        response = make_client().send("GET", "/x", headers={}, operation="zone")
    assert len(response.content) == MAX_BODY_BYTES


def test_requests_are_logged_without_headers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="django_cfpurge")
    with responses.RequestsMock() as mock:
        mock.add("GET", "https://cdn.example.test/api/x", json={})
        make_client().send("GET", "/x", headers={"Authorization": SECRET}, operation="zone")
    assert "GET /x -> 200" in caplog.text
    assert SECRET not in caplog.text


# -- network errors ----------------------------------------------------------------------

NETWORK_ERRORS = [
    (requests.ConnectTimeout(), NetworkError,
     "Could not connect to Cloudflare's API at cdn.example.test: timed out after 5 s",
     "check this server's outbound network access"),
    (requests.ReadTimeout(), NetworkError,
     "Cloudflare's API at cdn.example.test did not answer: timed out after 30 s",
     "the service or the network is slow; the zone request can be retried"),
    (requests.Timeout(), NetworkError, "timed out after 30 s", "can be retried"),
    (requests.ConnectionError(ConnectionRefusedError(111, "Connection refused")), NetworkError,
     "connection refused", SETTING),
    (requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),
     NetworkError, "was reset", "firewall, proxy, DNS"),
    (requests.ConnectionError(socket.gaierror(-2, "Name or service not known")), NetworkError,
     "the host name could not be resolved", "DNS"),
    (requests.ConnectionError(TimeoutError()), NetworkError, "timed out", "firewall"),
    (requests.ConnectionError("Max retries exceeded"), NetworkError, "the connection failed",
     "firewall"),
    (requests.exceptions.ChunkedEncodingError(), NetworkError,
     "reset while the answer was arriving", "firewall"),
    (requests.exceptions.SSLError(), NetworkError, "the TLS handshake failed", "firewall"),
    (OSError(errno.ECONNREFUSED, "refused"), NetworkError, "connection refused", "firewall"),
    (requests.exceptions.InvalidHeader(f"Invalid header value 'Bearer {SECRET}\\n'"),
     NetworkError, "could not be written", "a credential contains characters"),
    (UnicodeEncodeError("latin-1", SECRET + "\u2603", 40, 41, "ordinal not in range(256)"),
     NetworkError, "could not be written", "enter it again"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "cls", "problem", "advice"),
    NETWORK_ERRORS,
    ids=[type(case[0]).__name__ + str(i) for i, case in enumerate(NETWORK_ERRORS)],
)
def test_network_errors_name_what_happened_and_keep_no_chain(
    exc: BaseException, cls: type, problem: str, advice: str
) -> None:
    with responses.RequestsMock() as mock:
        mock.add("GET", "https://cdn.example.test/api/zones/x", body=exc)
        with pytest.raises(NetworkError) as info:
            make_client().send("GET", "/zones/x", headers={}, operation="zone")
    err = info.value
    assert type(err) is cls
    assert problem in str(err)
    assert problem in err.reason
    assert advice in str(err)
    assert err.transient
    assert err.error_kind == ErrorKind.NETWORK
    assert err.status_code is None
    # The requests error may quote a header (a credential): it is not kept anywhere.
    assert err.__cause__ is None
    assert err.__context__ is None
    assert_nothing_holds(err, SECRET)


def test_a_network_error_survives_pickling() -> None:
    with responses.RequestsMock() as mock:
        mock.add("GET", "https://cdn.example.test/api/x", body=requests.ConnectTimeout())
        with pytest.raises(NetworkError) as info:
            make_client().send("GET", "/x", headers={}, operation="zone")
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301  (our own bytes, just made)
    assert type(copy) is NetworkError
    assert (copy.message, copy.reason) == (info.value.message, info.value.reason)
    assert copy.transient


def test_the_configured_timeouts_appear_in_the_message() -> None:
    with responses.RequestsMock() as mock:
        mock.add("GET", "https://cdn.example.test/api/x", body=requests.ConnectTimeout())
        mock.add("GET", "https://cdn.example.test/api/y", body=requests.ReadTimeout())
        client = make_client(connect_timeout=1.5, timeout=12)
        with pytest.raises(NetworkError, match=r"timed out after 1\.5 s"):
            client.send("GET", "/x", headers={}, operation="zone")
        with pytest.raises(NetworkError, match=r"timed out after 12 s"):
            client.send("GET", "/y", headers={}, operation="zone")


def test_real_connection_refused() -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(NetworkError) as info:
        client.send("GET", "/x", headers={}, operation="purge")
    assert "connection refused" in str(info.value)
    assert "127.0.0.1" in str(info.value)
    assert type(info.value) is NetworkError
    assert info.value.__context__ is None


def test_real_connection_reset(server_factory) -> None:
    server = server_factory(mode="reset")
    with pytest.raises(NetworkError, match="was reset"):
        make_client(server.url).send("GET", "/x", headers={}, operation="purge")


def test_real_read_timeout_is_not_the_deadline(server_factory) -> None:
    server = server_factory(mode="silent")
    client = make_client(server.url, timeout=0.2, deadline=30)
    with pytest.raises(NetworkError) as info:
        client.send("GET", "/x", headers={}, operation="zone")
    assert type(info.value) is NetworkError
    assert "did not answer: timed out after 0.2 s" in str(info.value)


# -- the overall deadline ------------------------------------------------------------------

LONG_BODY = b"[" + b"0," * 400 + b"0]"
TRICKLED = {
    "status-line-and-headers": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: "
        + b"p" * 400
        + b"\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "body-keep-alive": http_answer(LONG_BODY, close=False),
    # The answer ends the connection: http.client hands the socket over to the response.
    "body-connection-close": http_answer(LONG_BODY, close=True),
    # HTTP/1.0 without a length: the body ends when the server closes.
    "body-http-1.0": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + LONG_BODY,
}


def _head_size(answer: bytes) -> int:
    """Bytes sent at once before the trickle: the head, unless the head trickles."""
    return 0 if b"X-Padding" in answer else answer.index(b"\r\n\r\n") + 4


@pytest.mark.parametrize("answer", list(TRICKLED.values()), ids=list(TRICKLED))
def test_a_trickling_server_meets_the_deadline(server_factory, answer: bytes) -> None:
    """One byte at a time, each well within the read timeout: only the deadline ends it."""
    fast = _head_size(answer)
    server = server_factory(answer, fast=fast, piece=1, gap=0.02)
    client = make_client(server.url, timeout=5, deadline=0.5)
    with pytest.raises(DeadlineExceeded) as info:
        client.send("GET", "/slow", headers={"Authorization": SECRET}, operation="purge")
    err = info.value
    assert isinstance(err, NetworkError)
    assert err.error_kind == ErrorKind.TIMEOUT
    assert err.transient
    assert "did not finish answering within 0.5 s (the overall deadline)" in str(err)
    assert "CFPURGE['DEADLINE']" in str(err)
    assert err.__context__ is None and err.__cause__ is None
    assert_nothing_holds(err, SECRET)
    server.wait()
    # The client hung up: the server never got to finish its answer.
    assert (server.answered, server.cut_off) == (0, 1)
    assert fast < server.bytes_written < len(answer)


def test_a_silent_server_meets_the_deadline_before_the_read_timeout(server_factory) -> None:
    server = server_factory(mode="silent")
    with pytest.raises(DeadlineExceeded):
        make_client(server.url, timeout=30, deadline=0.3).send(
            "GET", "/x", headers={}, operation="zone"
        )


def test_the_deadline_does_not_touch_a_prompt_answer_and_the_client_goes_on(
    server_factory,
) -> None:
    slow_answer = TRICKLED["body-connection-close"]
    slow = server_factory(slow_answer, fast=_head_size(slow_answer), piece=1, gap=0.02)
    prompt = server_factory(http_answer(b'{"fine": true}'), piece=4, gap=0.001)
    client = make_client(slow.url, timeout=5, deadline=0.5)
    with pytest.raises(DeadlineExceeded):
        client.send("GET", "/x", headers={}, operation="zone")
    client.api_url = prompt.url  # the same session, its pool, its adapter
    for _ in range(3):
        assert client.send("GET", "/x", headers={}, operation="zone").json() == {"fine": True}
    prompt.wait_answered(3)
    assert (prompt.answered, prompt.cut_off) == (3, 0)


# -- credentials that cannot be sent --------------------------------------------------------


def test_a_token_with_a_line_break_is_not_sent_and_not_kept(server_factory) -> None:
    server = server_factory(http_answer())
    token = API_TOKEN[:20] + "\n" + API_TOKEN[20:]
    creds = CloudflareCredentials(zone_id=ZONE_ID, api_token=token)
    http = make_client(server.url + "/client/v4", secrets=creds.secrets)
    with pytest.raises(NetworkError) as info:
        CloudflareClient(creds, http).get_zone()
    err = info.value
    assert "could not be written" in str(err)
    assert "a credential contains characters that cannot be sent" in str(err)
    assert server.connections == 0
    assert_nothing_holds(err, token, API_TOKEN[:20], API_TOKEN[20:])


def test_a_non_latin1_email_is_not_kept(server_factory) -> None:
    server = server_factory(http_answer())
    email = "ow\u0119ner\u2603@example.com"  # not encodable in an HTTP header
    creds = CloudflareCredentials(zone_id=ZONE_ID, email=email, api_key=GLOBAL_API_KEY)
    http = make_client(server.url + "/client/v4", secrets=creds.secrets)
    with pytest.raises(NetworkError) as info:
        CloudflareClient(creds, http).get_zone()
    err = info.value
    assert "a credential contains characters that cannot be sent" in str(err)
    assert err.__context__ is None
    # http.client's UnicodeEncodeError holds the whole header value: it is gone.
    assert_nothing_holds(err, email, GLOBAL_API_KEY)


# -- redaction -----------------------------------------------------------------------------


def test_redactor_replaces_every_secret_longest_first() -> None:
    redactor = Redactor([API_TOKEN, API_TOKEN[:12], EMAIL, "abc", "", GLOBAL_API_KEY])
    text = f"token {API_TOKEN} head {API_TOKEN[:12]} mail {EMAIL} key {GLOBAL_API_KEY} abc"
    assert redactor.text(text) == (
        "token [redacted] head [redacted] mail [redacted] key [redacted] abc"
    )


def test_redactor_replaces_the_pieces_of_a_broken_secret() -> None:
    broken = API_TOKEN[:20] + "\n " + API_TOKEN[20:]
    redactor = Redactor([broken, "Bearer xyzzy0123456789"])
    text = f"got {API_TOKEN[:20]} and {API_TOKEN[20:]}; the word “Bearer” stays"
    assert redactor.text(text) == "got [redacted] and [redacted]; the word “Bearer” stays"


def test_redactor_walks_parsed_bodies() -> None:
    redactor = Redactor([SECRET])
    body = {
        "errors": [{"code": 1, "message": f"bad {SECRET}"}],
        SECRET: (SECRET, 3, None, True),
        "n": 1.5,
    }
    assert redactor.value(body) == {
        "errors": [{"code": 1, "message": "bad [redacted]"}],
        "[redacted]": ["[redacted]", 3, None, True],
        "n": 1.5,
    }


def test_redactor_cuts_hostile_nesting() -> None:
    deep: Any = SECRET
    for _ in range(5000):
        deep = [deep]
    cut = Redactor([SECRET]).value(deep)
    assert SECRET not in repr(cut)
    depth = 0
    while isinstance(cut, list):
        cut, depth = cut[0], depth + 1
    assert cut == "…"
    assert depth == MAX_BODY_DEPTH


@pytest.mark.parametrize("position", [0, 250, 280, 290, 295, 299, 300])
def test_snippet_redacts_before_it_cuts(position: int) -> None:
    body = ("a" * position + SECRET + "b" * 400).encode()
    snippet = Redactor([SECRET]).snippet(body)
    assert snippet.endswith("…")
    assert len(snippet) == SNIPPET_CHARS + 1
    # Not even the first few characters of the secret survive the cut.
    assert SECRET[:6] not in snippet
    if position <= SNIPPET_CHARS - len("[redacted]"):
        assert "[redacted]" in snippet


def test_snippet_of_a_short_or_undecodable_body() -> None:
    assert Redactor([SECRET]).snippet(b"short") == "short"
    assert Redactor([SECRET]).snippet(b"\xff\xfe" + SECRET.encode()) == "\ufffd\ufffd[redacted]"


# -- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "expected"),
    [
        ({"Retry-After": "30"}, 429, 30.0),
        ({"Retry-After": " 2.5 "}, 429, 2.5),
        ({"Retry-After": "-4"}, 429, 0.0),
        ({"Retry-After": "5"}, 503, 5.0),
        ({"Retry-After": "soon", "Ratelimit": '"default";r=0;t=9'}, 429, 9.0),
        ({"Ratelimit": '"default";r=50;t=30'}, 429, 30.0),
        # Quota left on a 5xx: the window's reset time is no reason to wait.
        ({"Ratelimit": '"default";r=50;t=240'}, 503, None),
        ({"Ratelimit": '"default";r=0;t=12'}, 503, 12.0),
        ({"Ratelimit": '"default";r=0'}, 429, None),
        ({}, 429, None),
        ({}, 503, None),
        # Numbers that are no number of seconds are ignored, not obeyed.
        ({"Retry-After": "inf"}, 429, None),
        ({"Retry-After": "1e999"}, 429, None),
        ({"Retry-After": "nan"}, 429, None),
        ({"Retry-After": "Infinity", "Ratelimit": '"default";r=0;t=7'}, 429, 7.0),
    ],
)
def test_retry_after(headers: dict[str, str], status: int, expected: float | None) -> None:
    assert retry_after(headers, status) == expected


def test_retry_after_as_an_http_date() -> None:
    later = datetime.now(timezone.utc) + timedelta(seconds=120)
    waited = retry_after({"Retry-After": format_datetime(later, usegmt=True)})
    assert waited is not None
    assert 110 <= waited <= 121
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0


# -- socket_cause ----------------------------------------------------------------------------


def _wrapped(inner: BaseException, levels: int = 3) -> BaseException:
    err = inner
    for _ in range(levels):
        outer = requests.ConnectionError(err)
        outer.__cause__ = err
        err = outer
    return err


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (_wrapped(ConnectionRefusedError(111, "refused")), "refused"),
        (_wrapped(ConnectionResetError(104, "reset")), "reset"),
        (_wrapped(BrokenPipeError(32, "pipe")), "reset"),
        (_wrapped(socket.gaierror(-2, "unknown")), "dns"),
        (_wrapped(NameResolutionError("h", None, socket.gaierror(-2, "x"))), "dns"),
        (_wrapped(TimeoutError()), "timeout"),
        (OSError(errno.ECONNREFUSED, "x"), "refused"),
        (OSError(errno.ECONNABORTED, "x"), "reset"),
        (OSError(errno.ENOSPC, "x"), ""),
        (requests.ConnectionError("Max retries exceeded"), ""),
    ],
)
def test_socket_cause(err: BaseException, expected: str) -> None:
    assert socket_cause(err) == expected


def test_socket_cause_survives_a_cycle() -> None:
    first, second = requests.ConnectionError("a"), requests.ConnectionError("b")
    first.__context__, second.__context__ = second, first
    assert socket_cause(first) == ""


def _reason_chain(inner: BaseException) -> Sequence[BaseException]:
    outer = requests.ConnectionError("outer")
    outer.reason = inner  # type: ignore[attr-defined]
    return [outer]


def test_socket_cause_follows_reason() -> None:
    (err,) = _reason_chain(ConnectionRefusedError(111, "refused"))
    assert socket_cause(err) == "refused"


def test_secret_headers_show_their_names_only() -> None:
    from django_cfpurge.backends.http import SecretHeaders

    headers = SecretHeaders({"Authorization": f"Bearer {SECRET}", "Accept": "text/plain"})
    for shown in (repr(headers), str(headers), f"{headers}", repr({"h": headers})):
        assert SECRET not in shown
        assert "Authorization" in shown
    assert headers["Authorization"] == f"Bearer {SECRET}"
