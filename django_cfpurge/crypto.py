"""Encryption of stored secrets, with key rotation: ``cryptography``'s ``MultiFernet``.

Keys, newest first:

1. ``CFPURGE["ENCRYPTION_KEYS"]``: Fernet keys (``Fernet.generate_key()``), when set;
2. otherwise keys derived (HKDF-SHA256) from ``SECRET_KEY``, then from each of
   ``SECRET_KEY_FALLBACKS``, so that rotating Django's secret key the documented way
   (new key in ``SECRET_KEY``, old one in ``SECRET_KEY_FALLBACKS``) keeps stored
   secrets readable until ``manage.py cfpurge rotate-keys`` re-encrypts them.

Values are encrypted with the newest key and decrypted with any of them. A value no
key opens raises :class:`~django_cfpurge.exceptions.UnreadableCredentials` at use.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .conf import get_setting

#: Marks an encrypted value in the database (and tells it from a plain one).
PREFIX = "fernet:"
_INFO = b"django-cfpurge stored secrets"


def _derive(secret_key: str | bytes) -> bytes:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return base64.urlsafe_b64encode(derived)


def key_material() -> tuple[bytes, ...]:
    """The Fernet keys in use, newest first (see the module documentation)."""
    configured = get_setting("ENCRYPTION_KEYS") or []
    if isinstance(configured, str | bytes):
        configured = [configured]
    if configured:
        return tuple(k.encode() if isinstance(k, str) else bytes(k) for k in configured)
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return tuple(_derive(k) for k in keys if k)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    """The ``MultiFernet`` of :func:`key_material`.

    :raises ValueError: a configured key is not a Fernet key.
    """
    return _fernet(key_material())


def encrypt(value: str) -> str:
    """``value`` encrypted with the newest key, prefixed (``""`` stays ``""``)."""
    if not value:
        return ""
    return PREFIX + fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    """The plain value of an encrypted one (a value without the prefix is returned as is:
    rows written before encryption).

    :raises InvalidToken: no key opens it.
    """
    if not stored or not stored.startswith(PREFIX):
        return stored
    return fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")


def reencrypt(stored: str) -> str:
    """``stored`` encrypted again with the newest key (a plain value gets encrypted).

    :raises InvalidToken: no key opens it.
    """
    if not stored:
        return stored
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    token = stored[len(PREFIX) :].encode("ascii")
    return PREFIX + fernet().rotate(token).decode("ascii")


__all__ = ["PREFIX", "InvalidToken", "decrypt", "encrypt", "fernet", "key_material", "reencrypt"]
