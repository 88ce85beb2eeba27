"""What the Cloudflare API fakes share: the JSON envelope, error codes, the Bearer
check, token verification and the per-credential request limit.

Codes and messages follow Cloudflare's documentation and observed answers; where none
is documented the choice is marked so.

Standard library only; never imports Django.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ._faults import ceil_seconds
from ._http import Headers, Reply, json_bytes

#: Code of the JSON body of a 5xx fault. Cloudflare documents none; this one is arbitrary.
SERVER_ERROR_CODE = 10001
#: Path prefix of Cloudflare's v4 API (``api_url`` ends with it).
API_PREFIX = "/client/v4"

HEX32 = re.compile(r"[0-9a-f]{32}")
BEARER = re.compile(r"(?i:bearer) ([A-Za-z0-9_-]{40,80})")
RATE_LIMIT_MESSAGE = "Please wait and consider throttling your request speed"


def err(code: int, message: str, **extra: Any) -> dict[str, Any]:
    """One ``errors`` entry."""
    return {"code": code, "message": message, **extra}


def envelope_error(status: int, errors: Sequence[Mapping[str, Any]], **extra: Any) -> Reply:
    """Cloudflare's failure envelope: ``success`` false, the errors, ``result`` null."""
    body = {"success": False, "errors": [dict(e) for e in errors], "messages": [], "result": None}
    return Reply(status, json_bytes(body), errors=[int(e["code"]) for e in errors], **extra)


def ok(result: Any, messages: Sequence[Mapping[str, Any]] = ()) -> Reply:
    """Cloudflare's success envelope around ``result``."""
    body = {"success": True, "errors": [], "messages": [dict(m) for m in messages]}
    body["result"] = result
    return Reply(200, json_bytes(body))


def html_error_page(status: int) -> bytes:
    """The HTML page Cloudflare's edge sends for a 5xx (``521``, ``502``...)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    title = html.escape(f"{status} {phrase}")
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><center><h1>"
        f"{title}</h1></center><hr><center>cloudflare</center></body></html>\n"
    ).encode()


def malformed_auth() -> Reply:
    """400 6003 (chain 6111): the Authorization header is not ``Bearer <token>``."""
    chain = [err(6111, "Invalid format for Authorization header")]
    return envelope_error(400, [err(6003, "Invalid request headers", error_chain=chain)])


def invalid_token() -> Reply:
    """401 1000: an unknown, expired or disabled token, or one of the wrong family."""
    return envelope_error(401, [err(1000, "Invalid API Token")])


def auth_error() -> Reply:
    """403 10000: a valid credential without the permission for this resource."""
    return envelope_error(403, [err(10000, "Authentication error")])


def missing_auth() -> Reply:
    """400 9106: no credentials at all."""
    return envelope_error(
        400, [err(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")]
    )


def bad_identifier(path: str) -> Reply:
    """400 7003 + 7000: an identifier in the path that is not 32 hex characters."""
    return envelope_error(
        400,
        [
            err(7003, f"Could not route to {path}, perhaps your object identifier is invalid?"),
            err(7000, "No route for that URI"),
        ],
    )


def no_route() -> Reply:
    """404 7000: no such route."""
    return envelope_error(404, [err(7000, "No route for that URI")])


def method_not_allowed(method: str, allowed: str) -> Reply:
    """405 7001."""
    return envelope_error(
        405,
        [err(7001, f"Method {method} not available for that URI")],
        headers=[("Allow", allowed)],
    )


def ray_header() -> tuple[str, str]:
    """A ``cf-ray`` header, as every Cloudflare answer has."""
    return ("cf-ray", f"{secrets.token_hex(8)}-LCL")


def bearer_token(headers: Headers) -> str | Reply | None:
    """The token of an ``Authorization: Bearer`` header; a 400 reply if it is malformed;
    None without the header."""
    authorization = headers.get("Authorization")
    if authorization is None:
        return None
    match = BEARER.fullmatch(authorization.strip())
    return malformed_auth() if match is None else match.group(1)


def verify_reply(
    token_id: str, status: str, not_before: str | None, expires_on: str | None
) -> Reply:
    """The 200 of ``/user/tokens/verify`` and ``/accounts/{id}/tokens/verify``."""
    result: dict[str, Any] = {"id": token_id, "status": status}
    if not_before is not None:
        result["not_before"] = not_before
    if expires_on is not None:
        result["expires_on"] = expires_on
    messages = []
    if status == "active":
        messages = [{"code": 10000, "message": "This API Token is valid and active", "type": None}]
    return ok(result, messages)


def fault_reply(spec: Mapping[str, Any], defaults: Mapping[int, tuple[int, str]]) -> Reply:
    """Render a fault spec (see :mod:`._faults`) in Cloudflare's shape; ``defaults`` gives
    the code and message for a status when the spec names none."""
    if spec.get("drop"):
        return Reply(0, drop=True)
    status = int(spec["status"])
    if status >= 500 and spec.get("html", False):
        return Reply(status, html_error_page(status), content_type="text/html; charset=UTF-8")
    headers: list[tuple[str, str]] = []
    retry_after = spec.get("retry_after", 1 if status == 429 else None)
    if retry_after is not None:
        headers.append(("Retry-After", str(int(retry_after))))
    code, message = defaults.get(status, (SERVER_ERROR_CODE, "Internal server error"))
    code = int(spec.get("code", code))
    message = str(spec.get("message", message))
    return envelope_error(status, [err(code, message)], headers=headers)


def internal_error() -> Reply:
    """The 500 a fake sends when it fails itself."""
    return envelope_error(500, [err(SERVER_ERROR_CODE, "Internal error of the fake")])


@dataclass
class _Window:
    start: float
    count: int = 0


class RequestLimit:
    """Cloudflare's global API limit: ``limit`` requests per credential per ``window``
    seconds (1200 per 5 minutes), then 429 with code 971 until the window ends.

    ``speed`` divides the window. ``limit`` None disables it (headers still say 1200).
    """

    def __init__(self, limit: int | None = 1200, window: float = 300.0, speed: float = 1.0):
        self.limit = limit
        self.window = window
        self.speed = speed
        self._windows: dict[str, _Window] = {}

    def clear(self) -> None:
        """Every credential starts a fresh window."""
        self._windows = {}

    def _length(self) -> float:
        return self.window / self.speed

    def take(self, credential_id: str, now: float) -> Reply | None:
        """Count one request; a 429 reply if the credential is over the limit."""
        if self.limit is None:
            return None
        length = self._length()
        window = self._windows.get(credential_id)
        if window is None or now >= window.start + length:
            window = self._windows[credential_id] = _Window(start=now)
        if window.count >= self.limit:
            retry_after = ceil_seconds(window.start + length - now)
            return envelope_error(
                429, [err(971, RATE_LIMIT_MESSAGE)], headers=[("Retry-After", str(retry_after))]
            )
        window.count += 1
        return None

    def headers(self, credential_id: str | None, now: float) -> list[tuple[str, str]]:
        """``Ratelimit`` and ``Ratelimit-Policy`` for a credential (or none)."""
        limit = self.limit or 1200
        length = self._length()
        remaining, reset = limit, ceil_seconds(length)
        window = self._windows.get(credential_id) if credential_id else None
        if window is not None and self.limit is not None:
            remaining = max(0, limit - window.count)
            reset = ceil_seconds(window.start + length - now)
        return [
            ("Ratelimit", f'"default";r={remaining};t={reset}'),
            ("Ratelimit-Policy", f'"default";q={limit};w={ceil_seconds(length)}'),
        ]

    def decorate(self, reply: Reply, credential_id: str | None, now: float) -> None:
        """Add the rate-limit headers (unless the reply has its own) and ``cf-ray``."""
        if reply.drop:
            return
        if not any(name.lower() == "ratelimit" for name, _ in reply.headers):
            reply.headers.extend(self.headers(credential_id, now))
        reply.headers.append(ray_header())
