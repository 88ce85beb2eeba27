"""Hygiene for what people paste, shared by every backend.

Each failure is an :class:`~django_cfpurge.exceptions.InvalidCredentials` whose
message names the real mistake and never repeats the secret:

* whitespace at both ends is trimmed;
* a value wrapped in quotes (``"abc…"``, a common ``.env`` mistake) is named as such;
* an invisible character (a zero-width space, a byte-order mark, a no-break space)
  is named, with its code point;
* whitespace inside a value is rejected;
* an email is checked the way CDN APIs accept it: ASCII only, one ``@``, a domain.

The shapes of each CDN's own values (a Cloudflare token, a Bunny key) live with the
backend.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext, ngettext

from .exceptions import InvalidCredentials

if TYPE_CHECKING:  # pragma: no cover
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str

_WHITESPACE = re.compile(r"\s")
# Straight and typographic quotes, and backticks.
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
#: Characters that show as nothing (or as a space) but break an HTTP header.
_INVISIBLE = re.compile("[\u00a0\u00ad\u180e\u200b-\u200f\u2028-\u202f\u205f-\u206f\ufeff]")


def strip(value: str | None) -> str:
    """``value`` trimmed at both ends (``None`` → ``""``)."""
    return (value or "").strip()


def clean_value(value: str | None, *, field: str, label: StrOrPromise) -> str:
    """``value`` trimmed, or an error naming a quote, an invisible character or a space
    inside it. An empty value is returned as ``""``.

    :raises InvalidCredentials: see the module documentation.
    """
    cleaned = strip(value)
    if len(cleaned) >= 2 and cleaned[0] in _QUOTES and cleaned[-1] in _QUOTES:
        raise InvalidCredentials(
            gettext(
                # Translators: %(label)s is the name of the value, e.g. "API token".
                "The %(label)s is wrapped in quotes. Remove the quotes: they are not part "
                "of the value (in a .env file, write NAME=value without quotes)."
            )
            % {"label": label},
            field=field,
        )
    invisible = _INVISIBLE.search(cleaned)
    if invisible:
        char = invisible.group()
        raise InvalidCredentials(
            gettext(
                # Translators: %(label)s is the name of the value; %(char)s a code point
                # such as "U+200B ZERO WIDTH SPACE".
                "The %(label)s contains an invisible character (%(char)s), usually picked up "
                "when copying from a web page or a chat. Copy the value again from the CDN's "
                "dashboard, or type it."
            )
            % {
                "label": label,
                "char": f"U+{ord(char):04X} {unicodedata.name(char, '')}".strip(),
            },
            field=field,
        )
    if _WHITESPACE.search(cleaned):
        raise InvalidCredentials(
            gettext(
                # Translators: %(label)s is the name of the value, e.g. "Zone ID" or "API token".
                "The %(label)s contains a space or line break inside it. Copy it again from the "
                "dashboard in one piece (only the characters of the value)."
            )
            % {"label": label},
            field=field,
        )
    return cleaned


def clean_hex_id(value: str | None, *, field: str, label: StrOrPromise, where: StrOrPromise) -> str:
    """A trimmed, lower-cased 32-hex identifier (Cloudflare's zone and account ids).

    :param where: where the value is found, for the message.
    :raises InvalidCredentials: not 32 hexadecimal characters (a domain is named as such).
    """
    cleaned = clean_value(value, field=field, label=label)
    lowered = cleaned.lower()
    if re.fullmatch(r"[0-9a-f]{32}", lowered):
        return lowered
    if "." in cleaned:
        raise InvalidCredentials(
            gettext(
                "“%(value)s” looks like a domain name. The %(label)s is a 32-character "
                "hexadecimal value: %(where)s."
            )
            % {"value": cleaned, "label": label, "where": where},
            field=field,
        )
    raise InvalidCredentials(
        ngettext(
            # Translators: %(label)s is "Zone ID" or "Account ID". The English singular keeps
            # "characters" (the message has always read so); translate each form properly.
            "The %(label)s must be 32 hexadecimal characters (0-9, a-f); this value has "
            "%(count)d characters. %(where)s.",
            "The %(label)s must be 32 hexadecimal characters (0-9, a-f); this value has "
            "%(count)d characters. %(where)s.",
            len(cleaned),
        )
        % {"label": label, "count": len(cleaned), "where": where},
        field=field,
    )


def clean_email(value: str | None, *, field: str = "email") -> str:
    """A trimmed account email address as CDN APIs accept it (ASCII only).

    :raises InvalidCredentials: empty, not an address, or not ASCII.
    """
    email = clean_value(value, field=field, label=gettext("email address"))
    if not email:
        raise InvalidCredentials(
            gettext("Enter the email address of the account that owns the key."), field=field
        )
    if not email.isascii():
        raise InvalidCredentials(
            gettext(
                "The email address contains characters outside ASCII, which cannot be sent "
                "in an HTTP header. Enter the address exactly as you log in with it (an "
                "internationalised domain in its xn-- form)."
            ),
            field=field,
        )
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidCredentials(
            gettext("Enter the email address you log in to the CDN's dashboard with."),
            field=field,
        ) from None
    return email
