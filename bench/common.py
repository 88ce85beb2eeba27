"""Helpers shared by the benchmark scripts (no Django import here)."""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: URLs purged in the scenarios live on this origin (the settings' ``BASE_URLS``).
ORIGIN = "https://www.example.com"
#: Hostnames the settings-defined zone serves.
HOSTNAMES = ["www.example.com"]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0-100), or NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of a process, in kB, from ``/proc``."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON, atomically."""
    target = Path(path)
    temporary = target.with_suffix(target.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, target)


def zone_settings(**extra: Any) -> dict[str, Any]:
    """``CFPURGE`` entries for the fake's default zone (and its default token)."""
    from django_cfpurge.testing.cloudflare_api import DEFAULT_TOKEN, DEFAULT_ZONE_ID

    return {
        "ZONE_NAME": "example.com",
        "ZONE_ID": DEFAULT_ZONE_ID,
        "API_TOKEN": DEFAULT_TOKEN,
        "HOSTNAMES": HOSTNAMES,
        "BASE_URLS": [ORIGIN],
        **extra,
    }


def setup_django(cfpurge: dict[str, Any], **settings: Any) -> None:
    """Set Django up with ``tests.integration.settings`` plus ``cfpurge`` and ``settings``.

    The ``CFPURGE_IT_*`` variables (database, broker, cache, API URL) must be set already.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.integration.settings"
    os.environ["CFPURGE_IT_SETTINGS"] = json.dumps({"CFPURGE": cfpurge, **settings})
    import django

    django.setup()
    # Binds the package's shared tasks to an app configured from the settings (broker URL).
    from django.core.management import call_command

    import tests.integration.celery_app  # noqa: F401

    call_command("migrate", verbosity=0, interactive=False)
