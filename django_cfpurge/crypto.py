"""Encryption of stored secrets, with key rotation: ``cryptography``'s ``MultiFernet``.

Keys, newest first:

1. ``CFPURGE["ENCRYPTION_KEYS"]``: Fernet keys (``Fernet.generate_key()``), when set;
   the first one encrypts;
2. keys derived (HKDF-SHA256) from ``SECRET_KEY``, then from each of
   ``SECRET_KEY_FALLBACKS``: the first one encrypts when ``ENCRYPTION_KEYS`` is empty.
   Rotating Django's secret key the documented way (new key in ``SECRET_KEY``, old one
   in ``SECRET_KEY_FALLBACKS``) keeps stored secrets readable until
   ``manage.py cfpurge rotate-keys`` re-encrypts them; so does setting
   ``ENCRYPTION_KEYS`` for the first time.

Values are encrypted with the first key and decrypted with any of them. The keys are
read from settings at each use, so ``override_settings`` and a changed setting take
effect at once: the ``MultiFernet`` is cached by the key material itself, never
separately from it. A value no key opens raises :class:`InvalidToken` here and becomes
an :class:`~django_cfpurge.fields.UnreadableSecret` when read from the database.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables

from .conf import get_setting, key
from .exceptions import CfPurgeConfigurationError

#: Marks an encrypted value in the database (and tells it from a plain one).
PREFIX = "fernet:"
_INFO = b"django-cfpurge stored secrets"


class InvalidEncryptionKey(CfPurgeConfigurationError):
    """An entry of ``CFPURGE["ENCRYPTION_KEYS"]`` is not a Fernet key. The message names
    the entry by its position, never by its value."""


@lru_cache(maxsize=16)
def _derive(secret_key: str | bytes) -> bytes:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return base64.urlsafe_b64encode(derived)


def configured_keys() -> tuple[bytes, ...]:
    """The keys of ``CFPURGE["ENCRYPTION_KEYS"]`` (a list, or one key as a string)."""
    configured = get_setting("ENCRYPTION_KEYS") or []
    if isinstance(configured, str | bytes):
        configured = [configured]
    return tuple(k.encode() if isinstance(k, str) else bytes(k) for k in configured)


def key_material() -> tuple[bytes, ...]:
    """The Fernet keys in use, the encrypting one first (see the module documentation)."""
    django_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    derived = tuple(_derive(k) for k in django_keys if k)
    keys = configured_keys() + derived
    # A key listed twice would only be tried twice.
    return tuple(dict.fromkeys(keys))


@lru_cache(maxsize=8)
def _fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    fernets = []
    for index, value in enumerate(keys):
        try:
            fernets.append(Fernet(value))
        except (ValueError, TypeError):
            raise InvalidEncryptionKey(
                gettext(
                    "%(setting)s[%(index)d] is not a Fernet key: generate one with "
                    "cryptography.fernet.Fernet.generate_key()."
                )
                % {"setting": key("ENCRYPTION_KEYS"), "index": index}
            ) from None
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    """The ``MultiFernet`` of :func:`key_material`.

    :raises InvalidEncryptionKey: a configured key is not a Fernet key.
    """
    return _fernet(key_material())


def clear_cache() -> None:
    """Forget the cached ``MultiFernet`` objects and derived keys.

    Never needed for correctness (the cache is keyed by the keys themselves, so new
    settings are always seen); tests that want to prove a value is read with nothing
    cached from before call it.
    """
    _fernet.cache_clear()
    _derive.cache_clear()


@sensitive_variables()
def encrypt(value: str) -> str:
    """``value`` encrypted with the newest key, prefixed (``""`` stays ``""``).

    :raises InvalidEncryptionKey: see :func:`fernet`.
    """
    if not value:
        return ""
    return PREFIX + fernet().encrypt(value.encode("utf-8")).decode("ascii")


@sensitive_variables()
def decrypt(stored: str) -> str:
    """The plain value of an encrypted one (a value without the prefix is returned as is:
    rows written before encryption).

    :raises InvalidToken: no key opens it.
    :raises InvalidEncryptionKey: see :func:`fernet`.
    """
    if not stored or not stored.startswith(PREFIX):
        return stored
    try:
        token = stored[len(PREFIX) :].encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken from None
    return fernet().decrypt(token).decode("utf-8")


@sensitive_variables()
def reencrypt(stored: str) -> str:
    """``stored`` encrypted again with the newest key (a plain value gets encrypted).

    :raises InvalidToken: no key opens it.
    :raises InvalidEncryptionKey: see :func:`fernet`.
    """
    if not stored:
        return stored
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    try:
        token = stored[len(PREFIX) :].encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken from None
    return PREFIX + fernet().rotate(token).decode("ascii")


__all__ = [
    "PREFIX",
    "InvalidEncryptionKey",
    "InvalidToken",
    "clear_cache",
    "configured_keys",
    "decrypt",
    "encrypt",
    "fernet",
    "key_material",
    "reencrypt",
]
