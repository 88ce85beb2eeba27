"""The names of the cache tags django-cfpurge writes on pages and purges.

Three tags per registered model, all starting with ``TAG_PREFIX`` (``cfpurge-``):

* the **object tag** ``cfpurge-o-gallery.image-42``: on every page that loaded or showed
  object 42; purged with every change of that object;
* the **listing tag** ``cfpurge-l-gallery.image``: on every page that queried the model
  (a listing, a count, a search, a lookup that may have found nothing); purged by the
  changes that can alter what a query finds: a creation, a delete, a change of a
  watched field, a bulk change;
* the **model tag** ``cfpurge-m-gallery.image``: on a page whose object tags did not fit
  in the CDN's header (then it stands for all of them); purged with every change.

Tags use lower-case letters, digits, ``.``, ``_`` and ``-`` only, so that they are valid
on every CDN and need no escaping. A primary key that does not fit this alphabet, or
is long, is named by a hash.
"""

from __future__ import annotations

import hashlib
import re

from ..conf import get_tag_prefix

#: A primary key written as is in an object tag (anything else is hashed).
_PLAIN_PK = re.compile(r"[a-z0-9_-]{1,40}")
#: Markers after the prefix.
OBJECT, LISTING, MODEL = "o", "l", "m"


def _label(label: str) -> str:
    return label.lower()


def _pk(pk: object) -> str:
    text = str(pk)
    if _PLAIN_PK.fullmatch(text):
        return text
    # Case matters in a key ("A" and "a" are two rows) but not to CDNs: hash it.
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:24]


def object_tag(label: str, pk: object) -> str:
    """The tag of one object (``label``: the registration's ``app_label.Model``)."""
    return f"{get_tag_prefix()}{OBJECT}-{_label(label)}-{_pk(pk)}"


def listing_tag(label: str) -> str:
    """The tag of every page that queried the model."""
    return f"{get_tag_prefix()}{LISTING}-{_label(label)}"


def model_tag(label: str) -> str:
    """The tag that stands for all the model's object tags on a page too big for them."""
    return f"{get_tag_prefix()}{MODEL}-{_label(label)}"


def is_page_tag(tag: str) -> bool:
    """Whether ``tag`` is one that django-cfpurge writes on pages."""
    prefix = get_tag_prefix()
    return tag.startswith(tuple(f"{prefix}{m}-" for m in (OBJECT, LISTING, MODEL)))
