"""The purge log's chart, read by a view-only staff user: SVG drawn on the server with
axes, a title per bar and a text alternative, each bar a link that filters the log to
exactly its hour."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from html import unescape
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from django_cfpurge.admin.chart import build_chart, nice_ceiling
from django_cfpurge.models import PurgeRequest
from django_cfpurge.status import hourly_activity
from tests.staff import staff_client

pytestmark = pytest.mark.django_db

LOG = "/admin/django_cfpurge/purgerequest/"


@pytest.fixture
def viewer() -> Client:
    """A staff user who may only read the log."""
    return staff_client("view_purgerequest")


def row_at(when: datetime, status: str = "done") -> PurgeRequest:
    return PurgeRequest.objects.create(
        source="api",
        event="manual",
        status=status,
        created_at=when,
        next_attempt_at=when + timedelta(days=30),
    )


def this_hour() -> datetime:
    return timezone.localtime().replace(minute=0, second=0, microsecond=0)


def svg(html: str) -> str:
    match = re.search(r'<svg[^>]* id="cfpurge-chart-svg".*?</svg>', html, re.S)
    assert match, "no chart"
    return match.group(0)


def bars(html: str) -> list[dict[str, str]]:
    """Each bar: its link, data and title."""
    found = []
    for attrs, inner in re.findall(r'<a class="bar" ([^>]*)>(.*?)</a>', svg(html), re.S):
        bar = {k: unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}
        bar["title"] = unescape(re.search(r"<title>(.*?)</title>", inner, re.S).group(1))
        bar["segments"] = " ".join(re.findall(r'<rect class="(done|failed|waiting)"', inner))
        found.append(bar)
    return found


def listed_ids(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'href="/admin/django_cfpurge/purgerequest/(\d+)/', html)}


def test_the_chart_has_axes_a_title_per_bar_and_a_text_alternative(viewer):
    hour = this_hour() - timedelta(hours=3)
    for minutes, status in [(1, "done"), (2, "done"), (3, "failed"), (4, "pending"), (5, "held")]:
        row_at(hour + timedelta(minutes=minutes), status)
    row_at(hour - timedelta(hours=30), "done")
    html = viewer.get(LOG).content.decode()
    chart = svg(html)
    assert 'aria-labelledby="cfpurge-chart-title cfpurge-chart-desc"' in chart
    assert re.search(r"<title id=\"cfpurge-chart-title\">[^<]+per hour</title>", chart)
    desc = unescape(re.search(r'<desc id="cfpurge-chart-desc">(.*?)</desc>', chart).group(1))
    assert desc == (
        f"Last 48 hours: 3 purged, 1 failed, 2 waiting. Busiest hour: {hour:%Y-%m-%d %H:%M}, "
        "with 5."
    )
    drawn = bars(html)
    assert len(drawn) == 48
    assert all(b["title"] and b["aria-label"] == b["title"] for b in drawn)
    (busy,) = [b for b in drawn if b["data-hour"] == hour.isoformat()]
    assert busy["title"] == (
        f"{hour:%Y-%m-%d %H:%M} to {hour + timedelta(hours=1):%H:%M}: 2 purged, 1 failed, 2 waiting"
    )
    assert busy["segments"] == "done failed waiting"
    # Axes: counts 0, half, top (5 rows: a scale to 5); hours every six hours.
    y_labels = re.findall(r'<g class="axis y"[^>]*>(.*?)</g>', chart, re.S)[0]
    assert re.findall(r">(\d+)</text>", y_labels) == ["0", "5"]
    x_labels = re.findall(
        r">([^<>]+)</text>", re.findall(r'<g class="axis x".*?</g>\s*</g>', chart, re.S)[0]
    )
    assert len(x_labels) == 8
    assert all(re.fullmatch(r"\d\d:00|\d{1,2} \w{3}", label) for label in x_labels)
    # The same as a table, busy hours only, each linked to its hour.
    table = re.search(r'<details id="cfpurge-chart-table">(.*?)</details>', html, re.S).group(1)
    rows = re.findall(
        r"<tr><th scope=\"row\"><a href=\"([^\"]+)\">([^<]+)</a></th>(.*?)</tr>", table
    )
    assert [(when, re.findall(r">(\d+)<", cells)) for _href, when, cells in rows] == [
        (f"{hour - timedelta(hours=30):%Y-%m-%d %H:%M}", ["1", "0", "0"]),
        (f"{hour:%Y-%m-%d %H:%M}", ["2", "1", "2"]),
    ]
    assert unescape(rows[1][0]) == busy["href"]


def test_a_bar_links_to_exactly_its_hour(viewer):
    hour = this_hour() - timedelta(hours=7)
    inside = [
        row_at(hour),
        row_at(hour + timedelta(minutes=30), "failed"),
        row_at(hour + timedelta(minutes=59, seconds=59, microseconds=999999), "pending"),
    ]
    row_at(hour - timedelta(microseconds=1))
    row_at(hour + timedelta(hours=1))
    (bar,) = [
        b for b in bars(viewer.get(LOG).content.decode()) if b["data-hour"] == hour.isoformat()
    ]
    url = urlsplit(bar["href"])
    assert url.path == LOG
    query = parse_qs(url.query)
    assert set(query) == {"created_at__gte", "created_at__lt"}
    assert datetime.fromisoformat(query["created_at__gte"][0]) == hour
    assert datetime.fromisoformat(query["created_at__lt"][0]) == hour + timedelta(hours=1)
    response = viewer.get(bar["href"])
    assert response.status_code == 200
    assert listed_ids(response.content.decode()) == {row.pk for row in inside}


def test_with_nothing_to_show_the_chart_says_so(viewer):
    html = viewer.get(LOG).content.decode()
    assert "No purges in the last 48 hours." in html
    assert all(b["segments"] == "" for b in bars(html))


@pytest.mark.parametrize(
    ("zone", "now"),
    [
        # The day clocks go back in Paris (02:00-03:00 twice) and forward (no 02:00).
        ("Europe/Paris", datetime(2025, 10, 27, 12, 30, tzinfo=dt_timezone.utc)),
        ("Europe/Paris", datetime(2025, 3, 31, 12, 30, tzinfo=dt_timezone.utc)),
        # Half-hour offsets: hours start at :00 local, :30 UTC.
        ("Asia/Kolkata", datetime(2025, 6, 1, 12, 10, tzinfo=dt_timezone.utc)),
    ],
)
def test_hours_are_whole_and_contiguous_across_clock_changes(monkeypatch, zone, now):
    with override_settings(TIME_ZONE=zone):
        monkeypatch.setattr(timezone, "now", lambda: now)
        row_at(now - timedelta(hours=40))
        series = hourly_activity(48)
    local = ZoneInfo(zone)
    assert len(series) == 48
    # Compared in UTC: Python compares datetimes of one zone by their wall clock.
    starts = [p["hour"].astimezone(dt_timezone.utc) for p in series]
    ends = [p["end"].astimezone(dt_timezone.utc) for p in series]
    assert starts[1:] == ends[:-1]
    assert all(end - start == timedelta(hours=1) for start, end in zip(starts, ends, strict=True))
    for point in series:
        assert point["hour"].astimezone(local).minute == 0
    assert sum(p["done"] for p in series) == 1
    assert series[-1]["hour"] <= now < series[-1]["end"]


def test_the_repeated_hour_of_a_clock_change_is_two_bars(monkeypatch):
    # Paris, 26 October 2025: 02:00-03:00 local happens twice (00:00 and 01:00 UTC).
    now = datetime(2025, 10, 26, 12, 30, tzinfo=dt_timezone.utc)
    first, second = datetime(2025, 10, 26, 0, 30, tzinfo=dt_timezone.utc), now.replace(hour=1)
    for when, count in ((first, 2), (second, 3)):
        for _ in range(count):
            row_at(when)
    with override_settings(TIME_ZONE="Europe/Paris"):
        monkeypatch.setattr(timezone, "now", lambda: now)
        series = hourly_activity(48)
    twice = [p for p in series if p["hour"].hour == 2 and p["hour"].day == 26]
    assert [p["hour"].utcoffset() for p in twice] == [timedelta(hours=2), timedelta(hours=1)]
    assert [p["done"] for p in twice] == [2, 3]
    assert sum(p["done"] for p in series) == 5
    # Each says which 02:00 it is; the hours around them need no offset.
    chart = build_chart(series, LOG)
    titles = [bar.title for bar in chart.bars if bar.done]
    assert titles == [
        "2025-10-26 02:00 +0200 to 02:00 +0100: 2 purged, 0 failed, 0 waiting",
        "2025-10-26 02:00 +0100 to 03:00: 3 purged, 0 failed, 0 waiting",
    ]
    labels = [bar.label for bar in chart.busy_bars]
    assert labels == ["2025-10-26 02:00 +0200", "2025-10-26 02:00 +0100"]


@pytest.mark.parametrize(
    ("zone", "when"),
    [
        ("Asia/Kathmandu", datetime(2025, 6, 1, 6, 14, tzinfo=dt_timezone.utc)),  # 11:59 local
        ("America/St_Johns", datetime(2025, 6, 1, 6, 29, tzinfo=dt_timezone.utc)),  # 03:59 local
    ],
)
def test_rows_fall_in_their_local_hour_whatever_the_offset(monkeypatch, zone, when):
    now = when + timedelta(hours=3)
    row_at(when)
    row_at(when + timedelta(minutes=1))  # the next local hour's first minute
    with override_settings(TIME_ZONE=zone):
        monkeypatch.setattr(timezone, "now", lambda: now)
        series = hourly_activity(48)
    local = timezone.localtime(when, ZoneInfo(zone))
    (point,) = [p for p in series if p["done"] and p["hour"] <= when < p["end"]]
    assert point["done"] == 1
    assert point["hour"].astimezone(ZoneInfo(zone)).hour == local.hour
    assert sum(p["done"] for p in series) == 2


def test_nice_ceiling_and_the_empty_chart_geometry():
    assert [nice_ceiling(n) for n in (0, 1, 2, 3, 6, 11, 99, 101)] == [1, 1, 2, 5, 10, 20, 100, 200]
    start = datetime(2025, 1, 1, tzinfo=dt_timezone.utc)
    series = [
        {
            "hour": start + timedelta(hours=i),
            "end": start + timedelta(hours=i + 1),
            "done": 0,
            "failed": 0,
            "waiting": 0,
        }
        for i in range(48)
    ]
    series[5]["done"] = 10
    chart = build_chart(series, LOG)
    tallest = max(chart.bars, key=lambda b: b.total)
    (segment,) = tallest.segments
    assert segment.y == chart.top and segment.y + segment.height == chart.bottom
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]
    assert all(b.x + b.width <= chart.right for b in chart.bars)
