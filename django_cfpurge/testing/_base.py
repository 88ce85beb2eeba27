"""The base of every fake API of :mod:`django_cfpurge.testing`.

A :class:`FakeServer` subclass answers its own API routes in
:meth:`FakeServer.handle_api`. This base runs it in a daemon thread on the loopback
interface only (:mod:`._http`), records every API request without credentials
(:mod:`._records`), draws faults (:mod:`._faults`), adds the configured latency, and
serves the control routes under ``/__fake__``:

* ``GET /__fake__/health``, ``GET /__fake__/requests`` and ``GET /__fake__/config``;
* ``POST /__fake__/reset`` and ``POST /__fake__/config``, with JSON bodies only, so that a
  web page cannot post to them cross-origin;
* whatever the subclass (``/purges``...) or its user (an edge cache's pages) adds with
  :meth:`FakeServer.add_control_route`.

A fake reports each purge it applies to its *purge listeners*
(:meth:`FakeServer.add_purge_listener`): callables ``listener(kind, items, serves)``
such as an edge cache's ``evict``. ``kind`` is one of :data:`EVICT_KINDS`, whatever the
API's own vocabulary, and ``serves(hostname)`` tells whether the purged zone serves a
hostname, so that a listener never evicts another zone's objects.

Standard library only; never imports Django.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

from ._faults import Faults
from ._http import (
    Headers,
    LoopbackHandler,
    LoopbackServer,
    Reply,
    join_hostport,
    json_reply,
    loopback_host,
)
from ._records import PurgeQueries, Records

logger = logging.getLogger(__name__)

_Fake = TypeVar("_Fake", bound="FakeServer")

#: ``listener(kind, items, serves)``: returns how many cached objects it evicted.
PurgeListener: TypeAlias = "Callable[[str, Sequence[Any], Callable[[str], bool]], int | None]"
#: A control route: gets the JSON body (``{}`` for GET) and returns JSON-ready data or a Reply.
ControlRoute: TypeAlias = "Callable[[Mapping[str, Any]], Any]"

#: Path prefix of the control routes of every fake.
CONTROL_PREFIX = "/__fake__"
#: What purge listeners are told: ``files`` (absolute URLs), ``prefixes`` (``host/path``,
#: no scheme), ``tags``, ``hosts`` (hostnames) or ``everything`` (no items).
EVICT_KINDS = ("files", "prefixes", "tags", "hosts", "everything")

# Never recorded: they carry credentials (or a browser's cookies).
_UNRECORDED_HEADERS = frozenset(
    {
        "accesskey",
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-auth-email",
        "x-auth-key",
        "x-auth-user-service-key",
    }
)


class _FakeHandler(LoopbackHandler):
    def answer(self, body: bytes) -> Reply:
        fake: FakeServer = self.server.owner
        return fake.handle(self.command, self.path, self.headers, body)


class FakeServer:
    """A fake API on ``127.0.0.1`` (or ``::1``), in a daemon thread of this process.

    Subclasses set :attr:`api_prefix`, :attr:`fault_routes` and :attr:`scripted_routes`,
    and implement :meth:`handle_api`, :meth:`_reset_state`, :meth:`secrets`,
    :meth:`config` and :meth:`apply_config`. Their constructors set up their own initial
    state, then call ``FakeServer.__init__``, which calls :meth:`reset`.

    :param faults: the initial fault options (see :meth:`set_faults`).
    :param seed: seed of the fault dice.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; nothing else.
    :param port: 0 picks a free one.
    :param clock: monotonic clock for rate limits (tests may pass their own).
    """

    #: Path prefix of the API routes; ``api_url`` ends with it.
    api_prefix = ""
    #: Value of the ``Server`` header.
    server_header = "fake"
    #: Names of the routes the random fault dice may hit (``set_faults(routes=...)``).
    fault_routes: tuple[str, ...] = ()
    #: Routes that consume ``fail_next``, the scripted answers.
    scripted_routes: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        faults: Mapping[str, Any],
        seed: int | None,
        host: str,
        port: int,
        clock: Callable[[], float] | None,
    ) -> None:
        self._bind_host = loopback_host(host)
        self._port = int(port)
        self.clock = clock or time.monotonic
        #: Held while a request is answered, and while state changes.
        self.lock = threading.RLock()
        self._initial_faults = dict(faults)
        self._initial_seed = seed
        self._server: LoopbackServer | None = None
        self._listeners: list[PurgeListener] = []
        #: Extra fields of the ``/__fake__/health`` answer (an edge cache adds its URL).
        self.health_info: dict[str, Any] = {}
        self.request_log = Records()
        self._control_routes: dict[tuple[str, str], ControlRoute] = {
            ("GET", "/health"): lambda data: self.health(),
            ("GET", "/requests"): lambda data: {"requests": self.request_log.snapshot()},
            ("GET", "/config"): lambda data: self.config(),
            ("POST", "/reset"): self._control_reset,
            ("POST", "/config"): self._control_config,
        }
        self.reset()

    def __repr__(self) -> str:
        state = self.base_url if self.running else "stopped"
        return f"<{type(self).__name__} {state}>"

    # -- what subclasses provide ---------------------------------------------------------

    def handle_api(
        self, method: str, target: str, headers: Headers, body: bytes, record: dict[str, Any]
    ) -> Reply:
        """Answer one API request (called with :attr:`lock` held).

        Fill ``record`` (``route``, ``auth``, ``credential``, ``body``, ``fault``...): it is
        stored, without secrets, once the answer is known.
        """
        raise NotImplementedError

    def _reset_state(self) -> None:
        """Restore the subclass's state to the constructor's (called with the lock held)."""
        raise NotImplementedError

    def secrets(self) -> Iterable[str]:
        """Every credential value the fake knows; they are redacted from every record."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The current configuration as JSON-ready data, without any secret."""
        raise NotImplementedError

    def apply_config(self, data: Mapping[str, Any]) -> None:
        """Apply a ``POST /__fake__/config`` body.

        :raises ValueError: for a bad value (then nothing should have changed).
        """
        raise NotImplementedError

    def internal_error(self) -> Reply:
        """The answer when the fake itself fails."""
        return json_reply({"error": "internal error of the fake"}, 500)

    def not_found(self) -> Reply:
        """The answer to a path that is neither an API nor a control route."""
        return json_reply({"error": "no such route"}, 404)

    def _request_records(self) -> list[dict[str, Any]]:
        return self.request_log.snapshot()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self: _Fake) -> _Fake:
        """Bind the listener and serve in a daemon thread. Returns ``self``."""
        if self._server is None:
            self._server = LoopbackServer(self._bind_host, self._port, _FakeHandler, self)
            self._server.serve_in_thread(f"{type(self).__name__}-{self._server.server_port}")
            logger.info("%s listening on %s", type(self).__name__, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Records stay readable."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self: _Fake) -> _Fake:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    @property
    def host(self) -> str:
        """The address it binds (``127.0.0.1`` or ``::1``)."""
        return self._bind_host

    @property
    def port(self) -> int:
        """The port (known once started).

        :raises RuntimeError: if it is not running.
        """
        if self._server is None:
            raise RuntimeError(f"The {type(self).__name__} is not running: call start() first.")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{join_hostport(self._bind_host, self.port)}"

    @property
    def api_url(self) -> str:
        """The API's base URL: :attr:`base_url` followed by :attr:`api_prefix`."""
        return self.base_url + self.api_prefix

    @property
    def control_url(self) -> str:
        """``http://127.0.0.1:PORT/__fake__``."""
        return self.base_url + CONTROL_PREFIX

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every request and purge, empty the rate-limit buckets, and restore the
        state, options and faults given to the constructor."""
        with self.lock:
            self.request_log.clear()
            self.faults = Faults(self.fault_routes, self.scripted_routes, self._initial_seed)
            self.faults.update(**self._initial_faults)
            self._reset_state()

    def set_faults(self, **changes: Any) -> None:
        """Change fault injection; arguments left out or None are unchanged.

        ``error_ratio`` and ``drop_ratio`` (fractions of API requests answered 503, or
        dropped), ``latency`` (seconds added to every answer), ``fail_next`` (replaces the
        queue of scripted answers: HTTP statuses, ``"drop"`` or dicts), ``error_style``
        (``"mixed"``, ``"html"`` or ``"json"``), ``routes`` (the routes the dice apply to),
        ``seed`` (reseeds the dice).

        :raises ValueError: for a bad value.
        """
        with self.lock:
            self.faults.update(**changes)

    def health(self) -> dict[str, Any]:
        """The ``/__fake__/health`` answer."""
        return {
            "ok": True,
            "api_url": self.api_url,
            "control_url": self.control_url,
            **self.health_info,
        }

    def add_control_route(self, method: str, path: str, route: ControlRoute) -> None:
        """Serve ``route`` at ``METHOD /__fake__<path>`` (``path`` starts with ``/``).

        A POST route gets the JSON object of the body; it may raise ValueError or
        TypeError for a 400 answer. ``GET /`` is also where ``/`` redirects.
        """
        self._control_routes[(method.upper(), path.rstrip("/") or "/")] = route

    def add_purge_listener(self, listener: PurgeListener) -> None:
        """Tell ``listener(kind, items, serves)`` of every purge from now on."""
        with self.lock:
            self._listeners.append(listener)

    def remove_purge_listener(self, listener: PurgeListener) -> None:
        """Stop telling ``listener``."""
        with self.lock:
            self._listeners.remove(listener)

    def notify_purge(self, kind: str, items: Sequence[Any], serves: Callable[[str], bool]) -> int:
        """Tell every purge listener; return how many objects they evicted in all."""
        return sum(listener(kind, items, serves) or 0 for listener in list(self._listeners))

    # -- requests ----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Headers, body: bytes) -> Reply:
        """Answer one HTTP request: a control route, an API route, or 404."""
        path = urlsplit(target).path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self._control(method, path[len(CONTROL_PREFIX) :], headers, body)
        if path == "/" and ("GET", "/") in self._control_routes:
            return Reply(302, content_type=None, headers=[("Location", CONTROL_PREFIX + "/")])
        if self.api_prefix and not path.startswith(self.api_prefix + "/"):
            return self.not_found()
        return self._api(method, target, headers, body)

    def _api(self, method: str, target: str, headers: Headers, body: bytes) -> Reply:
        split = urlsplit(target)
        record: dict[str, Any] = {
            "method": method,
            "path": split.path + (f"?{split.query}" if split.query else ""),
            "route": None,
            "status": None,
            "auth": "none",
            "credential": None,
            "errors": [],
            "fault": None,
            "latency": 0.0,
            "body": None,
            "headers": {k: v for k, v in headers.items() if k.lower() not in _UNRECORDED_HEADERS},
        }
        with self.lock:
            reply = self.handle_api(method, target, headers, body, record)
            reply.delay = record["latency"] = self.faults.latency
            record["status"] = None if reply.drop else reply.status
            record["errors"] = list(reply.errors)
            self.request_log.add(self.redact(record))
        return reply

    def pick_fault(self, route: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """The fault to answer ``route`` with (a scripted one first), noted in ``record``.

        :returns: None, ``{"drop": True}``, or a spec with ``status`` and optionally
            ``html``, ``retry_after``, ``code``, ``message``.
        """
        spec, reason = self.faults.pick(route)
        record["fault"] = reason
        return spec

    def redact(self, value: Any) -> Any:
        """``value`` with every known secret replaced (defence in depth)."""
        if isinstance(value, str):
            for secret in self.secrets():
                if secret and secret in value:
                    value = value.replace(secret, "[redacted]")
            return value
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        return value

    # -- control routes ------------------------------------------------------------------------

    def _control_reset(self, data: Mapping[str, Any]) -> Any:
        self.reset()
        return {"ok": True}

    def _control_config(self, data: Mapping[str, Any]) -> Any:
        self.apply_config(data)
        return {"ok": True, "config": self.config()}

    def _control(self, method: str, sub: str, headers: Headers, body: bytes) -> Reply:
        sub = sub.rstrip("/") or "/"
        lookup = "GET" if method == "HEAD" else method
        route = self._control_routes.get((lookup, sub))
        no_store = [("Cache-Control", "no-store")]
        if route is None:
            known = {path for _, path in self._control_routes}
            if sub in known:
                return json_reply({"error": "method not allowed"}, 405, headers=no_store)
            return json_reply({"error": f"unknown control route {sub}"}, 404, headers=no_store)
        data: Any = {}
        if lookup != "GET":
            # JSON only: a page in a browser cannot send this cross-origin without a preflight.
            content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                return json_reply(
                    {"error": "control requests must be application/json"}, 415, headers=no_store
                )
        try:
            if lookup != "GET":
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("the body must be a JSON object")
            with self.lock:
                result = route(data)
        except (ValueError, TypeError) as error:
            return json_reply({"error": str(error)}, 400, headers=no_store)
        if isinstance(result, Reply):
            result.headers.extend(no_store)
            return result
        return json_reply(result, headers=no_store)


class PurgingFakeServer(FakeServer, PurgeQueries):
    """A fake API that purges: it keeps a purge log, read with ``purges()`` here and
    ``GET /__fake__/purges`` from elsewhere, and emptied by :meth:`reset`."""

    def __init__(self, **kwargs: Any) -> None:
        self.purge_log = Records()
        super().__init__(**kwargs)
        self.add_control_route("GET", "/purges", lambda data: {"purges": self._purge_records()})

    def reset(self) -> None:
        """See :meth:`FakeServer.reset`; the purge log is emptied too."""
        with self.lock:
            self.purge_log.clear()
            super().reset()

    def _purge_records(self) -> list[dict[str, Any]]:
        return self.purge_log.snapshot()

    def record_purge(self, record: dict[str, Any]) -> None:
        """Store one purge (without secrets)."""
        self.purge_log.add(self.redact(record))
