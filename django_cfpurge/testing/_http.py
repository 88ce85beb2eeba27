"""HTTP plumbing of the fakes: a threaded server that listens on loopback only and
ends kept-alive connections when stopped, a handler that answers with :class:`Reply`
objects, and the URL helpers cache keys need.

The fake APIs (:mod:`._base`) and an edge cache in front of a site both run on it.
Standard library only; never imports Django.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

#: Request headers: a mapping, or the case-insensitive ``Message`` of http.server.
Headers: TypeAlias = "Mapping[str, str] | Message[str, str]"

# Bodies beyond this are refused (an upload to the Images fake may be up to 10 MB).
_MAX_BODY = 32 * 1024 * 1024
_LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --------------------------------------------------------------------------- helpers


def loopback_host(host: str) -> str:
    """The address to bind for ``host``.

    :raises ValueError: unless ``host`` is ``127.0.0.1``, ``::1`` or ``localhost``.
    """
    bind = _LOOPBACK_HOSTS.get(host.strip().lower().strip("[]"))
    if bind is None:
        raise ValueError(
            f"A fake API only listens on loopback (127.0.0.1, ::1, localhost), not {host!r}."
        )
    return bind


def split_hostport(netloc: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets) into a lowercase host and a port."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        end = netloc.find("]")
        host = netloc[1:end] if end > 0 else netloc[1:]
        rest = netloc[end + 1 :] if end > 0 else ""
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        return host, port
    if netloc.count(":") == 1:
        host, _, port_text = netloc.partition(":")
        return host, int(port_text) if port_text.isdigit() else None
    return netloc, None


def join_hostport(host: str, port: int | None, scheme: str | None = None) -> str:
    """``host:port`` (IPv6 in brackets), without the port when it is ``scheme``'s default."""
    shown = f"[{host}]" if ":" in host else host
    if port is None or (scheme is not None and _DEFAULT_PORTS.get(scheme) == port):
        return shown
    return f"{shown}:{port}"


def normalize_url(url: str) -> str | None:
    """Return ``url`` in the form cache keys use, or None if it is not an http(s) URL.

    The scheme and host are lowercased, a default port is dropped, an empty path
    becomes ``/``, the query string is kept as is and a fragment is dropped.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    netloc = join_hostport(parts.hostname.lower(), port, scheme)
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def json_bytes(payload: Any) -> bytes:
    """Compact JSON, as APIs send it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def parse_json(body: bytes) -> tuple[Any, str | None]:
    """``(value, None)``, ``(None, None)`` for no body, or ``(None, "not JSON")``."""
    if not body:
        return None, None
    try:
        return json.loads(body), None
    except ValueError:
        return None, "not JSON"


@dataclass
class Reply:
    """One answer of a fake.

    :ivar content_type: None sends no ``Content-Type`` (an empty answer).
    :ivar drop: close the connection without answering.
    :ivar errors: API error codes, recorded with the request.
    """

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    delay: float = 0.0
    errors: list[Any] = field(default_factory=list)


def json_reply(payload: Any, status: int = 200, **extra: Any) -> Reply:
    """A JSON answer."""
    return Reply(status, json_bytes(payload), **extra)


# --------------------------------------------------------------------------- HTTP plumbing


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server that remembers its connections, so that stopping it ends
    kept-alive ones too. ``owner`` is whatever the handler serves (a :class:`FakeServer`)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], owner: Any
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() resolves the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def serve_in_thread(self, name: str) -> None:
        """Serve in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, end every open connection and close the socket."""
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Reads a request (``Content-Length`` or chunked) and answers with a :class:`Reply`.

    Subclasses implement :meth:`answer`; an exception there becomes the owner's
    ``internal_error()`` answer, a client that went away is ignored.
    """

    protocol_version = "HTTP/1.1"
    # The head and the body go out in two writes; with Nagle's algorithm on, the body
    # would wait for the client's delayed ACK of the head (40 ms on Linux), a delay
    # no real API adds.
    disable_nagle_algorithm = True
    sys_version = ""
    timeout = 60
    server: LoopbackServer

    def version_string(self) -> str:
        return str(getattr(self.server.owner, "server_header", "fake"))

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._safely()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def answer(self, body: bytes) -> Reply:
        """The reply to the request in ``self.command``/``self.path``/``self.headers``."""
        raise NotImplementedError

    def read_body(self) -> bytes:
        """The request body (at most 32 MiB)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def send(self, reply: Reply) -> None:
        """Write ``reply`` (after its delay), or close the connection if it is a drop."""
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _safely(self) -> None:
        try:
            self.send(self.answer(self.read_body()))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            logger.exception("A fake failed to answer %s %s", self.command, self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send(self.server.owner.internal_error())
