"""A purge request as people read it: the change as sentences, the targets as lists
(purged, left, skipped and why), and every API call the row made.

Pure functions of a row (and its recorded calls): the request page's template only lays
them out. Every sentence is translatable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext

from ..backends import get_backend_class
from ..batching import item_key
from ..enums import URL_KINDS, Event, Kind, Source, Status
from ..exceptions import CfPurgeConfigurationError
from ..models import PurgeCall, PurgeRequest, Zone
from ..outbox.outcomes import purged_before

#: Items listed per kind on the page; the rest are counted.
MAX_LISTED = 100
#: Characters of an error shown in a list column.
SHORT_ERROR = 90

#: Icons of row statuses and call outcomes (beside their label, never instead), from
#: the symbols common fonts have (DejaVu, Segoe UI Symbol, Apple Symbols).
STATUS_ICONS = {
    Status.DONE: "✔",
    Status.FAILED: "✘",
    Status.PENDING: "◷",
    Status.HELD: "‖",
    Status.SKIPPED: "↷",
    Status.IGNORED: "⊘",
    Status.DROPPED: "⊘",
}
OUTCOME_ICONS = {
    PurgeCall.Outcome.OK: "✔",
    PurgeCall.Outcome.FAILED: "✘",
    PurgeCall.Outcome.RETRY: "↻",
    PurgeCall.Outcome.RATE_LIMITED: "◷",
    PurgeCall.Outcome.SPLIT: "✂",
}


def backend_label(name: str) -> str:
    """A backend's verbose name ("Cloudflare", "bunny.net"…), or its name if unknown."""
    try:
        return str(get_backend_class(name).verbose_name)
    except CfPurgeConfigurationError:
        return name


def zone_cdn(zone: Zone | None) -> str:
    """The CDN of ``zone`` as people call it ("" for no zone)."""
    return backend_label(zone.backend) if zone is not None else ""


def breakable(text: str) -> SafeString:
    """``text`` (a host or zone name, a path) escaped, with line-break opportunities
    after its dots, dashes and slashes: it wraps there rather than in a word."""
    return mark_safe(re.sub(r"([./_-])", r"\1<wbr>", escape(text)))  # noqa: S308  (escaped)


def short(text: str, limit: int = SHORT_ERROR) -> str:
    """``text`` cut to ``limit`` characters, with "…" when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- the change -----------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A watched value as people read it: ``true``, ``false``, ``none``, “text”, 3."""
    if value is None:
        return gettext("none")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def file_sentence(event: str, name: str, old: str | None, new: str | None) -> str:
    """What happened to one file field, as a sentence."""
    values = {"field": name, "old": old, "new": new}
    if old and new and old == new:
        return gettext("%(field)s: file “%(new)s” overwritten in place (same name)") % values
    if not old:
        return gettext("%(field)s: file “%(new)s” added") % values
    if not new:
        if event == Event.DELETED:
            return gettext("%(field)s: file “%(old)s” no longer used") % values
        return gettext("%(field)s: file “%(old)s” removed") % values
    if event == Event.RENAMED:
        return gettext("%(field)s: file renamed from “%(old)s” to “%(new)s”") % values
    return gettext("%(field)s: file replaced, “%(old)s” by “%(new)s”") % values


def explicit_title(row: PurgeRequest) -> str:
    """What an explicit purge is called in the log: "Manual purge", "Purge from code"."""
    if row.source == Source.MANUAL:
        return gettext("Manual purge")
    return gettext("Purge from code")


def _explicit_sentence(row: PurgeRequest) -> str:
    who = row.requested_by.get_username() if row.requested_by else ""
    if row.source == Source.MANUAL:
        if who:
            return gettext("Purged by hand in the admin by %(user)s.") % {"user": who}
        return gettext("Purged by hand in the admin.")
    return gettext("Purged by code (purge_urls, purge_tags…).")


def _event_sentence(row: PurgeRequest) -> str:
    what = row.object_repr or f"{row.model_label} #{row.object_pk}"
    if row.event == Event.CREATED:
        return gettext("%(what)s was created.") % {"what": what}
    if row.event == Event.DELETED:
        return gettext("%(what)s was deleted.") % {"what": what}
    if row.event == Event.BULK:
        return gettext("%(what)s was purged by the bulk helper (every file it uses).") % {
            "what": what
        }
    return ""


def _pair(value: Any) -> tuple[Any, Any]:
    """A stored ``[old, new]`` pair (tolerating a short or odd one)."""
    items = list(value) if isinstance(value, list | tuple) else []
    return (items[0] if items else None, items[1] if len(items) > 1 else None)


def _detail_sentences(event: str, data: dict[str, Any]) -> list[str]:
    sentences = [
        file_sentence(event, name, *_pair(pair)) for name, pair in (data.get("files") or {}).items()
    ]
    for name, pair in (data.get("fields") or {}).items():
        old, new = _pair(pair)
        sentences.append(
            gettext("%(field)s: %(old)s → %(new)s")
            % {"field": name, "old": value_text(old), "new": value_text(new)}
        )
    if event in (Event.CREATED, Event.DELETED, Event.BULK):
        sentences += [
            gettext("%(field)s is %(value)s") % {"field": name, "value": value_text(value)}
            for name, value in (data.get("values") or {}).items()
        ]
    if event == Event.BULK:
        sentences += [
            gettext("%(field)s: file “%(name)s”") % {"field": name, "name": value}
            for name, value in (data.get("current") or {}).items()
            if value
        ]
    return sentences


def change_sentences(row: PurgeRequest) -> list[str]:
    """The change of ``row`` as sentences: what happened to the object, each file
    ("file renamed from A to B"), each watched field ("is_public: false → true")."""
    if row.source != Source.MODEL:
        return [_explicit_sentence(row)]
    data = row.change if isinstance(row.change, dict) else {}
    head = _event_sentence(row)
    details = _detail_sentences(row.event, data)
    if not head and not details:
        return [capfirst(row.get_event_display())]
    return [head, *details] if head else details


# -- the targets ----------------------------------------------------------------------


def item_text(kind: str, item: Any) -> str:
    """A target as text: a URL (with the headers its cache key varies on), a tag…"""
    if kind == Kind.EVERYTHING:
        return str(Kind.EVERYTHING.label)
    if isinstance(item, dict):
        headers = item.get("headers") or {}
        extra = ", ".join(f"{k}: {v}" for k, v in sorted(headers.items()))
        url = str(item.get("url", ""))
        return gettext("%(url)s (headers %(headers)s)") % {"url": url, "headers": extra}
    return str(item)


@dataclass(frozen=True)
class TargetItem:
    """One target and what became of it: ``purged``, ``left`` (to send) or ``unsent``
    (the row was ignored, dropped or skipped)."""

    text: str
    state: str


@dataclass
class TargetGroup:
    """The targets of one kind."""

    kind: str
    label: str
    items: list[TargetItem]
    total: int

    @property
    def more(self) -> int:
        """Targets not listed."""
        return self.total - len(self.items)


@dataclass
class Targets:
    """What a row purges, per kind, and what it skipped with the reasons."""

    groups: list[TargetGroup] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    resolved: bool = True
    escalated: list[str] = field(default_factory=list)


_STATE_ORDER = {"left": 0, "unsent": 1, "purged": 2}


def _state_of(row: PurgeRequest, purged: set[tuple[str, str]], kind: str, item: Any) -> str:
    if row.status == Status.DONE or (kind, item_key(item)) in purged:
        return "purged"
    if row.status in (Status.PENDING, Status.HELD, Status.FAILED):
        return "left"
    return "unsent"


def targets_of(row: PurgeRequest) -> Targets:
    """The targets of ``row``, each with its state, and the skipped ones with why."""
    found = Targets(resolved=row.resolved or bool(row.targets))
    purged = purged_before(row)
    counts = {"purged": 0, "left": 0, "unsent": 0}
    for kind, items in (row.targets or {}).items():
        label = Kind(kind).label if kind in Kind.values else kind
        states = [(item, _state_of(row, purged, kind, item)) for item in items]
        # What is left to do first: that is what a person looks for.
        states.sort(key=lambda pair: _STATE_ORDER[pair[1]])
        for _item, state in states:
            counts[state] += 1
        listed = [TargetItem(item_text(kind, item), state) for item, state in states[:MAX_LISTED]]
        found.groups.append(TargetGroup(kind, str(label), listed, len(states)))
    for entry in row.skipped_targets or []:
        if isinstance(entry, dict):
            found.skipped.append((str(entry.get("target", "")), str(entry.get("reason", ""))))
    counts["skipped"] = len(found.skipped)
    found.counts = counts
    found.escalated = escalation_sentences(row)
    return found


def escalation_sentences(row: PurgeRequest) -> list[str]:
    """The prefix or host purges sent in place of many of the row's URLs
    (``CFPURGE["ESCALATE_URLS_OVER"]``), as sentences."""
    result = row.result if isinstance(row.result, dict) else {}
    sentences = []
    for entry in result.get("escalated") or []:
        if not isinstance(entry, dict):
            continue
        values = {"count": entry.get("urls", 0), "target": entry.get("target", "")}
        if entry.get("kind") == Kind.HOSTS:
            text = gettext("%(count)s URLs were purged as one purge of the host %(target)s.")
        else:
            text = gettext("%(count)s URLs were purged as one purge of the prefix %(target)s.")
        sentences.append(text % values)
    return sentences


def count_parts(row: PurgeRequest) -> list[str]:
    """How much a row purges, in a few words: ["12"] (URLs), ["180 URLs", "2 cache
    tags"], ["everything"]; [] before the row is worked out."""
    targets = row.targets or {}
    if not targets:
        return []
    if Kind.EVERYTHING in targets:
        return [str(Kind.EVERYTHING.label)]
    if set(targets) <= URL_KINDS:
        return [str(len({item_key(i) for items in targets.values() for i in items}))]
    parts = []
    for kind, items in targets.items():
        label = Kind(kind).label if kind in Kind.values else kind
        # Translators: a count of targets and their kind: "3 cache tags", "2 prefixes".
        parts.append(gettext("%(count)d %(kind)s") % {"count": len(items), "kind": label})
    return parts


# -- the calls ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    """One API call as the request page lists it."""

    started_at: datetime
    kind: str
    items: int
    sample: list[str]
    outcome: str
    outcome_label: str
    icon: str
    status_code: int | None
    codes: str
    message: str
    retry_after: str
    duration_ms: int
    receipt: str
    cdn: str


def retry_after_text(seconds: float | None) -> str:
    """Retry-After as people read it: "30 s", "2 min 5 s"."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return gettext("%(s)d s") % {"s": whole}
    return gettext("%(m)d min %(s)d s") % {"m": whole // 60, "s": whole % 60}


def call_rows(calls: Iterable[PurgeCall]) -> list[CallRow]:
    """``calls`` (a row's, in the order sent) as the page lists them."""
    return [
        CallRow(
            started_at=timezone.localtime(call.started_at),
            kind=str(call.get_kind_display()),
            items=call.items,
            sample=[str(s) for s in call.sample or []],
            outcome=call.outcome,
            outcome_label=str(call.get_outcome_display()),
            icon=OUTCOME_ICONS.get(call.outcome, "?"),  # type: ignore[call-overload]
            status_code=call.status_code,
            codes=", ".join(str(c) for c in call.codes or []),
            message=call.message,
            retry_after=retry_after_text(call.retry_after),
            duration_ms=call.duration_ms,
            receipt=call.receipt,
            cdn=backend_label(call.backend),
        )
        for call in calls
    ]


def calls_summary(rows: list[CallRow]) -> str:
    """The calls in one sentence: "3 API calls: 2 accepted, 1 failed"."""
    if not rows:
        return gettext("No API call was made for this request.")
    by_outcome: dict[str, int] = {}
    for row in rows:
        by_outcome[row.outcome_label] = by_outcome.get(row.outcome_label, 0) + 1
    parts = ", ".join(
        # Translators: how many calls had one answer: "2 accepted", "1 failed".
        gettext("%(count)d %(outcome)s") % {"count": n, "outcome": label}
        for label, n in by_outcome.items()
    )
    return ngettext(
        "%(count)d API call: %(parts)s.", "%(count)d API calls: %(parts)s.", len(rows)
    ) % {"count": len(rows), "parts": parts}
