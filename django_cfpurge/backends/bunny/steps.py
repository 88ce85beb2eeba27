"""bunny.net's Test connection steps: the pull zone, its hostnames, a test purge.

1. :class:`ReadPullZone` — the API key is accepted and the Pull zone ID names a pull
   zone of its account (``GET /pullzone/{id}``, read-only); learns its name, state and
   hostnames;
2. :class:`ServedHostnames` — the hostnames the site routes to this zone are among the
   pull zone's (the missing ones are named: their purges would fail);
3. :class:`ProbePurge` — a purge of one harmless URL on the pull zone's first hostname
   (``CFPURGE["PROBE_PURGE"] = False`` skips it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext, gettext_lazy

from ...conf import get_bool, get_str
from ...exceptions import (
    AuthenticationFailed,
    BackendError,
    ZoneNotFound,
)
from ..base import Step as BaseStep
from ..base import StepResult, StepStatus, TestContext
from ..sentences import describe_error
from .client import BunnyClient, PullZoneInfo

if TYPE_CHECKING:  # pragma: no cover
    from . import BunnyBackend

OK, WARNING, ERROR = StepStatus.OK, StepStatus.WARNING, StepStatus.ERROR
FACT_KEY = "bunny_pull_zone"


def cited(err: BackendError) -> str:
    """What bunny.net answered, as status and ``ErrorKey`` ("HTTP 404, pullZone.not_found")."""
    parts = [f"HTTP {err.status_code}"] if err.status_code else []
    parts += sorted(str(code) for code in err.codes if code)
    return ", ".join(parts) or type(err).__name__


def describe(err: Exception, *, doing: str) -> str:
    """A sentence for the errors every step can meet (network, 429, 5xx, bad answers)."""
    return describe_error(
        err, doing=doing, service="bunny.net", cited=cited, url_key="BUNNY_API_URL"
    )


class Step(BaseStep):
    """A step of the bunny.net backend (its client is ``context.backend.client``)."""

    def client(self, context: TestContext) -> BunnyClient:
        backend: BunnyBackend = context.backend  # type: ignore[assignment]
        return backend.client


def read_pull_zone(context: TestContext) -> PullZoneInfo:
    """``GET /pullzone/{id}`` once per Test connection."""
    cached = context.facts.get(FACT_KEY)
    if isinstance(cached, PullZoneInfo):
        return cached
    client: BunnyClient = context.backend.client  # type: ignore[attr-defined]
    info = client.get_pull_zone()
    context.facts[FACT_KEY] = info
    context.remote = info.remote
    return info


class ReadPullZone(Step):
    """The API key is accepted and the Pull zone ID names one of its account's zones."""

    key = "pull_zone"
    label = gettext_lazy("Pull zone")
    doing = gettext_lazy("reading the pull zone")

    def run(self, context: TestContext) -> StepResult:
        try:
            info = read_pull_zone(context)
        except (AuthenticationFailed, ZoneNotFound) as err:
            # The client's sentence names the key, the id and where to find them.
            return StepResult(
                ERROR, str(err), gettext("Skipped: bunny.net did not accept the key or the ID.")
            )
        except BackendError as err:
            return StepResult(
                ERROR,
                describe(err, doing=str(self.doing)),
                gettext("Skipped: the pull zone could not be read."),
            )
        values = {
            "name": info.name,
            "id": info.id,
            "hostnames": ", ".join(info.hostnames) or gettext("none"),
        }
        message = gettext("Pull zone %(name)s (%(id)s), serving %(hostnames)s.") % values
        if info.suspended:
            return StepResult(
                WARNING,
                message
                + " "
                + gettext(
                    "It is suspended: bunny.net serves nothing from it (see Billing in the "
                    "bunny.net dashboard)."
                ),
            )
        if not info.enabled:
            return StepResult(
                WARNING,
                message + " " + gettext("It is disabled: bunny.net does not serve it now."),
            )
        return StepResult(OK, message)


def missing_hostnames(patterns: tuple[str, ...], served: tuple[str, ...]) -> list[str]:
    """The site's hostname patterns that no hostname of the pull zone answers: an exact
    name not served, or a domain (``.example.com``) none of whose names is served."""
    missing = []
    for pattern in patterns:
        if pattern.startswith("."):
            # ALLOWED_HOSTS syntax: the domain itself or any name under it.
            found = any(host == pattern[1:] or host.endswith(pattern) for host in served)
        else:
            found = pattern in served
        if not found:
            missing.append(pattern)
    return missing


class ServedHostnames(Step):
    """The hostnames routed to this zone are served by the pull zone."""

    key = "hostnames"
    label = gettext_lazy("Hostnames")
    doing = gettext_lazy("checking the hostnames")

    def run(self, context: TestContext) -> StepResult:
        info = read_pull_zone(context)
        missing = missing_hostnames(context.site_hostnames, info.hostnames)
        if not context.site_hostnames:
            return StepResult(
                OK,
                gettext("URLs of %(hostnames)s are purged on this pull zone.")
                % {"hostnames": ", ".join(info.hostnames) or gettext("no hostname")},
            )
        if not missing:
            return StepResult(
                OK,
                gettext("The pull zone serves every hostname routed to it: %(hostnames)s.")
                % {"hostnames": ", ".join(context.site_hostnames)},
            )
        return StepResult(
            WARNING,
            gettext(
                "The pull zone does not serve %(missing)s, which this zone's hostnames route "
                "to it: purges of their URLs would fail (“no pull zone”). Add them in the "
                "bunny.net dashboard (CDN → the pull zone → Hostnames), or remove them from "
                "this zone's hostnames. It serves %(served)s."
            )
            % {
                "missing": ", ".join(missing),
                "served": ", ".join(info.hostnames) or gettext("no hostname"),
            },
        )


class ProbePurge(Step):
    """A purge of one harmless URL proves that purging works with this key."""

    key = "purge"
    label = gettext_lazy("Test purge")
    doing = gettext_lazy("the test purge")

    def run(self, context: TestContext) -> StepResult:
        if not get_bool("PROBE_PURGE"):
            return StepResult(
                StepStatus.SKIPPED, gettext("Skipped: CFPURGE['PROBE_PURGE'] is False.")
            )
        info = read_pull_zone(context)
        if not info.hostnames:
            return StepResult(
                WARNING,
                gettext("The pull zone has no hostname to send a test purge to; none was sent."),
            )
        path = get_str("PROBE_PATH") or "/__cfpurge_probe"
        url = f"https://{info.hostnames[0]}{path if path.startswith('/') else '/' + path}"
        try:
            self.client(context).purge_url(url)
        except (AuthenticationFailed, ZoneNotFound) as err:
            return StepResult(
                ERROR,
                gettext("bunny.net refused the test purge of %(url)s: %(error)s")
                % {"url": url, "error": err},
            )
        except BackendError as err:
            return StepResult(ERROR, describe(err, doing=str(self.doing)))
        return StepResult(OK, gettext("A test purge of %(url)s was accepted.") % {"url": url})
