"""The envelope of Cloudflare's API v4 replies, shared by every Cloudflare API the
package calls (cache purge, token verify, zones, Images).

A reply is ``{"success": bool, "errors": [...], "messages": [...], "result": ...}``;
each error is ``{"code": int, "message": str}``, possibly with a nested
``error_chain`` of the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...exceptions import ApiMessage

#: Error entries kept from one answer (``error_chain`` included).
MAX_ERROR_ENTRIES = 50
_END = object()


def is_envelope(payload: Any) -> bool:
    """Whether ``payload`` (parsed JSON) has the shape of a v4 reply."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("success"), bool)
        and isinstance(payload.get("errors", []), list)
    )


def error_messages(entries: Any) -> Iterator[ApiMessage]:
    """Cloudflare's ``errors`` entries, ``error_chain`` flattened in (depth first, in
    order), malformed skipped; at most :data:`MAX_ERROR_ENTRIES`, however deep the
    chain nests."""
    stack: list[Iterator[Any]] = [iter(entries)] if isinstance(entries, list) else []
    count = 0
    while stack and count < MAX_ERROR_ENTRIES:
        entry = next(stack[-1], _END)
        if entry is _END:
            stack.pop()
            continue
        if not isinstance(entry, dict):
            continue
        count += 1
        yield ApiMessage(_code(entry.get("code")), _text(entry.get("message")))
        chain = entry.get("error_chain")
        if isinstance(chain, list):
            stack.append(iter(chain))


def status_and_errors(status: int, errors: list[ApiMessage]) -> str:
    """``HTTP 400: Invalid URL [code 1012]``: what an answer said, for a message."""
    if not errors:
        return f"HTTP {status}"
    return f"HTTP {status}: " + "; ".join(str(e) for e in errors)


def _code(code: Any) -> int:
    if code is None or isinstance(code, bool):
        return 0
    try:
        return int(code)
    except (TypeError, ValueError, OverflowError):
        return 0


def _text(message: Any) -> str:
    return message if isinstance(message, str) else ""
