"""The fake's "edge log": an HTML page of the purges a fake API received, newest first.

:func:`install` serves it at ``GET /__fake__/`` of a fake (``/`` redirects there). It
refreshes itself every 3 seconds; everything it shows is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from django_cfpurge.testing._http import Reply

_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
    "ul{margin:0;padding-left:1.2em}"
)


def _item(item: Any) -> str:
    if isinstance(item, Mapping):
        headers = json.dumps(item.get("headers", {}))
        return f"{html.escape(str(item.get('url')))} <small>{html.escape(headers)}</small>"
    return html.escape(str(item))


def _purge_row(purge: Mapping[str, Any]) -> str:
    items = "".join(f"<li>{_item(item)}</li>" for item in purge.get("items", []))
    if purge["kind"] in ("everything", "zone") and not purge.get("items"):
        items = "<li><em>everything</em></li>"
    ignored = "".join(
        f"<li><s>{_item(item)}</s> (not purgeable)</li>" for item in purge.get("ignored", [])
    )
    cells = (
        html.escape(str(purge["time"])),
        html.escape(str(purge.get("zone_name", purge.get("zone")))),
        html.escape(str(purge["kind"])),
        f"<ul>{items}{ignored}</ul>",
        html.escape(str(purge.get("evicted", ""))),
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _request_row(request: Mapping[str, Any]) -> str:
    status = request["status"] if request["status"] is not None else "dropped"
    cells = (request["time"], request["method"], request["path"], status, request["auth"])
    cells += (request["fault"] or "",)
    return "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>"


def _table(headings: Sequence[str], rows: Sequence[str], empty: str) -> str:
    head = "".join(f"<th>{heading}</th>" for heading in headings)
    body = "".join(rows) or f"<tr><td colspan='{len(headings)}'>{empty}</td></tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(
    purges: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
    edge_url: str | None = None,
) -> bytes:
    """The page for these purge and request records (oldest first, as the fakes keep them)."""
    newest = list(reversed(purges))
    recent = list(reversed(requests))[:50]
    edge_line = ""
    if edge_url:
        link = html.escape(edge_url)
        edge_line = f"<p>Edge cache: <a href='{link}'>{link}</a></p>"
    purge_table = _table(
        ("Time (UTC)", "Zone", "Kind", "Items", "Edge entries evicted"),
        [_purge_row(purge) for purge in newest],
        "No purge yet.",
    )
    request_table = _table(
        ("Time (UTC)", "Method", "Path", "Status", "Auth", "Fault"),
        [_request_row(request) for request in recent],
        "No request yet.",
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='3'>"
        f"<title>Fake CDN: edge log</title><style>{_STYLE}</style></head><body>"
        "<h1>Fake CDN: edge log</h1>"
        f"<p>{len(newest)} purge call(s); newest first.</p>{edge_line}"
        f"{purge_table}<h2>Recent API requests</h2>{request_table}</body></html>"
    )
    return page.encode()


def install(fake: Any, edge_url: str | None = None) -> None:
    """Serve the page of ``fake``'s records at its ``GET /__fake__/``.

    ``fake`` is a running fake API of :mod:`django_cfpurge.testing` with ``purges()``
    and ``requests()`` (a ``FakeCloudflare``, a ``FakeBunny``).
    """

    def page(data: Mapping[str, Any]) -> Reply:
        body = render(fake.purges(), fake.requests(), edge_url)
        return Reply(200, body, "text/html; charset=utf-8")

    fake.add_control_route("GET", "/", page)
