"""A fake Cloudflare Images API for integration tests: real HTTP on the loopback interface.

Routes (under ``/client/v4``), with Cloudflare's JSON envelope on every answer:

* ``POST /accounts/{account_id}/images/v1``: a ``multipart/form-data`` upload of a
  ``file`` or from a ``url`` (never fetched), with optional ``id``, ``metadata``,
  ``requireSignedURLs`` and ``creator``; generated ids are 32 characters, as the
  schema demands (real ones are 36-character UUIDs);
* ``GET``, ``PATCH`` (``requireSignedURLs``, ``metadata``, ``creator``) and ``DELETE
  /accounts/{account_id}/images/v1/{image_id}``;
* ``GET /accounts/{account_id}/images/v2``: a page of images (``per_page``,
  ``sort_order``, ``creator``) and a ``continuation_token`` for the next one;
* ``GET /accounts/{account_id}/images/v1/stats`` and ``GET
  /accounts/{account_id}/tokens/verify``.

Tokens are those of :mod:`~django_cfpurge.testing.cloudflare_accounts`: reading needs
the Images Read or Edit permission (:attr:`Token.images`), changing needs Edit; without
it the answer is 403 / 10000, for an unknown token 401 / 1000. A delete, and a change of
``requireSignedURLs``, purge every cached copy (Cloudflare says so): the fake tells its
purge listeners to evict ``imagedelivery.net/<account hash>/<image id>/``.

Requests are limited per token as Cloudflare's global API limit (1200 per 5 minutes,
``speed`` shortens the window); faults, records and the control routes under
``/__fake__`` are those of every fake. Error codes are the Images API's own (5400 bad
request, 5404 no such image, 5413 over 10 MB, 5415 not a form, 5500/5503 server errors);
409 / 5409 for a custom id already taken is a guess.

Standard library only; never imports Django. It never records a token or image bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import _cloudflare_common as cf
from ._base import FakeServer
from ._faults import FailSpec
from ._http import Headers, Reply, normalize_url
from ._records import RecordQueries, Records, wait_for
from .cloudflare_accounts import (
    DEFAULT_ACCOUNT_ID,
    IMAGES_EDIT_TOKEN,
    IMAGES_READ_TOKEN,
    Token,
    as_token,
    default_tokens,
    verify_answer,
)

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DELIVERY_HOST",
    "IMAGES_EDIT_TOKEN",
    "IMAGES_READ_TOKEN",
    "FakeCloudflareImages",
    "account_hash",
]

#: Where Cloudflare delivers images.
DELIVERY_HOST = "imagedelivery.net"
FAULT_ROUTES = ("upload", "image", "patch", "delete", "list", "stats", "verify")
_ROUTES = (
    (re.compile(r"/accounts/([^/]+)/images/v1"), {"POST": "upload"}),
    (re.compile(r"/accounts/([^/]+)/images/v1/stats"), {"GET": "stats"}),
    (
        re.compile(r"/accounts/([^/]+)/images/v1/([^/]+)"),
        {"GET": "image", "PATCH": "patch", "DELETE": "delete"},
    ),
    (re.compile(r"/accounts/([^/]+)/images/v2"), {"GET": "list"}),
    (re.compile(r"/accounts/([^/]+)/tokens/verify"), {"GET": "verify"}),
)
_WRITES = ("upload", "patch", "delete")
_UPLOAD_PARTS = {"file", "url", "id", "metadata", "requireSignedURLs", "creator"}
_MAX_FILE = 10 * 1024 * 1024


def account_hash(account_id: str) -> str:
    """The account hash of delivery URLs (22 characters derived from the account id)."""
    digest = hashlib.sha256(account_id.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _bad_request(message: str) -> Reply:
    return cf.envelope_error(400, [cf.err(5400, message)])


def _not_found() -> Reply:
    return cf.envelope_error(404, [cf.err(5404, "Image not found")])


def _form(content_type: str, body: bytes) -> dict[str, Message] | None:
    """The parts of a ``multipart/form-data`` body by name, or None if it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    return {
        str(part.get_param("name", header="content-disposition")): part
        for part in message.iter_parts()
    }


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else ""


def _metadata(value: Any) -> dict[str, Any] | Reply:
    if not isinstance(value, dict) or len(json.dumps(value).encode()) > 1024:
        return _bad_request("metadata must be a JSON object of at most 1024 bytes")
    return value


class FakeCloudflareImages(FakeServer, RecordQueries):
    """A fake Cloudflare Images API server running in a background thread.

    :param tokens: API tokens (:class:`~django_cfpurge.testing.cloudflare_accounts.Token`
        or dicts); default ``default_tokens()``: :data:`IMAGES_EDIT_TOKEN` and
        :data:`IMAGES_READ_TOKEN` of :data:`DEFAULT_ACCOUNT_ID`, and tokens without an
        Images permission.
    :param accounts: account ids it knows (default: :data:`DEFAULT_ACCOUNT_ID`).
    :param variants: variant names of every image (``public``).
    :param allowed_images: ``count.allowed`` of the stats.
    :param speed: divides the window of the per-token request limit.
    :param global_limit: requests per token per 5 minutes (1200); None disables it.
    :param error_ratio, drop_ratio, latency, fail_next, error_style, fault_routes, seed:
        faults, as for :class:`~django_cfpurge.testing.cloudflare_api.FakeCloudflare`;
        ``fail_next`` answers the next uploads, patches and deletes.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; nothing else.
    :param port: 0 picks a free one.
    :param clock: monotonic clock for the request limit.
    """

    api_prefix = cf.API_PREFIX
    server_header = "cloudflare"
    fault_routes = FAULT_ROUTES
    scripted_routes = _WRITES

    def __init__(
        self,
        *,
        tokens: Iterable[Token | Mapping[str, Any]] | None = None,
        accounts: Iterable[str] = (DEFAULT_ACCOUNT_ID,),
        variants: Sequence[str] = ("public",),
        allowed_images: int = 100_000,
        speed: float = 1.0,
        global_limit: int | None = 1200,
        error_ratio: float = 0.0,
        drop_ratio: float = 0.0,
        latency: float = 0.0,
        fail_next: Sequence[FailSpec] = (),
        error_style: str = "mixed",
        fault_routes: Sequence[str] = FAULT_ROUTES,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._initial_tokens = [
            as_token(t) for t in (default_tokens() if tokens is None else tokens)
        ]
        self.accounts = tuple(accounts)
        if not all(cf.HEX32.fullmatch(a) for a in self.accounts):
            raise ValueError("Account ids are 32 lowercase hex characters.")
        if not float(speed) > 0:
            raise ValueError("speed must be greater than 0.")
        self.variants = tuple(variants)
        self.allowed_images = int(allowed_images)
        self._limit = (global_limit, float(speed))
        self.change_log = Records()
        super().__init__(
            faults={
                "error_ratio": error_ratio,
                "drop_ratio": drop_ratio,
                "latency": latency,
                "fail_next": list(fail_next),
                "error_style": error_style,
                "routes": tuple(fault_routes),
            },
            seed=seed,
            host=host,
            port=port,
            clock=clock,
        )
        self.add_control_route("GET", "/changes", lambda data: {"changes": self.changes()})
        self.add_control_route(
            "GET", "/images", lambda data: {"images": self.redact(self.images())}
        )

    # -- state -----------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.tokens = {t.value: as_token(t) for t in self._initial_tokens}
        self.stored: dict[str, dict[str, dict[str, Any]]] = {a: {} for a in self.accounts}
        self.upload_seq = 0
        self.change_log.clear()
        limit, speed = self._limit
        self.request_limit = cf.RequestLimit(limit, 300.0, speed)

    def add_token(self, value: str, **fields: Any) -> Token:
        """Add (or replace) a token (fields as ``Token``; ``images="edit"``...)."""
        token = as_token({"value": value, **fields})
        with self.lock:
            self.tokens[token.value] = token
        return as_token(token)

    def secrets(self) -> Iterable[str]:
        """The token values."""
        return tuple(self.tokens)

    def config(self) -> dict[str, Any]:
        """Accounts, tokens (without values), options, faults and the number of images."""
        with self.lock:
            return {
                "accounts": list(self.accounts),
                "tokens": [t.to_public_dict() for t in self.tokens.values()],
                "variants": list(self.variants),
                "allowed_images": self.allowed_images,
                "global_limit": self.request_limit.limit,
                "images": {a: len(images) for a, images in self.stored.items()},
                "faults": self.faults.to_dict(),
            }

    def apply_config(self, data: Mapping[str, Any]) -> None:
        """Apply a control ``config`` body: ``tokens`` to add and ``faults``."""
        data = dict(data)
        tokens = [as_token(t) for t in data.pop("tokens", None) or []]
        faults = data.pop("faults", None) or {}
        if data:
            raise ValueError(f"Unknown options {sorted(data)}.")
        with self.lock:
            self.set_faults(**faults)
            self.tokens.update((t.value, t) for t in tokens)

    def internal_error(self) -> Reply:
        """500 / 5500."""
        return cf.envelope_error(500, [cf.err(5500, "Internal Server Error")])

    def not_found(self) -> Reply:
        """404 7000 outside ``/client/v4``."""
        return cf.no_route()

    # -- what it recorded ----------------------------------------------------------------------

    def changes(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Uploads, patches and deletes applied, oldest first (``kind``: one of them).

        Each is a dict with ``id``, ``time``, ``timestamp``, ``kind``, ``account``,
        ``image`` (its id), ``credential`` (a token id), and: ``filename``, ``size`` and
        ``source`` (``file`` or ``url``) for an upload, ``changes`` for a patch, and
        ``evicted`` (objects the purge listeners evicted) when it purged cached copies.
        """
        return [c for c in self.change_log.snapshot() if kind is None or c["kind"] == kind]

    def uploads(self) -> list[dict[str, Any]]:
        """The uploads, oldest first."""
        return self.changes("upload")

    def patches(self) -> list[dict[str, Any]]:
        """The patches, oldest first."""
        return self.changes("patch")

    def deletes(self) -> list[dict[str, Any]]:
        """The deletes, oldest first."""
        return self.changes("delete")

    def wait_for_changes(self, count: int = 1, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` changes were applied; return them all.

        :raises TimeoutError: if they are not there after ``timeout`` seconds.
        """
        return wait_for(self.changes, count, timeout, self.poll_interval, "change(s)")

    def images(self, account_id: str = DEFAULT_ACCOUNT_ID) -> list[dict[str, Any]]:
        """The account's images as the API shows them, oldest first."""
        with self.lock:
            stored = sorted(self.stored.get(account_id, {}).values(), key=lambda i: i["seq"])
            return [self._public(account_id, image) for image in stored]

    # -- the API ---------------------------------------------------------------------------

    def handle_api(
        self, method: str, target: str, headers: Headers, body: bytes, record: dict[str, Any]
    ) -> Reply:
        """Answer one request under ``/client/v4``."""
        split = urlsplit(target)
        sub = split.path[len(cf.API_PREFIX) :]
        record.update(account=None, image=None)
        reply, credential_id = self._dispatch(method, sub, split.query, headers, body, record)
        self.request_limit.decorate(reply, credential_id, self.clock())
        return reply

    def _dispatch(
        self,
        method: str,
        sub: str,
        query: str,
        headers: Headers,
        body: bytes,
        record: dict[str, Any],
    ) -> tuple[Reply, str | None]:
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(sub)
            if match is None:
                continue
            route = methods.get(method)
            if route is None:
                return cf.method_not_allowed(method, ", ".join(methods)), None
            record["route"] = route
            account, *rest = match.groups()
            record["account"] = account
            fault = self.pick_fault(route, record)
            if fault is not None:
                return self._fault_reply(fault), None
            if not cf.HEX32.fullmatch(account):
                return cf.bad_identifier(sub), None
            token = self._authenticate(headers, record)
            if isinstance(token, Reply):
                return token, None
            limited = self.request_limit.take(token.id, self.clock())
            if limited is not None:
                return limited, token.id
            if route == "verify":
                return verify_answer(token, "account", account), token.id
            denied = self._authorize(token, account, route)
            if denied is not None:
                return denied, token.id
            image_id = rest[0] if rest else None
            record["image"] = image_id
            return self._answer(route, account, image_id, query, headers, body, record), token.id
        return cf.no_route(), None

    def _authenticate(self, headers: Headers, record: dict[str, Any]) -> Token | Reply:
        value = cf.bearer_token(headers)
        if value is None:
            return cf.missing_auth()
        record["auth"] = "token"
        if isinstance(value, Reply):
            return value
        token = self.tokens.get(value)
        if token is None:
            return cf.invalid_token()
        record["credential"] = token.id
        return token

    def _authorize(self, token: Token, account: str, route: str) -> Reply | None:
        if not token.usable():
            return cf.invalid_token()
        needed = ("edit",) if route in _WRITES else ("read", "edit")
        if account not in self.stored or not token.can_use_account(account):
            return cf.auth_error()
        return None if token.images in needed else cf.auth_error()

    def _answer(
        self,
        route: str,
        account: str,
        image_id: str | None,
        query: str,
        headers: Headers,
        body: bytes,
        record: dict[str, Any],
    ) -> Reply:
        images = self.stored[account]
        if route == "upload":
            return self._upload(account, headers.get("Content-Type", ""), body, record)
        if route == "list":
            return self._list(account, parse_qs(query))
        if route == "stats":
            return cf.ok({"count": {"allowed": self.allowed_images, "current": len(images)}})
        image = images.get(image_id or "")
        if image is None:
            return _not_found()
        if route == "image":
            return cf.ok(self._public(account, image))
        if route == "delete":
            del images[image["id"]]
            self._change("delete", account, image["id"], record, purge=True)
            return cf.ok({})
        return self._patch(account, image, body, record)

    def _upload(
        self, account: str, content_type: str, body: bytes, record: dict[str, Any]
    ) -> Reply:
        form = _form(content_type, body)
        if form is None:
            message = "Images must be uploaded as a form, not as raw image data"
            return cf.envelope_error(415, [cf.err(5415, message)])
        unknown = set(form) - _UPLOAD_PARTS
        sources = [name for name in ("file", "url") if name in form]
        if unknown or len(sources) != 1:
            return _bad_request("Send exactly one of file and url, and only documented fields")
        record["body"] = {name: _text(part) for name, part in form.items() if name != "file"}
        fields = self._upload_fields(form)
        if isinstance(fields, Reply):
            return fields
        if fields["id"] in self.stored[account]:
            return cf.envelope_error(409, [cf.err(5409, "Resource already exists")])
        self.upload_seq += 1
        fields["seq"] = self.upload_seq
        self.stored[account][fields["id"]] = fields
        size = fields.pop("size")
        self._change(
            "upload",
            account,
            fields["id"],
            record,
            filename=fields["filename"],
            size=size,
            source=sources[0],
        )
        return cf.ok(self._public(account, fields))

    @staticmethod
    def _upload_source(form: Mapping[str, Message]) -> tuple[str, int] | Reply:
        """The uploaded file's name and size, from the ``file`` part or the ``url``."""
        if "file" in form:
            data = form["file"].get_payload(decode=True)
            size = len(data) if isinstance(data, bytes) else 0
            if size > _MAX_FILE:
                message = "Maximum image size of 10 Mb is reached"
                return cf.envelope_error(413, [cf.err(5413, message)])
            if not size:
                return _bad_request("The file is empty")
            return form["file"].get_filename() or "upload", size
        url = _text(form["url"])
        if normalize_url(url) is None:
            return _bad_request(f"{url!r} is not an http(s) URL")
        return urlsplit(url).path.rsplit("/", 1)[-1] or "image", 0

    def _upload_fields(self, form: Mapping[str, Message]) -> dict[str, Any] | Reply:
        source = self._upload_source(form)
        if isinstance(source, Reply):
            return source
        filename, size = source
        image_id = _text(form["id"]) if "id" in form else uuid.uuid4().hex
        if not 0 < len(image_id) <= 32 or "/" in image_id:
            # Cloudflare takes longer custom ids; its schema does not: ids that the fake
            # could not return as valid answers are refused.
            return _bad_request("The fake takes custom ids of 1 to 32 characters, without /")
        fields: dict[str, Any] = {
            "id": image_id,
            "filename": filename[:255],
            "uploaded": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requireSignedURLs": False,
            "meta": None,
            "creator": _text(form["creator"])[:1024] if "creator" in form else None,
            "size": size,
        }
        if "requireSignedURLs" in form:
            flag = _text(form["requireSignedURLs"])
            if flag not in ("true", "false"):
                return _bad_request("requireSignedURLs must be true or false")
            fields["requireSignedURLs"] = flag == "true"
        if "metadata" in form:
            try:
                metadata = _metadata(json.loads(_text(form["metadata"])))
            except ValueError:
                metadata = _bad_request("metadata must be JSON")
            if isinstance(metadata, Reply):
                return metadata
            fields["meta"] = metadata
        return fields

    def _patch(
        self, account: str, image: dict[str, Any], body: bytes, record: dict[str, Any]
    ) -> Reply:
        try:
            changes = json.loads(body or b"")
        except ValueError:
            return _bad_request("The body must be JSON")
        record["body"] = changes
        if (
            not isinstance(changes, dict)
            or not changes
            or set(changes)
            - {
                "creator",
                "metadata",
                "requireSignedURLs",
            }
        ):
            return _bad_request("Send creator, metadata and/or requireSignedURLs")
        signed = changes.get("requireSignedURLs", image["requireSignedURLs"])
        if not isinstance(signed, bool) or not isinstance(changes.get("creator", ""), str):
            return _bad_request("requireSignedURLs is a boolean and creator a string")
        if "metadata" in changes:
            metadata = _metadata(changes["metadata"])
            if isinstance(metadata, Reply):
                return metadata
            image["meta"] = metadata
        if "creator" in changes:
            image["creator"] = changes["creator"]
        purge = signed != image["requireSignedURLs"]
        image["requireSignedURLs"] = signed
        self._change("patch", account, image["id"], record, purge=purge, changes=changes)
        return cf.ok(self._public(account, image))

    def _list(self, account: str, query: Mapping[str, list[str]]) -> Reply:
        try:
            per_page = int(float(query.get("per_page", ["1000"])[-1]))
            start = int(query.get("continuation_token", ["0"])[-1] or "0", 16)
        except ValueError:
            return _bad_request("Invalid per_page or continuation_token")
        order = query.get("sort_order", ["desc"])[-1]
        if not 10 <= per_page <= 10_000 or order not in ("asc", "desc") or start < 0:
            return _bad_request("per_page is 10 to 10000, sort_order asc or desc")
        found = sorted(self.stored[account].values(), key=lambda i: i["seq"])
        if order == "desc":
            found.reverse()
        if "creator" in query:
            wanted = query["creator"][-1] or None
            found = [image for image in found if image["creator"] == wanted]
        page = found[start : start + per_page]
        more = start + per_page < len(found)
        return cf.ok(
            {
                "images": [self._public(account, image) for image in page],
                "continuation_token": format(start + per_page, "x") if more else None,
            }
        )

    def _public(self, account: str, image: Mapping[str, Any]) -> dict[str, Any]:
        base = f"https://{DELIVERY_HOST}/{account_hash(account)}/{image['id']}"
        public = {
            "id": image["id"],
            "filename": image["filename"],
            "uploaded": image["uploaded"],
            "requireSignedURLs": image["requireSignedURLs"],
            "variants": [f"{base}/{variant}" for variant in self.variants],
        }
        if image["meta"]:
            public["meta"] = dict(image["meta"])
        if image["creator"] is not None:
            public["creator"] = image["creator"]
        return public

    def _change(
        self,
        kind: str,
        account: str,
        image_id: str,
        record: dict[str, Any],
        *,
        purge: bool = False,
        **extra: Any,
    ) -> None:
        change = {"kind": kind, "account": account, "image": image_id, **extra}
        change["credential"] = record["credential"]
        if purge:
            prefix = f"{DELIVERY_HOST}/{account_hash(account)}/{image_id}/"
            change["evicted"] = self.notify_purge(
                "prefixes", [prefix], lambda host: host == DELIVERY_HOST
            )
        self.change_log.add(self.redact(change))

    def _fault_reply(self, spec: Mapping[str, Any]) -> Reply:
        return cf.fault_reply(
            spec,
            {
                400: (5400, "Bad request"),
                401: (1000, "Invalid API Token"),
                403: (10000, "Authentication error"),
                404: (5404, "Image not found"),
                429: (971, cf.RATE_LIMIT_MESSAGE),
                500: (5500, "Internal Server Error"),
                503: (5503, "Server Unavailable"),
            },
        )
