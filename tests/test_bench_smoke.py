"""``bench/run.py --quick`` runs every benchmark section and writes the report.

No figure is checked: timings depend on the machine. Only that the script completes and
the report has every section and the targets table.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import REPO_ROOT, _postgres_bindir, unavailable

pytestmark = pytest.mark.slow

SECTIONS = [
    "## Machine",
    "## Targets",
    "## a. Request-path cost",
    "## b. The snapshot's cost on reads",
    "## c. API calls against the ideal",
    "## d. Drain throughput against the rate limit",
    "## e. Commit-to-purge latency",
    "## f. Worker memory while draining",
    "## g. A shared account: a quarter of the plan's rate",
    "## i. Cache tags against the tag rate limit",
]
TARGETS = [
    "zero network calls on the request path",
    "registered save",
    "API calls equal to the ideal",
    "of the rate limit",
    "commit-to-purge",
    "worker peak memory",
    "tag purges within the plan's limit",
]


def test_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    if _postgres_bindir() is None:
        unavailable("PostgreSQL's initdb and pg_ctl were not found (apt-get install postgresql)")
    out = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = out.read_text(encoding="utf-8")
    for heading in SECTIONS:
        assert heading in report
    assert "Cloudflare calls on the request path: 0" in report
    targets = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
    for target in TARGETS:
        line = next((row for row in targets.splitlines() if target in row), None)
        assert line is not None, f"no target row for {target!r}"
        assert line.rstrip(" |").endswith(("PASS", "MISS"))
    # The table printed on stdout is the report itself.
    assert "## Targets" in result.stdout
