"""One exception hierarchy. Every error carries a message a person can act on.

Messages never contain secrets: credentials are never passed to these constructors,
and a CDN's reply is kept as parsed error entries, never as request headers. Each
:class:`BackendError` subclass names the :class:`~django_cfpurge.enums.ErrorKind` a
row records and whether the same request may succeed later unchanged, so that the
drain branches on the type, never on a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from .enums import ErrorKind


class CfPurgeError(Exception):
    """Root of django-cfpurge's runtime errors."""


class CfPurgeConfigurationError(ImproperlyConfigured):
    """A setting is wrong. Outside :class:`CfPurgeError` on purpose: it is a
    configuration mistake Django reports at startup, not a runtime failure."""


class AlreadyRegistered(CfPurgeError):
    """A model was registered twice."""


class NotRegistered(CfPurgeError):
    """A model that is not registered was used where a registration is needed."""


class InvalidTarget(CfPurgeError, ValueError):
    """A URL, tag, host or prefix given to purge cannot be purged as given (wrong
    scheme, malformed URL, a tag with spaces…). Raised before anything is recorded."""


class InvalidCredentials(CfPurgeError, ValueError):
    """A pasted credential or identifier has the wrong shape.

    :ivar field: the name of the offending field (``"api_token"``, ``"zone_id"``...).
    """

    error_kind: ClassVar[ErrorKind] = ErrorKind.CREDENTIALS

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class UnreadableCredentials(InvalidCredentials):
    """A stored secret can no longer be decrypted (the encryption keys changed)."""

    error_kind: ClassVar[ErrorKind] = ErrorKind.UNREADABLE


@dataclass(frozen=True)
class ApiMessage:
    """One error entry of a CDN's reply: a code (Cloudflare's number, Bunny's
    ``ErrorKey``…) and its message."""

    code: int | str
    message: str

    def __str__(self) -> str:
        return f"{self.message} [code {self.code}]"


class BackendError(CfPurgeError):
    """The CDN did not do what was asked.

    :cvar error_kind: what a row that met this error records.
    :cvar transient: True when the same request may succeed later unchanged.
    :ivar message: a sentence a site owner can act on (no secret in it).
    :ivar status_code: HTTP status, or ``None`` when no response arrived.
    :ivar errors: the CDN's error entries (chains flattened in).
    :ivar retry_after: seconds the CDN asked us to wait, if it said.
    :ivar response_body: the reply, parsed and redacted, for the purge log.
    """

    error_kind: ClassVar[ErrorKind] = ErrorKind.ERROR
    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errors: list[ApiMessage] | tuple[ApiMessage, ...] = (),
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
    def codes(self) -> frozenset[int | str]:
        """All error codes in the reply, chains included."""
        return frozenset(e.code for e in self.errors)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        codes = sorted(self.codes, key=str)
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"codes={codes!r}, message={self.message!r})"
        )

    def __reduce__(self) -> Any:
        # Pickled (Celery results, multiprocessing) with its message and context only.
        return (
            _rebuild,
            (
                type(self),
                self.message,
                self.status_code,
                self.errors,
                self.retry_after,
                self.response_body,
            ),
        )


def _rebuild(
    cls: type[BackendError],
    message: str,
    status_code: int | None,
    errors: tuple[ApiMessage, ...],
    retry_after: float | None,
    response_body: Any,
) -> BackendError:
    return cls(
        message,
        status_code=status_code,
        errors=errors,
        retry_after=retry_after,
        response_body=response_body,
    )


class AuthenticationFailed(BackendError):
    """The credentials were refused, or they lack a permission. Permanent: retrying
    will not help until someone fixes the credentials."""

    error_kind = ErrorKind.AUTH


class ZoneNotFound(BackendError):
    """The zone's identifier names no zone these credentials can reach."""

    error_kind = ErrorKind.ZONE


class RequestRejected(BackendError):
    """The CDN refused the request itself (for a reason other than credentials)."""

    error_kind = ErrorKind.REJECTED


class RateLimited(BackendError):
    """The CDN is throttling this account. Not a failure: the request waits
    :attr:`retry_after` seconds (or the limiter's estimate) and is sent again."""

    error_kind = ErrorKind.RATE_LIMITED
    transient = True


class ServerError(BackendError):
    """The CDN answered 5xx. Transient."""

    error_kind = ErrorKind.SERVER
    transient = True


class NetworkError(BackendError):
    """No answer: connection refused or reset, DNS failure, timeout. Transient.

    :ivar reason: what happened, without advice ("connection refused", "timed out
        after 5 s"), for messages that give their own.
    """

    error_kind = ErrorKind.NETWORK
    transient = True
    reason = ""

    def __init__(self, message: str, *, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason

    def __reduce__(self) -> Any:
        return (_rebuild_network, (type(self), self.message, self.reason))


def _rebuild_network(cls: type[NetworkError], message: str, reason: str) -> NetworkError:
    return cls(message, reason=reason)


class InvalidResponse(BackendError):
    """The answer was not the CDN's reply (HTML from a proxy, empty, truncated).

    Transient: such answers usually come from something between us and the CDN.
    """

    error_kind = ErrorKind.INVALID_RESPONSE
    transient = True


class InsecureAPIURL(BackendError):
    """The API URL would send credentials in clear text or to a URL with a user name
    and password in it. Waits for the setting to be fixed."""

    error_kind = ErrorKind.SETTINGS


class DeadlineExceeded(NetworkError):
    """The request as a whole took longer than ``CFPURGE["DEADLINE"]`` seconds (a
    server that trickles its answer). Transient."""

    error_kind = ErrorKind.TIMEOUT
