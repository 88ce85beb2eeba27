"""The purge log's chart: purged, failed and waiting rows per hour, drawn on the server
as SVG (no script), each bar a link to the log filtered to its hour.

:func:`build_chart` turns :func:`~django_cfpurge.status.hourly_activity` into the
geometry the template draws and the texts people (and screen readers) read: a title
per bar, the axes' labels, a summary and a table of the busy hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.utils import formats
from django.utils.translation import gettext

#: The chart's size in SVG units (it is scaled to the page's width).
WIDTH = 960
HEIGHT = 190
#: Room for the axes' labels: left (counts) and bottom (hours).
LEFT = 36
BOTTOM = 34
TOP = 8
RIGHT = 6
#: An hour tick every this many hours (and a date at midnight).
TICK_HOURS = 6
#: The three series, bottom up: (key, CSS class).
SERIES = (("done", "done"), ("failed", "failed"), ("waiting", "waiting"))


@dataclass(frozen=True)
class Segment:
    """One coloured part of a bar."""

    css: str
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    """One hour: its counts, where it is drawn, and where it leads."""

    hour: datetime
    end: datetime
    done: int
    failed: int
    waiting: int
    x: float
    width: float
    segments: tuple[Segment, ...]
    url: str
    title: str

    @property
    def label(self) -> str:
        """The hour's start as people read it (:func:`hour_label`)."""
        return hour_label(self.hour)

    @property
    def total(self) -> int:
        """Rows of the hour, whatever their status."""
        return self.done + self.failed + self.waiting


@dataclass(frozen=True)
class Tick:
    """An axis label at ``at`` (x for hours, y for counts)."""

    at: float
    label: str
    major: bool = False


@dataclass
class Chart:
    """What the template draws, and the texts that say the same."""

    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    peak: int
    totals: dict[str, int] = field(default_factory=dict)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: float = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT

    @property
    def plot_height(self) -> float:
        """Height of the bars' area (a bar's link covers all of it)."""
        return self.bottom - self.top

    @property
    def y_label_x(self) -> int:
        """Where the counts' labels end."""
        return self.left - 6

    @property
    def tick_end(self) -> float:
        """Where the hours' tick marks end."""
        return self.bottom + 5

    @property
    def x_label_y(self) -> float:
        """The hours' labels' baseline."""
        return self.bottom + 18

    @property
    def busy_bars(self) -> list[Bar]:
        """The hours with any row (the text alternative lists these)."""
        return [bar for bar in self.bars if bar.total]

    @property
    def summary(self) -> str:
        """One sentence for the whole chart."""
        if not self.busy_bars:
            return gettext("No purges in the last %(hours)d hours.") % {"hours": len(self.bars)}
        busiest = max(self.bars, key=lambda bar: bar.total)
        return gettext(
            "Last %(hours)d hours: %(done)d purged, %(failed)d failed, %(waiting)d waiting. "
            "Busiest hour: %(when)s, with %(count)d."
        ) % {
            "hours": len(self.bars),
            "done": self.totals["done"],
            "failed": self.totals["failed"],
            "waiting": self.totals["waiting"],
            "when": hour_label(busiest.hour),
            "count": busiest.total,
        }


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that is at least ``value`` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _repeated(moment: datetime) -> bool:
    """Whether the site's clock shows ``moment``'s time twice (the night it goes back)."""
    return moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset()


def _with_offset(moment: datetime, label: str) -> str:
    # Django's "O" format leaves an ambiguous time's offset blank: written here.
    if not _repeated(moment):
        return label
    minutes = (moment.utcoffset() or timedelta(0)) // timedelta(minutes=1)
    hours, rest = divmod(abs(minutes), 60)
    return f"{label} {'-' if minutes < 0 else '+'}{hours:02d}{rest:02d}"


def hour_label(hour: datetime) -> str:
    """An hour as people read it: its date and time, e.g. "2025-11-28 14:00" (with its
    UTC offset, "2025-10-26 02:00 +0200", when the clock shows that time twice)."""
    return _with_offset(hour, formats.date_format(hour, "Y-m-d H:i"))


def _end_label(end: datetime) -> str:
    return _with_offset(end, formats.date_format(end, "H:i"))


def hour_url(log_url: str, start: datetime, end: datetime) -> str:
    """The purge log filtered to rows created in ``[start, end)``."""
    query = urlencode(
        {"created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()},
    )
    return f"{log_url}?{query}"


def bar_title(point: dict[str, Any]) -> str:
    """What a bar says on hover (and to a screen reader)."""
    return gettext(
        "%(start)s to %(end)s: %(done)d purged, %(failed)d failed, %(waiting)d waiting"
    ) % {
        "start": hour_label(point["hour"]),
        "end": _end_label(point["end"]),
        "done": point["done"],
        "failed": point["failed"],
        "waiting": point["waiting"],
    }


def _segments(point: dict[str, Any], scale: float, bottom: float) -> tuple[Segment, ...]:
    segments = []
    y = bottom
    for key, css in SERIES:
        height = point[key] * scale
        if height:
            y -= height
            segments.append(Segment(css, round(y, 2), round(height, 2)))
    return tuple(segments)


def _x_ticks(series: list[dict[str, Any]], slot: float) -> list[Tick]:
    ticks = []
    for i, point in enumerate(series):
        hour: datetime = point["hour"]
        if hour.hour % TICK_HOURS:
            continue
        midnight = hour.hour == 0
        label = formats.date_format(hour, "j M") if midnight else formats.date_format(hour, "H:i")
        ticks.append(Tick(round(LEFT + i * slot, 2), label, major=midnight))
    return ticks


def build_chart(series: list[dict[str, Any]], log_url: str) -> Chart:
    """The chart of ``series`` (from :func:`~django_cfpurge.status.hourly_activity`),
    each bar linking to ``log_url`` filtered to its hour."""
    bottom = HEIGHT - BOTTOM
    plot_height = bottom - TOP
    peak = nice_ceiling(max([p["done"] + p["failed"] + p["waiting"] for p in series] + [1]))
    scale = plot_height / peak
    slot = (WIDTH - RIGHT - LEFT) / max(1, len(series))
    gap = max(1.0, slot * 0.18)
    bars = [
        Bar(
            hour=point["hour"],
            end=point["end"],
            done=point["done"],
            failed=point["failed"],
            waiting=point["waiting"],
            x=round(LEFT + i * slot + gap / 2, 2),
            width=round(slot - gap, 2),
            segments=_segments(point, scale, bottom),
            url=hour_url(log_url, point["hour"], point["end"]),
            title=bar_title(point),
        )
        for i, point in enumerate(series)
    ]
    y_ticks = [Tick(round(bottom - value * scale, 2), str(value)) for value in (0, peak // 2, peak)]
    if peak // 2 * 2 != peak:  # 1: no half-way tick
        y_ticks = [y_ticks[0], y_ticks[2]]
    totals = {key: sum(p[key] for p in series) for key, _css in SERIES}
    return Chart(bars, y_ticks, _x_ticks(series, slot), peak, totals)
