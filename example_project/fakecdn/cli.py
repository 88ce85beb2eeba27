"""``python -m fakecdn``: a fake CDN API, and optionally an edge cache, until Ctrl-C.

::

    python -m fakecdn --port 8787 --origin http://127.0.0.1:8000 --public-host www.example.com
    python -m fakecdn --api bunny --port 8787         # the fake bunny.net API instead

The API is :class:`~django_cfpurge.testing.cloudflare_api.FakeCloudflare` (``--api
bunny``: :class:`~django_cfpurge.testing.bunny_api.FakeBunny`, ``--api
cloudflare_images``:
:class:`~django_cfpurge.testing.cloudflare_images_api.FakeCloudflareImages`); with
``--origin``, an :class:`~fakecdn.edge.EdgeCache` in front of that origin evicts what it
purges. ``GET /__fake__/`` shows the edge log page, ``GET /__fake__/edge`` the cache's
entries. Read and steer it from another process with
:class:`~django_cfpurge.testing.cloudflare_api.FakeCloudflareRemote`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from django_cfpurge.testing._base import FakeServer
from django_cfpurge.testing.bunny_api import FakeBunny
from django_cfpurge.testing.cloudflare_api import PLANS, FakeCloudflare, default_zones
from django_cfpurge.testing.cloudflare_images_api import DELIVERY_HOST, FakeCloudflareImages

from . import page
from .edge import EdgeCache

PROG = "python -m fakecdn"
#: The APIs it fakes, by the name of their django-cfpurge backend.
API_NAMES = {
    "cloudflare": "Cloudflare",
    "bunny": "bunny.net",
    "cloudflare_images": "Cloudflare Images",
}
APIS = tuple(API_NAMES)


def build_parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a fake Cloudflare API (and optionally a caching edge) on loopback.",
        epilog="Options left out take their value from --config, else the defaults shown.",
    )
    add = parser.add_argument
    add(
        "--api",
        choices=APIS,
        default="cloudflare",
        help="the API to fake: cloudflare (default), bunny or cloudflare_images",
    )
    add("--host", default="127.0.0.1", help="127.0.0.1 (default), ::1 or localhost")
    add("--port", type=int, default=8787, help="API port; 0 picks a free one (default 8787)")
    add("--edge-port", type=int, default=None, help="edge cache port (needs --origin; 0: any)")
    add("--origin", default=None, help="origin URL behind the edge cache")
    add("--public-host", default=None, help="key edge entries as this host (www.example.com)")
    add("--plan", choices=PLANS, default=None, help="plan of the zones that name none (free)")
    add("--plan-limits", choices=("legacy", "current"), default=None, help="items per call")
    add("--speed", type=float, default=None, help="rate-limit refill multiplier (1)")
    add("--error-ratio", type=float, default=None, help="fraction of API calls answered 503 (0)")
    add("--drop-ratio", type=float, default=None, help="fraction of API calls dropped (0)")
    add("--latency", type=float, default=None, help="seconds added to API answers (0)")
    add("--seed", type=int, default=None, help="seed of the fault dice")
    add("--unknown-zone-status", type=int, choices=(403, 404), default=None, help="(403)")
    add("--rate-limit-code", type=int, choices=(1134, 971), default=None, help="(1134)")
    add("--global-limit", type=int, default=None, help="requests per token per 5 min; 0: off")
    add("--config", default=None, help="JSON file: zones, tokens, global_keys, faults, options")
    add("--ready-file", default=None, help="write the URLs and ports here as JSON when ready")
    add("-v", "--verbose", action="store_true", help="log every request")
    return parser


def fake_options(args: argparse.Namespace) -> dict[str, Any]:
    """``FakeCloudflare`` keyword arguments from the options and the ``--config`` file."""
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
        if not isinstance(config, dict):
            raise ValueError(f"{args.config}: the configuration must be a JSON object.")
    zones = config.pop("zones", None)
    if zones is None:
        zones = [z.to_dict() for z in default_zones()]
        if args.plan:
            for zone in zones:
                zone["plan"] = args.plan
    elif args.plan:
        zones = [{"plan": args.plan, **zone} for zone in zones]
    options: dict[str, Any] = {"zones": zones}
    for name, value in config.pop("faults", {}).items():
        options["fault_routes" if name == "routes" else name] = value
    options.update(config)
    given = {
        "plan_limits_mode": args.plan_limits,
        "speed": args.speed,
        "unknown_zone_status": args.unknown_zone_status,
        "rate_limit_code": args.rate_limit_code,
        "error_ratio": args.error_ratio,
        "drop_ratio": args.drop_ratio,
        "latency": args.latency,
        "seed": args.seed,
    }
    options.update({name: value for name, value in given.items() if value is not None})
    if args.global_limit is not None:
        options["global_limit"] = args.global_limit or None
    options.update(host=args.host, port=args.port)
    return options


def build_fake(args: argparse.Namespace) -> FakeServer:
    """The fake API ``--api`` names (not started). bunny.net and Cloudflare Images take
    the fault options; the Cloudflare-only options are for ``--api cloudflare``."""
    if args.api == "cloudflare":
        return FakeCloudflare(**fake_options(args))
    options: dict[str, Any] = {"host": args.host, "port": args.port}
    for name in ("error_ratio", "drop_ratio", "latency", "seed", "speed"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    if args.api == "bunny":
        return FakeBunny(**options)
    fake = FakeCloudflareImages(**options)
    fake.add_control_route("GET", "/purges", lambda data: {"purges": image_purges(fake)})
    return fake


def image_purges(fake: FakeCloudflareImages) -> list[dict[str, Any]]:
    """The changes of a fake Cloudflare Images that purged an image's cached copies
    (deletes, access changes), shaped as purges for the edge log."""
    return [
        {
            "id": change["id"],
            "time": change["time"],
            "zone": change["account"],
            "kind": change["kind"],
            "items": [f"https://{DELIVERY_HOST}/…/{change['image']}/"],
            "evicted": change["evicted"],
        }
        for change in fake.changes()
        if "evicted" in change
    ]


def _write_ready_file(path: str, fake: Any, edge: EdgeCache | None) -> None:
    ready = {
        "pid": os.getpid(),
        "host": fake.host,
        "port": fake.port,
        "base_url": fake.base_url,
        "api_url": fake.api_url,
        "control_url": fake.control_url,
        "edge_port": edge.port if edge else None,
        "edge_url": edge.url if edge else None,
    }
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(ready, handle)
    os.replace(temporary, path)


def start(args: argparse.Namespace) -> tuple[Any, EdgeCache | None]:
    """Start the fake API (with its record page) and, with ``--origin``, the edge cache."""
    fake = build_fake(args)
    edge = None
    if args.origin:
        edge = EdgeCache(
            args.origin, host=args.host, port=args.edge_port or 0, public_host=args.public_host
        )
    fake.start()
    if edge is not None:
        edge.start()
        edge.attach(fake)
    if hasattr(fake, "purges"):  # the page lists purges: Cloudflare Images has none
        page.install(fake, edge.url if edge else None)
    return fake, edge


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake (and the edge) until SIGINT or SIGTERM. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.edge_port is not None and not args.origin:
        parser.error("--edge-port needs --origin")
    try:
        fake, edge = start(args)
    except (OSError, ValueError, TypeError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    line = f"Fake {API_NAMES[args.api]} API at {fake.api_url} (control: {fake.control_url}/)"
    if edge:
        line += f", edge cache at {edge.url} in front of {args.origin}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if args.ready_file:
        _write_ready_file(args.ready_file, fake, edge)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if edge:
            edge.stop()
        fake.stop()
        if args.ready_file:
            with contextlib.suppress(OSError):
                os.remove(args.ready_file)
    return 0
