"""One exception hierarchy. Every error carries a message a person can act on.

Messages never contain secrets: API tokens and keys are never passed to these
constructors, and Cloudflare's reply is kept as parsed ``errors`` entries, never
as request headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class CfPurgeError(Exception):
    """Root of django-cfpurge's runtime errors."""


class CfPurgeConfigurationError(ImproperlyConfigured):
    """A setting is wrong. Outside :class:`CfPurgeError` on purpose: it is a
    configuration mistake Django reports at startup, not a runtime failure."""


class AlreadyRegistered(CfPurgeError):
    """A model was registered twice."""


class NotRegistered(CfPurgeError):
    """A model that is not registered was used where a registration is needed."""


class InvalidCredentials(CfPurgeError, ValueError):
    """A pasted credential or identifier has the wrong shape.

    :ivar field: the name of the offending field (``"api_token"``, ``"zone_id"``...).
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotConfigured(CfPurgeError):
    """Purging is off: no zone with credentials, or ``ENABLED`` is False."""


@dataclass(frozen=True)
class CloudflareMessage:
    """One entry of Cloudflare's ``errors`` (or ``error_chain``) list."""

    code: int
    message: str

    def __str__(self) -> str:
        return f"{self.message} [code {self.code}]"


class CloudflareAPIError(CfPurgeError):
    """Cloudflare did not do what was asked.

    :ivar status_code: HTTP status, or ``None`` when no response arrived.
    :ivar errors: Cloudflare's ``errors`` entries, ``error_chain`` flattened in.
    :ivar retry_after: seconds Cloudflare asked us to wait (``Retry-After``), if any.
    :ivar transient: True when the same request may succeed later unchanged.
    """

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errors: list[CloudflareMessage] | tuple[CloudflareMessage, ...] = (),
        retry_after: float | None = None,
        response_body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.errors = tuple(errors)
        self.retry_after = retry_after
        self.response_body = response_body

    @property
    def codes(self) -> frozenset[int]:
        """All Cloudflare error codes in the reply, chains included."""
        return frozenset(e.code for e in self.errors)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"codes={sorted(self.codes)!r}, message={self.message!r})"
        )


class CloudflareAuthError(CloudflareAPIError):
    """The credentials were refused, or they lack a permission (401/403, 6003...).

    Permanent: retrying will not help until someone fixes the credentials.
    """


class CloudflareZoneNotFound(CloudflareAPIError):
    """The Zone ID does not name a zone these credentials can reach (404, 7003, 1003)."""


class CloudflareRequestRejected(CloudflareAPIError):
    """Cloudflare refused the request itself (400 for a reason other than credentials)."""


class CloudflareRateLimited(CloudflareAPIError):
    """HTTP 429, or codes 971/1134. Retry after :attr:`retry_after` seconds."""

    transient = True


class CloudflareServerError(CloudflareAPIError):
    """Cloudflare answered 5xx. Transient."""

    transient = True


class CloudflareNetworkError(CloudflareAPIError):
    """No answer: connection refused or reset, DNS failure, timeout. Transient.

    :ivar reason: what happened, without advice ("connection refused", "timed out
        after 5 s"), for messages that give their own.
    """

    transient = True
    reason = ""


class CloudflareInvalidResponse(CloudflareAPIError):
    """The answer was not Cloudflare's JSON envelope (HTML from a proxy, empty, truncated).

    Transient: such answers usually come from something between us and Cloudflare.
    """

    transient = True
