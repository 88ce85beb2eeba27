"""``manage.py cfpurge``: test, purge by hand, drain, retry and status, for people and scripts.

Exit codes: 0 success (or queued), 1 failure, 2 usage error, 3 the purge waits
to be retried (transient error), 4 nothing could be routed to a zone.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext, gettext_noop

from ..cfpurge.purges import PurgeActions
from ..cfpurge.queue import QueueActions
from ..cfpurge.zones import ZoneActions


class Command(ZoneActions, PurgeActions, QueueActions, BaseCommand):
    # Marked only: argparse needs a real string, so create_parser() translates it.
    help = gettext_noop(
        "CDN cache purging: test, urls, tags, prefixes, hosts, everything, drain, "
        "retry, status, verify, rotate-keys."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = gettext(self.help)
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        test = sub.add_parser(
            "test", help=gettext("Run Test connection for every zone (or --zone).")
        )
        test.add_argument("--zone", help=gettext("Zone name."))
        test.add_argument("--json", action="store_true", help=gettext("Print the report as JSON."))
        for kind, text in (
            ("urls", gettext("Purge URLs (absolute, or paths joined with BASE_URLS).")),
            ("tags", gettext("Purge cache tags.")),
            ("prefixes", gettext("Purge prefixes (host/path).")),
            ("hosts", gettext("Purge hostnames.")),
        ):
            p = sub.add_parser(kind, help=text)
            p.add_argument("items", nargs="+", metavar=kind[:-1].upper())
            self._purge_options(p)
        everything = sub.add_parser("everything", help=gettext("Purge everything (asks first)."))
        everything.add_argument(
            "--yes", action="store_true", help=gettext("Do not ask for confirmation.")
        )
        self._purge_options(everything)
        drain = sub.add_parser("drain", help=gettext("Send every due purge now, in this process."))
        drain.add_argument("--no-progress", action="store_true")
        drain.add_argument("--json", action="store_true")
        retry = sub.add_parser("retry", help=gettext("Make failed or waiting purges due again."))
        retry.add_argument(
            "ids",
            nargs="*",
            type=int,
            help=gettext("Row ids (default: every failed row; see --waiting)."),
        )
        retry.add_argument(
            "--waiting",
            action="store_true",
            help=gettext(
                "Also rows waiting for a later attempt (backoff, rate limit, no zone yet)."
            ),
        )
        retry.add_argument("--zone", help=gettext("Only this zone's rows."))
        retry.add_argument(
            "--now", action="store_true", help=gettext("Drain right away in this process.")
        )
        status = sub.add_parser(
            "status", help=gettext("Zones, last tests, waiting and failed purges.")
        )
        status.add_argument("--json", action="store_true")
        verify = sub.add_parser(
            "verify",
            help=gettext(
                "Check at the edge that purging a URL drops the CDN's copy (requests it "
                "through the CDN, purges it, requests it again)."
            ),
        )
        verify.add_argument("url", metavar="URL")
        verify.add_argument("--zone", help=gettext("Zone name (default: routed by hostname)."))
        sub.add_parser(
            "rotate-keys",
            help=gettext("Encrypt every stored secret again with the newest encryption key."),
        )

    @staticmethod
    def _purge_options(p: CommandParser) -> None:
        p.add_argument("--zone", help=gettext("Zone name (default: routed by hostname)."))
        p.add_argument(
            "--now",
            action="store_true",
            help=gettext("Send in this process and wait for the outcome."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        handler = getattr(self, f"do_{action.replace('-', '_')}")
        handler(options)
