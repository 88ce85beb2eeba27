"""Escalation: many URLs under one directory become one prefix (or host) purge.

With ``CFPURGE["ESCALATE_URLS_OVER"] = N``, when the rows one zone sends in a drain pass
ask for more than ``N`` URLs under one directory of one host (a bulk import, a folder
renamed), those URLs are purged by one purge of the directory's prefix
(``www.example.com/media/photos/``) instead, on a CDN that purges prefixes; for the
host's root, by one purge of the host on a CDN that purges hosts. The deepest such
directory is chosen, so as little as possible is purged beyond what was asked.

The trade-off: a prefix or host purge also drops what was not asked (every file under
the directory, every variant), which the origin then serves again; and it spends the
CDN's smaller budget for such purges (Cloudflare Free: 5 a minute, against 800 URLs a
second). It pays where URLs are slow to purge one by one (bunny.net takes one URL per
call, 5 a second) or when thousands change at once. Off by default.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext

from .enums import Kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalation:
    """One prefix or host purge sent in place of many URLs.

    :ivar kind: ``prefixes`` or ``hosts``.
    :ivar target: the prefix (``host/path/``) or the host.
    :ivar urls: how many URLs it stands for.
    """

    kind: str
    target: str
    urls: int

    def note(self, threshold: int) -> str:
        """What the purge log says about it."""
        return gettext(
            "Sent in place of %(count)d URLs under %(target)s (more than "
            "CFPURGE['ESCALATE_URLS_OVER'] = %(threshold)d)."
        ) % {"count": self.urls, "target": self.target, "threshold": threshold}

    def as_dict(self) -> dict[str, Any]:
        """JSON form, for a row's result."""
        return {"kind": self.kind, "target": self.target, "urls": self.urls}


def _directories(path: str) -> list[str]:
    """``/a/b/c.jpg`` → ``["/a/b/", "/a/", "/"]``: deepest first."""
    parts = (path or "/").split("/")
    return ["/".join(parts[:i]) + "/" for i in range(len(parts) - 1, 0, -1)]


def plan(
    urls: Iterable[str], threshold: int, *, prefixes: bool, hosts: bool
) -> dict[str, Escalation]:
    """Which URLs to send as what: URL → its :class:`Escalation` (the others: as URLs)."""
    under: dict[tuple[str, str], set[str]] = defaultdict(set)
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        for directory in _directories(parts.path):
            under[(parts.hostname, directory)].add(url)
    chosen: dict[str, Escalation] = {}
    by_depth = sorted(under, key=lambda hd: (-hd[1].count("/"), hd))
    for host, directory in by_depth:
        left = under[(host, directory)] - chosen.keys()
        if len(left) <= threshold:
            continue
        if directory == "/" and hosts:
            escalation = Escalation(Kind.HOSTS.value, host, len(left))
        elif prefixes:
            escalation = Escalation(Kind.PREFIXES.value, f"{host}{directory}", len(left))
        else:
            continue
        chosen.update(dict.fromkeys(left, escalation))
    return chosen


def escalate(rows: Sequence[Any], kinds: Sequence[str], threshold: int | None) -> list[Escalation]:
    """Rewrite the ``files`` of ``rows`` (their targets in memory, for one zone's send) so
    that URLs past ``threshold`` under one directory go as one prefix or host purge.

    :returns: the escalations made (none when ``threshold`` is None or the CDN purges
        neither prefixes nor hosts).
    """
    prefixes, hosts = Kind.PREFIXES in kinds, Kind.HOSTS in kinds
    if threshold is None or not (prefixes or hosts):
        return []
    urls = {
        item
        for row in rows
        for item in (row.targets or {}).get(Kind.FILES, ())
        if isinstance(item, str)
    }
    chosen = plan(urls, threshold, prefixes=prefixes, hosts=hosts)
    if not chosen:
        return []
    for row in rows:
        _rewrite(row, chosen)
    escalations = list(dict.fromkeys(chosen.values()))
    for escalation in escalations:
        logger.info(
            "django-cfpurge: %d URLs under %s purged as one %s purge (ESCALATE_URLS_OVER=%d)",
            escalation.urls,
            escalation.target,
            escalation.kind,
            threshold,
        )
    return escalations


def _rewrite(row: Any, chosen: dict[str, Escalation]) -> None:
    targets = dict(row.targets or {})
    files = targets.get(Kind.FILES, [])
    kept = [item for item in files if not (isinstance(item, str) and item in chosen)]
    if len(kept) == len(files):
        return
    for escalation in dict.fromkeys(chosen[i] for i in files if isinstance(i, str) and i in chosen):
        present = targets.setdefault(escalation.kind, [])
        if escalation.target not in present:
            targets[escalation.kind] = [*present, escalation.target]
    if kept:
        targets[Kind.FILES] = kept
    else:
        del targets[Kind.FILES]
    row.targets = targets


def escalations_of(row: Any, escalations: Sequence[Escalation]) -> list[Escalation]:
    """The escalations that stand for URLs of ``row`` (after :func:`escalate`)."""
    targets = row.targets or {}
    return [e for e in escalations if e.target in targets.get(e.kind, ())]
