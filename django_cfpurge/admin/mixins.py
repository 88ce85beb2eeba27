"""What every django-cfpurge admin page shares: the worker banner, the console's style
sheet, secrets kept out of lookups and error pages, and refusals of actions."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

from ..models import SECRET_COLUMNS
from ..status import worker_state

#: The console's style sheet (admin CSS variables only: light and dark themes alike).
CONSOLE_CSS = "django_cfpurge/admin.css"


class ConsoleMixin:
    """The worker banner's context and the console's style sheet, for every page."""

    class Media:
        css = {"all": (CONSOLE_CSS,)}

    def worker_context(self) -> dict[str, Any]:
        """Context of the "no worker has drained since …" banner."""
        return {"cfpurge_worker": worker_state()}


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Cleanses what views that take secrets mark as sensitive, even when ``DEBUG`` is on.

    Django's filter is off when ``DEBUG`` is True ("your site is not safe anyway"), so
    ``sensitive_post_parameters`` and ``sensitive_variables`` would not keep a token
    posted to the zone form out of the ``DEBUG`` error page. The zone views set this
    filter on their requests (Django's ``request.exception_reporter_filter`` hook).
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


def guard_secrets(request: HttpRequest) -> None:
    """Make error reports of ``request`` cleanse its secrets whatever ``DEBUG`` is."""
    request.exception_reporter_filter = SecretsReporterFilter()


class NoSecretLookupsMixin:
    """Refuses every list filter that names a secret column, directly
    (``?api_token__startswith=``) or through a relation (``?zone__api_key=``): Django
    then answers 400, the same for a right guess and a wrong one."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if any(part in SECRET_COLUMNS for part in lookup.split(LOOKUP_SEP)):
            return False
        return bool(super().lookup_allowed(lookup, value, request))  # type: ignore[misc]


class RefuseUnavailableActionsMixin:
    """A POSTed action the user may not run is refused with 403.

    Django would show the list again (or say "No action selected."), which reads like
    a slip rather than a refusal; the permission table asserts a 403 instead.
    """

    def refuse_unavailable_action(self, request: HttpRequest) -> None:
        """:raises PermissionDenied: the request posts an action the user may not run."""
        if request.method != "POST" or helpers.ACTION_CHECKBOX_NAME not in request.POST:
            return
        names = request.POST.getlist("action")
        try:
            index = int(request.POST.get("index", 0))
        except ValueError:
            index = 0
        name = names[index] if 0 <= index < len(names) else ""
        if name and name not in self.get_actions(request):  # type: ignore[attr-defined]
            raise PermissionDenied
