"""Turn the benchmark results into the Markdown of ``docs/benchmarks.md``."""

from __future__ import annotations

import math
from typing import Any

OP_LABELS = {
    "create": "save (create)",
    "save_file": "save (file replaced)",
    "save_other": "save (untracked field)",
    "delete": "delete",
}
SAVE_OPS = ("create", "save_file", "save_other")
DATABASES = (("sqlite", "SQLite"), ("postgresql", "PostgreSQL"))

#: A registered save against the same model unregistered (PostgreSQL).
SAVE_RATIO_TARGET = 1.4
#: A registered save against the same save that writes the same outbox row by hand: what
#: the receivers, the snapshot and the dispatch add beyond the one INSERT the design
#: requires in the change's transaction.
OWN_COST_TARGET = 1.15
DRAIN_FRACTION_TARGET = 0.9
#: Section g: the share of the fake's real limit to reach, and the most 429s per call.
SHARED_FRACTION_TARGET = 0.8
SHARED_429_TARGET = 0.05
LATENCY_MARGIN = 0.25
MEMORY_TARGET_MB = 200
#: The multiplication sign, for ratios.
X = "\u00d7"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def num(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def targets(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    # 1. request path
    http = sum(results[db]["a"]["http_requests"] for db, _ in DATABASES)
    sockets = sum(results[db]["a"]["socket_connects"] for db, _ in DATABASES)
    rows.append(
        [
            "zero network calls on the request path",
            f"Cloudflare calls on the request path: {http}; socket connects: {sockets}",
            verdict(http == 0 and sockets == 0),
        ]
    )
    # 2. save cost on PostgreSQL
    ops = results["postgresql"]["a"]["ops"]
    worst = max(ops[op]["ratio"] for op in SAVE_OPS)
    measured = ", ".join(f"{OP_LABELS[op]} {ops[op]['ratio']:.2f}{X}" for op in SAVE_OPS)
    marker = ops["create"]["marker_ratio"]
    measured += f" (one row of one column in any second table: {marker:.2f}{X})"
    rows.append(
        [
            f"registered save ≤ {SAVE_RATIO_TARGET}{X} unregistered (PostgreSQL)",
            measured,
            verdict(worst <= SAVE_RATIO_TARGET),
        ]
    )
    own = max(ops[op]["ratio_to_floor"] for op in ("create", "save_file"))
    rows.append(
        [
            f"registered save ≤ {OWN_COST_TARGET}{X} the same save writing its outbox row by "
            "hand (PostgreSQL)",
            ", ".join(
                f"{OP_LABELS[op]} {ops[op]['ratio_to_floor']:.2f}{X}"
                for op in ("create", "save_file")
            ),
            verdict(own <= OWN_COST_TARGET),
        ]
    )
    # 3. API calls
    c = results["postgresql"]["c"]
    cases = c["scenarios"] + c["bursts"]
    off = [case for case in cases if case["calls"] != case["ideal"]]
    measured = f"{len(cases) - len(off)} of {len(cases)} cases at the ideal"
    if off:
        measured += "; off: " + "; ".join(describe_case(case) for case in off)
    rows.append(["API calls equal to the ideal ceil(N / batch)", measured, verdict(not off)])
    # 4. throughput
    d = results["stack"]["d"]
    ok = all(
        run["steady_fraction"] >= DRAIN_FRACTION_TARGET and run["http_429_steady"] == 0 for run in d
    )
    rows.append(
        [
            f"drain ≥ {DRAIN_FRACTION_TARGET:.0%} of the rate limit, no 429 in steady state",
            "; ".join(
                f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}: "
                f"{pct(run['steady_fraction'])}, {run['http_429_steady']} {X} 429"
                for run in d
            ),
            verdict(ok),
        ]
    )
    # 4b. a shared account
    g = results["stack"]["g"]
    ok = all(
        run["steady_fraction"] >= SHARED_FRACTION_TARGET
        and run["calls_429_share"] <= SHARED_429_TARGET
        for run in g["runs"]
    )
    rows.append(
        [
            f"shared account (¼ of the plan): ≥ {SHARED_FRACTION_TARGET:.0%} of the real limit, "
            f"429s ≤ {SHARED_429_TARGET:.0%} of calls",
            "; ".join(
                f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}: "
                f"{pct(run['steady_fraction'])}, {run['http_429']} {X} 429 in {run['calls']} "
                f"calls ({pct(run['calls_429_share'])})"
                for run in g["runs"]
            ),
            verdict(ok),
        ]
    )
    # 4c. batch size
    h = results["postgresql"]["h"]["runs"]
    ok = all(run["status"] == "done" and run["distinct_urls"] == run["urls"] for run in h)
    ok = ok and h[0]["calls"] == h[0]["ideal"]
    rows.append(
        [
            "default batch size: ceil(N / 100) calls where allowed, nothing lost where not",
            "; ".join(
                f"{run['zone_items']}-item zone: {run['calls']} calls for {run['urls']:,} URLs "
                f"({run['refused']} refused as too large, ideal {run['ideal']}), row "
                f"{run['status']}"
                for run in h
            ),
            verdict(ok),
        ]
    )
    # 4d. tag purges
    i = results["stack"]["i"]
    ok = i["after_first_minute_per_minute"] <= i["limit_per_minute"] and i["http_429"] == 0
    rows.append(
        [
            f"tag purges within the plan's limit ({i['limit_per_minute']:.0f} a minute after a "
            f"burst of {i['burst']:.0f}, Free plan), no 429",
            f"{i['after_first_minute_per_minute']:.1f} a minute after the first minute "
            f"(busiest minute {i['busiest_minute']}), {i['http_429']} {X} 429; "
            f"{i['tags'] / max(1, i['calls']):.0f} tags per purge",
            verdict(ok),
        ]
    )
    # 5. latency
    e = results["stack"]["e"]
    rows.append(
        [
            f"p50 commit-to-purge ≤ COALESCE_SECONDS + {LATENCY_MARGIN} s = {e['target']:.2f} s",
            f"p50 {e['p50']:.3f} s (p99 {e['p99']:.3f} s)",
            verdict(e["p50"] <= e["target"]),
        ]
    )
    # 6. memory
    f = results["stack"]["f"]
    rows.append(
        [
            f"worker peak memory < {MEMORY_TARGET_MB} MB",
            f"{f['peak_mb']:.0f} MB peak RSS draining {f['rows']:,} rows",
            verdict(f["peak_mb"] < MEMORY_TARGET_MB),
        ]
    )
    return rows


def describe_case(case: dict[str, Any]) -> str:
    if "saves" in case:
        what = f"burst of {case['saves']:,} saves of {case['objects']} objects"
    else:
        what = f"{case['n']:,} URLs, {case['shape']}"
    return f"{what}, batch {case['batch']}: {case['calls']} calls vs {case['ideal']}"


def section_a(results: dict[str, Any]) -> list[str]:
    rows = []
    for db, label in DATABASES:
        for op, op_label in OP_LABELS.items():
            figures = results[db]["a"]["ops"][op]
            rows.append(
                [
                    label,
                    op_label,
                    num(figures["unregistered_us"]),
                    num(figures["marker_us"]) if op != "save_other" else "—",
                    num(figures["floor_us"]) if op != "save_other" else "—",
                    num(figures["registered_us"]),
                    f"{figures['ratio']:.2f}{X}",
                    f"{figures['ratio_to_floor']:.2f}{X}" if op != "save_other" else "—",
                ]
            )
    lines = [
        "## a. Request-path cost",
        "",
        "Median time of one operation in its own transaction (`transaction.atomic()`, commit "
        "and on-commit dispatch included), the instance loaded beforehand: `testapp.Photo` "
        "registered (one file field, two watched fields) against the same model "
        "unregistered. Two controls, also unregistered: “+ one-column row” INSERTs one row "
        "of one text column into a table without indexes in the same transaction, the least "
        "that writing anything with a change costs; “+ bare INSERT” INSERTs the package's "
        "own outbox row by hand (the same plain INSERT the receivers use), without "
        "receivers, snapshot or dispatch. The four modes are interleaved in blocks "
        "(ABCD DCBA). “untracked field” changes `views`, which no registration watches: "
        "no row.",
        "",
        *table(
            [
                "database",
                "operation",
                "unregistered (µs)",
                "+ one-column row (µs)",
                "+ bare INSERT (µs)",
                "registered (µs)",
                "registered / unregistered",
                "registered / bare INSERT",
            ],
            rows,
        ),
        "",
    ]
    for db, label in DATABASES:
        a = results[db]["a"]
        lines.append(
            f"- {label}: {a['iterations']:,} objects per mode. "
            f"**Cloudflare calls on the request path: {a['http_requests']}**; "
            f"Python socket connects: {a['socket_connects']}. "
            f"Outbox rows written by the registered mode: {a['outbox_rows']:,}; on-commit "
            f"dispatches: {a['on_commit_dispatches']:,}; drain tasks published to the "
            f"in-memory broker (one per coalescing window): {a['tasks_published']:,}."
        )
    return [*lines, ""]


def section_b(results: dict[str, Any]) -> list[str]:
    rows = []
    for db, label in DATABASES:
        b = results[db]["b"]
        rows.append(
            [
                label,
                f"{b['count']:,}",
                num(b["unregistered_ms"], 1),
                num(b["registered_ms"], 1),
                f"{b['ratio']:.2f}{X}",
                num(b["extra_us_per_instance"], 2),
            ]
        )
    return [
        "## b. The snapshot's cost on reads",
        "",
        "Median time of `list(Photo.objects.all())`: registered (each instance keeps a "
        "snapshot of its file names and watched values when it is loaded) against "
        "unregistered.",
        "",
        *table(
            [
                "database",
                "instances",
                "unregistered (ms)",
                "registered (ms)",
                "ratio",
                "extra per instance (µs)",
            ],
            rows,
        ),
        "",
    ]


def section_c(results: dict[str, Any]) -> list[str]:
    c = results["postgresql"]["c"]
    rows = [
        [
            case["batch"],
            f"{case['n']:,}",
            case["shape"],
            f"{case['rows']:,}",
            case["passes"],
            case["calls"],
            case["ideal"],
            "=" if case["calls"] == case["ideal"] else f"+{case['calls'] - case['ideal']}",
        ]
        for case in c["scenarios"]
    ]
    bursts = [
        [
            case["batch"],
            f"{case['saves']:,} saves of {case['objects']} objects",
            f"{case['rows']:,}",
            case["passes"],
            f"{case['distinct_urls']:,}",
            f"{case['urls_sent']:,}",
            case["calls"],
            case["ideal"],
            "=" if case["calls"] == case["ideal"] else f"+{case['calls'] - case['ideal']}",
        ]
        for case in c["bursts"]
    ]
    return [
        "## c. API calls against the ideal",
        "",
        "Distinct URLs purged by one in-process drain (PostgreSQL) through the real client and "
        "the fake Cloudflare HTTP server; calls counted by the fake. The ideal is "
        "`ceil(N / batch)` (`MAX_ITEMS_PER_REQUEST`). “one row”: one `purge_urls()` call "
        "with N URLs; “one row per URL”: N outbox rows of one URL each (N changes), claimed "
        "`CLAIM_BATCH_SIZE` (500) rows per pass.",
        "",
        *table(
            ["batch", "N URLs", "shape", "rows", "passes", "API calls", "ideal", "vs ideal"],
            rows,
        ),
        "",
        "A burst: every save toggles a watched field of one of the objects, in its own "
        "transaction; one drain afterwards. The ideal counts each object's URL once.",
        "",
        *table(
            [
                "batch",
                "burst",
                "rows",
                "passes",
                "distinct URLs",
                "URLs sent",
                "API calls",
                "ideal",
                "vs ideal",
            ],
            bursts,
        ),
        "",
    ]


def section_d(results: dict[str, Any]) -> list[str]:
    stack = results["stack"]
    limit = stack["limit_urls_per_second"]
    rows = [
        [
            run["workers"],
            f"{run['rows']:,}",
            num(run["seconds"], 1),
            num(run["steady_rate"]),
            pct(run["steady_fraction"]),
            pct(run["steady_rate"] / (limit * stack["limiter_safety"])),
            num(run["overall_rate"]),
            run["calls"],
            f"{run['http_429_steady']} / {run['http_429']}",
            " + ".join(f"{n:,}" for n in run["rows_per_worker"]),
        ]
        for run in stack["d"]
    ]
    return [
        "## d. Drain throughput against the rate limit",
        "",
        f"Real Celery workers (solo pool, one process each), Redis broker, Redis cache for "
        f"the shared limiter, PostgreSQL. The fake enforces Cloudflare's {stack['plan']} "
        f"plan limit of {limit:,.0f} URLs/s (token bucket of one second's worth, speed 1) — "
        f"the limit the package's limiter assumes for that plan. Pending rows of one distinct "
        f"URL each, batch 30, one drain task sent per worker. Steady state excludes the "
        f"first second after the first call (the limiter lets one window's worth go at "
        f"once). The package's limiter aims at `safety` {X} the limit in the long run "
        f"(safety = {stack['limiter_safety']:g}, i.e. "
        f"{limit * stack['limiter_safety']:,.0f} URLs/s): its budget.",
        "",
        *table(
            [
                "workers",
                "rows",
                "seconds",
                "URLs/s (steady)",
                "of the limit",
                "of the limiter's budget",
                "URLs/s (overall)",
                "API calls",
                "429s (steady / all)",
                "rows per worker",
            ],
            rows,
        ),
        "",
    ]


def section_g(results: dict[str, Any]) -> list[str]:
    g = results["stack"]["g"]
    rows = [
        [
            run["workers"],
            f"{run['rows']:,}",
            num(run["seconds"], 1),
            num(run["steady_rate"]),
            pct(run["steady_fraction"]),
            run["calls"],
            f"{run['http_429']} ({pct(run['calls_429_share'])})",
            " + ".join(f"{n:,}" for n in run["rows_per_worker"]),
        ]
        for run in g["runs"]
    ]
    return [
        "## g. A shared account: a quarter of the plan's rate",
        "",
        f"As section d, but the fake grants only {g['real_limit']:,.0f} URLs/s, a quarter of "
        f"the plan's {g['plan_limit']:,.0f} (another site or tool spends the rest), while the "
        f"package still assumes the plan's limit. Each run starts from a fresh limiter: it "
        f"finds the real rate from the 429s (Retry-After honoured, the shared rate lowered to "
        f"what the fake accepted, then probed upward), and a 429 is never a failed attempt. "
        f"Fractions are of the fake's real limit.",
        "",
        *table(
            [
                "workers",
                "rows",
                "seconds",
                "URLs/s (steady)",
                "of the real limit",
                "API calls",
                "429s (share of calls)",
                "rows per worker",
            ],
            rows,
        ),
        "",
    ]


def section_i(results: dict[str, Any]) -> list[str]:
    i = results["stack"]["i"]
    rows = [
        [
            f"{i['objects']:,}",
            num(i["seconds"]),
            i["calls"],
            f"{i['tags']:,}",
            num(i["tags"] / max(1, i["calls"]), 1),
            i["busiest_minute"],
            num(i["after_first_minute_per_minute"], 1),
            i["http_429"],
            f"{num(i['wait_p50'], 1)} / {num(i['wait_max'], 1)}",
        ]
    ]
    return [
        "## i. Cache tags against the tag rate limit",
        "",
        f"Page tags on (see the cache tags guide), Free plan: Cloudflare takes "
        f"{i['limit_per_minute']:.0f} tag purges a minute after a burst of {i['burst']:.0f}, "
        f"each of up to 100 tags, and the fake enforces exactly that. Two workers purge the "
        f"tags of a steady stream of new objects (each creation purges its object tag, its "
        f"model's tag and the listing tag). The limiter keeps the workers together under the "
        f"limit; what waits is sent with the next purge, so the tags per purge grow with the "
        f"stream instead of the purges.",
        "",
        *table(
            [
                "objects",
                "seconds",
                "tag purges",
                "tags sent",
                "tags per purge",
                "busiest minute",
                "per minute after the first",
                "429s",
                "wait p50 / max (s)",
            ],
            rows,
        ),
        "",
    ]


def section_h(results: dict[str, Any]) -> list[str]:
    h = results["postgresql"]["h"]["runs"]
    rows = [
        [
            run["zone_items"],
            f"{run['urls']:,}",
            run["calls"],
            run["refused"],
            run["ideal"],
            run["learnt"] or "—",
            run["status"],
        ]
        for run in h
    ]
    return [
        "## h. Batch size with default settings",
        "",
        "One purge of 1,000 distinct URLs, drained in process, default settings (no "
        "`MAX_ITEMS_PER_REQUEST`: 100 per call, Cloudflare's current limit on every plan). "
        "One zone takes 100 items per call; the other only 30 (Cloudflare's older limit, "
        "still met on some accounts): there the first call is refused as too large, split "
        "to 30 and sent again at once, and the zone remembers the size that worked.",
        "",
        *table(
            [
                "zone takes",
                "URLs",
                "API calls",
                "refused as too large",
                "ideal",
                "size learnt",
                "row",
            ],
            rows,
        ),
        "",
    ]


def section_e(results: dict[str, Any]) -> list[str]:
    e = results["stack"]["e"]
    return [
        "## e. Commit-to-purge latency",
        "",
        "One idle worker. A registered `Photo` is created in its own transaction, one at a "
        "time, spaced by more than the coalescing window; the latency runs from the commit "
        "(an on-commit callback registered before the package's) to the fake's receipt of "
        f"the purge call. `COALESCE_SECONDS` = {e['coalesce_seconds']:g} (the default).",
        "",
        *table(
            ["samples", "p50 (s)", "p99 (s)", "min (s)", "max (s)", "target p50 (s)"],
            [
                [
                    e["samples"],
                    num(e["p50"], 3),
                    num(e["p99"], 3),
                    num(e["min"], 3),
                    num(e["max"], 3),
                    num(e["target"], 2),
                ]
            ],
        ),
        "",
    ]


def section_f(results: dict[str, Any]) -> list[str]:
    f = results["stack"]["f"]
    return [
        "## f. Worker memory while draining",
        "",
        "A fresh worker (solo pool) drains pending rows of one URL each, bulk-created "
        "beforehand (enterprise plan, 500 URLs per call, so that the worker sets the pace). "
        "Peak RSS is the kernel's high-water mark (`VmHWM` in `/proc/<pid>/status`).",
        "",
        *table(
            [
                "rows",
                "RSS idle (MB)",
                "peak RSS (MB)",
                "highest RSS sampled (MB)",
                "drain (s)",
                "rows/s",
                "API calls",
            ],
            [
                [
                    f"{f['rows']:,}",
                    num(f["idle_rss_mb"]),
                    num(f["peak_mb"]),
                    num(f["max_rss_seen_mb"]),
                    num(f["drain_seconds"], 1),
                    num(f["rows_per_second"]),
                    f["calls"],
                ]
            ],
        ),
        "",
    ]


def reading(results: dict[str, Any]) -> list[str]:
    """What the run's own figures say about each missed target."""
    notes = []
    ops = results["postgresql"]["a"]["ops"]
    worst = max(ops[op]["ratio"] for op in SAVE_OPS)
    if worst > SAVE_RATIO_TARGET:
        own = max(ops[op]["ratio_to_floor"] for op in ("create", "save_file"))
        marker = ops["create"]["marker_ratio"]
        notes.append(
            f"- **Request path.** Against the same outbox row written by hand, a registered "
            f"save costs at most {own:.2f}{X}: the receivers, the snapshot and the on-commit "
            f"dispatch are a small part; nearly all of the difference is the INSERT of the "
            f"outbox row, which the design requires in the change's transaction. One row of "
            f"one column in a second table already makes a create cost {marker:.2f}{X}; the "
            f"rest is the change row's payload (which file, which object, what changed) and "
            f"the receivers. A save that records nothing (untracked field) costs "
            f"{ops['save_other']['ratio']:.2f}{X} the unregistered one."
        )
    c = results["postgresql"]["c"]
    split = [case for case in c["scenarios"] if case["calls"] != case["ideal"]]
    if split:
        notes.append(
            "- **API calls, one row per URL.** "
            + "; ".join(
                f"{case['n']:,} rows in {case['passes']} passes, batch {case['batch']}"
                for case in split
            )
            + ": each pass claims `CLAIM_BATCH_SIZE` rows and sends its own last, partial "
            "chunk, so a batch that does not divide the claim size costs up to one extra "
            "call per pass."
        )
    bursts = [case for case in c["bursts"] if case["calls"] != case["ideal"]]
    if bursts:
        case = bursts[0]
        notes.append(
            f"- **API calls, burst.** {case['rows']:,} rows over {case['objects']} objects "
            f"were drained in {case['passes']} passes; the URLs are deduplicated within a "
            f"pass, not across passes, so {case['distinct_urls']:,} distinct URLs were sent "
            f"{case['urls_sent']:,} times."
        )
    stack = results["stack"]
    d = stack["d"]
    if any(run["steady_fraction"] < DRAIN_FRACTION_TARGET for run in d):
        budget = stack["limit_urls_per_second"] * stack["limiter_safety"]
        best = max(d, key=lambda run: run["steady_rate"])
        one = d[0]
        notes.append(
            f"- **Throughput.** The limiter aims at {stack['limiter_safety']:g} {X} the "
            f"limit ({budget:,.0f} URLs/s) in the long run, which caps every run at "
            f"{stack['limiter_safety']:.0%} of the limit; the best run "
            f"({best['workers']} workers) used {pct(best['steady_rate'] / budget)} of that "
            f"budget, with {sum(run['http_429'] for run in d)} answers 429 in all runs. One "
            f"worker reached {pct(one['steady_fraction'])} of the limit: it does its "
            f"database work and its sending one after the other, and unthrottled it drains "
            f"{stack['f']['rows_per_second']:,.0f} rows/s (section f)."
        )
    if not notes:
        return []
    return ["## Reading the misses", "", *notes, ""]


def render(results: dict[str, Any], facts: dict[str, str]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python bench/run.py` — do not edit by hand; run it again. Figures "
        "compared with each other were measured side by side in the same run.",
        "",
        "## Machine",
        "",
        *table(["", ""], [[key, value] for key, value in facts.items()]),
        "",
        "PostgreSQL runs as a throwaway cluster with `fsync` and `synchronous_commit` off, so "
        "commits are cheaper than in production and the request-path ratios are, if "
        "anything, pessimistic. SQLite is a file in the temporary directory.",
        "",
        "## Targets",
        "",
        *table(["target", "measured", "result"], targets(results)),
        "",
        *section_a(results),
        *section_b(results),
        *section_c(results),
        *section_d(results),
        *section_g(results),
        *section_h(results),
        *section_i(results),
        *section_e(results),
        *section_f(results),
        *reading(results),
    ]
    return "\n".join(lines).rstrip() + "\n"
