"""Batching: dedupe across rows, chunking per kind, held partial calls, "everything",
progress carried over from interrupted attempts. No database: rows are small fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from django_cfpurge.batching import Batch, Call, item_key

KINDS = ("files", "prefixes", "hosts", "tags", "everything")


@dataclass(eq=False)
class Row:
    pk: int
    targets: dict[str, Any] = field(default_factory=dict)


def url(n: int) -> str:
    return f"https://www.example.com/{n}.jpg"


def batch(rows, *, limit=3, kinds=KINDS, purged_before=None):
    limits = limit if callable(limit) else (lambda kind: limit)
    if purged_before is None:
        return Batch(rows, kinds=kinds, limit=limits)
    return Batch(rows, kinds=kinds, limit=limits, purged_before=purged_before)


def pks(rows) -> list[int]:
    return [row.pk for row in rows]


# -- dedupe and order --------------------------------------------------------------
def test_an_item_wanted_by_three_rows_is_sent_once_and_finishes_all_three():
    rows = [Row(1, {"files": [url(1)]}), Row(2, {"files": [url(1)]}), Row(3, {"files": [url(1)]})]
    b = batch(rows)
    (call,) = b.calls()
    assert call.kind == "files"
    assert call.items == (url(1),)
    assert pks(b.wanting(call)) == [1, 2, 3]
    assert pks(b.record(call)) == [1, 2, 3]
    assert b.unfinished() == []
    assert [b.calls_for(row) for row in rows] == [1, 1, 1]


def test_items_keep_their_first_seen_order_across_rows():
    rows = [
        Row(1, {"files": [url(5), url(1)]}),
        Row(2, {"files": [url(1), url(9), url(5)]}),
        Row(3, {"files": [url(2)]}),
    ]
    (call,) = batch(rows, limit=10).calls()
    assert call.items == (url(5), url(1), url(9), url(2))


def test_a_row_repeating_an_item_sends_it_once():
    (call,) = batch([Row(1, {"files": [url(1), url(1), url(1)]})]).calls()
    assert call.items == (url(1),)


def test_the_same_text_in_two_kinds_is_two_items():
    b = batch([Row(1, {"tags": ["www.example.com"], "hosts": ["www.example.com"]})])
    assert [(c.kind, c.items) for c in b.calls()] == [
        ("hosts", ("www.example.com",)),
        ("tags", ("www.example.com",)),
    ]


# -- chunking ----------------------------------------------------------------------
def test_items_are_cut_by_the_limit_of_their_kind_kinds_in_the_given_order():
    rows = [
        Row(1, {"tags": [f"t{i}" for i in range(5)], "files": [url(i) for i in range(7)]}),
        Row(2, {"prefixes": ["www.example.com/a", "www.example.com/b"]}),
    ]
    limits = {"files": 3, "tags": 2, "prefixes": 30}
    b = batch(rows, limit=limits.__getitem__, kinds=("tags", "files", "prefixes"))
    calls = b.calls()
    assert [(c.kind, c.size) for c in calls] == [
        ("tags", 2),
        ("tags", 2),
        ("tags", 1),
        ("files", 3),
        ("files", 3),
        ("files", 1),
        ("prefixes", 2),
    ]
    assert [item for c in calls if c.kind == "files" for item in c.items] == [
        url(i) for i in range(7)
    ]
    assert b.held is False


def test_kinds_the_backend_does_not_take_make_no_call():
    b = batch([Row(1, {"files": [url(1)], "tags": ["a"]})], kinds=("files",))
    assert [c.kind for c in b.calls()] == ["files"]


def test_a_limit_below_one_still_sends_one_item_per_call():
    calls = batch([Row(1, {"files": [url(1), url(2)]})], limit=0).calls()
    assert [c.items for c in calls] == [(url(1),), (url(2),)]


def test_exactly_full_calls_hold_nothing_back():
    b = batch([Row(1, {"files": [url(i) for i in range(6)]})], limit=3)
    assert [c.size for c in b.calls(hold_partial=True)] == [3, 3]
    assert b.held is False


# -- hold_partial ------------------------------------------------------------------
def test_hold_partial_keeps_back_the_last_partial_call_of_each_kind():
    rows = [
        Row(1, {"files": [url(i) for i in range(4)]}),  # 3 + 1 held
        Row(2, {"tags": ["a", "b", "c"]}),  # one full call
        Row(3, {"prefixes": ["www.example.com/x"]}),  # held
        Row(4, {"files": [url(10)]}),  # joins the held files
    ]
    b = batch(rows, limit=3)
    calls = b.calls(hold_partial=True)
    assert [(c.kind, c.items) for c in calls] == [
        ("files", (url(0), url(1), url(2))),
        ("tags", ("a", "b", "c")),
    ]
    assert b.held is True
    finished = [row.pk for call in calls for row in b.record(call)]
    assert finished == [2]
    assert pks(b.unfinished()) == [1, 3, 4]
    # Row 1 made progress; rows 3 and 4 (only held items) made none.
    assert [b.made_progress(row) for row in rows] == [True, True, False, False]


def test_without_hold_partial_the_partial_calls_are_sent():
    b = batch([Row(1, {"files": [url(i) for i in range(4)]})], limit=3)
    assert [c.size for c in b.calls()] == [3, 1]
    assert b.held is False


# -- everything --------------------------------------------------------------------
def test_everything_in_one_row_collapses_the_batch_into_one_call():
    rows = [
        Row(1, {"files": [url(i) for i in range(10)]}),
        Row(2, {"everything": [True]}),
        Row(3, {"tags": ["a"], "prefixes": ["www.example.com/p"]}),
    ]
    b = batch(rows, limit=2)
    calls = b.calls(hold_partial=True)
    assert len(calls) == 1
    (call,) = calls
    assert call.kind == "everything"
    assert call.size == 1
    assert b.held is False
    assert pks(b.wanting(call)) == [1, 2, 3]
    assert pks(b.record(call)) == [1, 2, 3]
    assert b.unfinished() == []


def test_everything_ignores_what_earlier_attempts_purged():
    rows = [Row(1, {"files": [url(1)]}), Row(2, {"everything": [True]})]
    b = batch(rows, purged_before=lambda row: {("files", url(1))} if row.pk == 1 else set())
    # Row 1's URL was purged already, but "everything" still has to finish it.
    assert b.empty() == []
    (call,) = b.calls()
    assert pks(b.record(call)) == [1, 2]


# -- purged_before -----------------------------------------------------------------
def test_items_purged_before_are_not_sent_again():
    done = {("files", url(1)), ("tags", "a")}
    rows = [
        Row(1, {"files": [url(1), url(2)], "tags": ["a"]}),
        Row(2, {"files": [url(1)]}),  # a row of its own: still wants url(1)
    ]
    b = batch(rows, purged_before=lambda row: done if row.pk == 1 else set())
    calls = b.calls()
    # Row 1 wants only url(2) now; url(1) is sent for row 2, which never had it purged.
    assert [(c.kind, c.items) for c in calls] == [("files", (url(2), url(1)))]
    (call,) = calls
    assert pks(b.record(call)) == [1, 2]


def test_a_row_with_everything_purged_before_is_empty_from_the_start():
    rows = [Row(1, {"files": [url(1)]}), Row(2, {"files": [url(2)]})]
    b = batch(rows, purged_before=lambda row: {("files", url(1))} if row.pk == 1 else set())
    assert pks(b.empty()) == [1]
    assert pks(b.unfinished()) == [2]
    (call,) = b.calls()
    assert call.items == (url(2),)
    assert pks(b.record(call)) == [2]
    assert b.calls_for(rows[0]) == 0


def test_a_row_without_targets_is_empty():
    b = batch([Row(1, {}), Row(2, None), Row(3, {"files": []})])
    assert pks(b.empty()) == [1, 2, 3]
    assert b.calls() == []


# -- wanting, record, calls_for, progress ------------------------------------------
def test_record_returns_exactly_the_rows_a_call_finished():
    rows = [
        Row(1, {"files": [url(1)]}),
        Row(2, {"files": [url(1), url(2)]}),
        Row(3, {"files": [url(2), url(3)]}),
        Row(4, {"files": [url(3)]}),
    ]
    b = batch(rows, limit=1)
    first, second, third = b.calls()
    assert pks(b.wanting(first)) == [1, 2]
    assert pks(b.record(first)) == [1]
    assert pks(b.wanting(second)) == [2, 3]
    assert pks(b.record(second)) == [2]
    # Recording the same call twice finishes nothing more.
    assert b.record(second) == []
    assert pks(b.wanting(third)) == [3, 4]
    assert pks(b.record(third)) == [3, 4]
    assert [b.calls_for(row) for row in rows] == [1, 2, 2, 1]


def test_wanting_is_empty_for_a_call_already_recorded():
    rows = [Row(1, {"files": [url(1)]})]
    b = batch(rows)
    (call,) = b.calls()
    b.record(call)
    assert b.wanting(call) == []


def test_progress_after_a_partial_run():
    rows = [
        Row(1, {"files": [url(1), url(2), url(3)]}),
        Row(2, {"files": [url(3)], "tags": ["t"]}),
    ]
    b = batch(rows, limit=2, purged_before=lambda row: {("tags", "t")} if row.pk == 2 else set())
    first, _second = b.calls()
    assert first.items == (url(1), url(2))
    assert b.record(first) == []
    # The interrupted run purged url(1) and url(2) for row 1; row 2 only had its tag
    # from before.
    assert b.progress(rows[0]) == {("files", url(1)), ("files", url(2))}
    assert b.progress(rows[1]) == {("tags", "t")}
    assert b.made_progress(rows[0]) is True
    assert b.made_progress(rows[1]) is False


def test_progress_of_a_finished_row_is_everything_it_wanted():
    rows = [Row(1, {"files": [url(1)], "tags": ["t"]})]
    b = batch(rows)
    for call in b.calls():
        b.record(call)
    assert b.progress(rows[0]) == {("files", url(1)), ("tags", "t")}


# -- split ---------------------------------------------------------------------------
def test_split_cuts_a_call_and_keeps_the_order_and_the_keys():
    b = batch([Row(1, {"files": [url(i) for i in range(5)]})], limit=5)
    (call,) = b.calls()
    parts = Batch.split(call, 2)
    assert [p.items for p in parts] == [(url(0), url(1)), (url(2), url(3)), (url(4),)]
    assert all(p.kind == "files" for p in parts)
    assert frozenset().union(*(p.keys for p in parts)) == call.keys
    # The parts finish the row only when the last one is recorded.
    assert b.record(parts[0]) == []
    assert b.record(parts[1]) == []
    assert pks(b.record(parts[2])) == [1]
    assert b.calls_for(b.rows[0]) == 3


# -- {url, headers} items ----------------------------------------------------------
def test_url_with_headers_items_are_keyed_whatever_the_dict_order():
    a = {"url": url(1), "headers": {"Origin": "https://a.example", "CF-Device-Type": "mobile"}}
    b_ = {"headers": {"CF-Device-Type": "mobile", "Origin": "https://a.example"}, "url": url(1)}
    other = {"url": url(1), "headers": {"CF-Device-Type": "desktop"}}
    assert item_key(a) == item_key(b_)
    assert item_key(a) != item_key(other)
    rows = [Row(1, {"files": [a]}), Row(2, {"files": [b_, other]})]
    b = batch(rows, limit=10)
    (call,) = b.calls()
    assert call.items == (a, other)
    assert pks(b.record(call)) == [1, 2]


def test_url_with_headers_and_plain_url_are_different_items():
    plain = url(1)
    varied = {"url": url(1), "headers": {"CF-Device-Type": "mobile"}}
    (call,) = batch([Row(1, {"files": [plain, varied]})], limit=10).calls()
    assert call.items == (plain, varied)


def test_call_keys_name_kind_and_item():
    call = batch([Row(1, {"files": [url(1)]})]).calls()[0]
    assert isinstance(call, Call)
    assert call.keys == frozenset({("files", url(1))})


@pytest.mark.parametrize("size", [1, 2, 7])
def test_every_item_is_sent_exactly_once_whatever_the_limit(size):
    rows = [Row(i, {"files": [url(i), url(i + 1), url(0)]}) for i in range(1, 8)]
    b = batch(rows, limit=size)
    calls = b.calls()
    sent = [item for c in calls for item in c.items]
    assert sorted(sent) == sorted({url(i) for i in range(9)})
    assert all(c.size <= size for c in calls)
    finished = [row.pk for c in calls for row in b.record(c)]
    assert sorted(finished) == list(range(1, 8))
