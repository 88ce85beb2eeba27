"""From a recorded change to what Cloudflare must purge: absolute URLs, tags, prefixes.

* File URLs come from the field's own storage (``storage.url(name)``), so custom
  storages and CDNs with their own domain work.
* A relative URL (``MEDIA_URL = "/media/"``) is made absolute with every origin
  of ``BASE_URLS``: Cloudflare's cache key holds scheme and host.
* IRIs are percent-encoded (Cloudflare wants UTF-8-encoded URLs).
* Signed query strings (S3/GCS ``querystring_auth``) are dropped: each signature
  is its own cache key, so the purge targets the bare URL.
* ``/cdn-cgi/`` URLs cannot be purged (Cloudflare purges resized variants with the
  original) and are skipped with that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import models
from django.utils.encoding import iri_to_uri
from django.utils.translation import gettext

from .conf import SETTING_NAME, get_setting
from .exceptions import CfPurgeConfigurationError
from .registry import Registration, TargetSpec, registry

logger = logging.getLogger(__name__)

#: Purge kinds, in the order a drain sends them.
KINDS = ("files", "prefixes", "hosts", "tags", "everything")

#: Query parameters that mark a signed, per-request URL.
SIGNATURE_PARAMS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "signature",
        "x-goog-signature",
        "sig",
        "se",
        "expires",
        "awsaccesskeyid",
    }
)


@dataclass
class Change:
    """What happened to one object; given to ``urls=``/``tags=``/``prefixes=`` callables.

    :ivar event: ``created``, ``replaced``, ``overwritten``, ``changed``, ``deleted``
        or ``bulk``.
    :ivar model: the model class (None if it no longer exists in the code).
    :ivar pk: the object's primary key, as a string.
    :ivar instance: the object as it is now, or None when it was deleted.
    :ivar files: file field name → ``(old_name, new_name)`` for files that changed.
    :ivar fields: watched field name → ``(old, new)`` for watched fields that changed.
    :ivar values: watched field values at the time of the change (also for deletes).
    :ivar current: file field name → the name stored after the change.
    """

    event: str
    model: type[models.Model] | None
    pk: str
    instance: models.Model | None = None
    files: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    current: dict[str, str | None] = field(default_factory=dict)

    @property
    def old_names(self) -> list[str]:
        """File names the object had before the change (to purge)."""
        return _unique(old for old, _new in self.files.values() if old)

    @property
    def new_names(self) -> list[str]:
        """File names the object has after the change (to purge: a 404 may be cached)."""
        names = [new for _old, new in self.files.values() if new]
        if self._touches_every_file:
            names += [name for name in self.current.values() if name]
        return _unique(names)

    @property
    def _touches_every_file(self) -> bool:
        # A watched field (visibility, blocking…) decides whether every file of the
        # object is served, so its change affects them all, even in a save that also
        # replaced one of them.
        return self.event in ("changed", "bulk", "created") or bool(self.fields)

    @property
    def file_names(self) -> list[str]:
        """Every file name affected by the change: old ones first, then new ones."""
        return _unique([*self.old_names, *self.new_names])

    def names_for(self, field_name: str) -> list[str]:
        """Affected names of one file field."""
        names: list[str] = []
        if field_name in self.files:
            names += [n for n in self.files[field_name] if n]
        if self._touches_every_file and self.current.get(field_name):
            names.append(self.current[field_name])  # type: ignore[arg-type]
        return _unique(names)


def _unique(items: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for item in items:
        key = repr(item) if isinstance(item, dict) else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def change_from_row(row: Any, registration: Registration | None) -> Change:
    """Rebuild the :class:`Change` recorded on an outbox row (loads the instance if any)."""
    data = row.change or {}
    model = registration.model if registration else None
    instance = None
    if model is not None and row.event != "deleted" and row.object_pk:
        instance = model._base_manager.filter(pk=row.object_pk).first()
    return Change(
        event=row.event,
        model=model,
        pk=row.object_pk,
        instance=instance,
        files={k: (v[0], v[1]) for k, v in (data.get("files") or {}).items()},
        fields={k: (v[0], v[1]) for k, v in (data.get("fields") or {}).items()},
        values=dict(data.get("values") or {}),
        current=dict(data.get("current") or {}),
    )


def base_urls() -> list[str]:
    """The public origins of ``BASE_URLS``, without trailing slash.

    :raises CfPurgeConfigurationError: an entry is not an ``http(s)://host`` origin.
    """
    origins = get_setting("BASE_URLS") or []
    if isinstance(origins, str):
        origins = [origins]
    cleaned = []
    for origin in origins:
        parts = urlsplit(str(origin).strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CfPurgeConfigurationError(
                gettext(
                    "%(setting)s['BASE_URLS'] entries must look like “https://www.example.com”, "
                    "not %(origin)s."
                )
                % {"setting": SETTING_NAME, "origin": repr(origin)}
            )
        cleaned.append(
            urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))
        )
    return cleaned


def strip_signature(url: str) -> str:
    """Remove signing parameters from a URL's query string (keep the others)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in SIGNATURE_PARAMS]
    if len(kept) == len(pairs):
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))


def absolute_urls(url: str) -> list[str]:
    """Absolute, encoded purge URLs for one URL or path (one per origin for a path)."""
    url = iri_to_uri(str(url).strip())
    if not url:
        return []
    if url.startswith("//"):
        return [f"{origin.split('://')[0]}:{url}" for origin in base_urls()] or [f"https:{url}"]
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return [strip_signature(urlunsplit(parts._replace(netloc=parts.netloc.lower())))]
    path = url if url.startswith("/") else f"/{url}"
    origins = base_urls()
    if not origins:
        raise CfPurgeConfigurationError(
            gettext(
                "The URL %(url)s is relative and %(setting)s['BASE_URLS'] is empty: add the "
                "public origins that serve it, e.g. ['https://www.example.com']."
            )
            % {"url": repr(url), "setting": SETTING_NAME}
        )
    return [strip_signature(f"{origin}{path}") for origin in origins]


def file_urls(registration: Registration, field_name: str, name: str) -> list[str]:
    """Public URLs of the file ``name`` stored by ``field_name``'s storage."""
    field_obj = registration.model._meta.get_field(field_name)
    if not isinstance(field_obj, models.FileField):  # register() accepts file fields only
        raise CfPurgeConfigurationError(
            gettext("%(field)s is not a file field.")
            % {"field": f"{registration.label}.{field_name}"}
        )
    storage = field_obj.storage
    return absolute_urls(storage.url(name))


def _spec_values(spec: TargetSpec, change: Change) -> list[str]:
    if spec is None:
        return []
    values = spec(change) if callable(spec) else spec
    return [str(v) for v in (values or []) if v]


def resolve_change(registration: Registration, change: Change) -> dict[str, list[Any]]:
    """Targets by kind for a model change."""
    files: list[str] = []
    for field_name in registration.fields:
        for name in change.names_for(field_name):
            files += file_urls(registration, field_name, name)
    for extra in _spec_values(registration.urls, change):
        files += absolute_urls(extra)
    targets: dict[str, list[Any]] = {"files": _unique(files)}
    tags = _spec_values(registration.tags, change)
    if tags:
        targets["tags"] = _unique(tags)
    prefixes = _spec_values(registration.prefixes, change)
    if prefixes:
        targets["prefixes"] = _unique(normalise_prefix(p) for p in prefixes)
    return {k: v for k, v in targets.items() if v}


def normalise_prefix(prefix: str) -> str:
    """``https://Host/path`` or ``host/path`` → ``host/path`` (Cloudflare wants no scheme)."""
    prefix = iri_to_uri(prefix.strip())
    if "://" in prefix:
        parts = urlsplit(prefix)
        prefix = f"{parts.netloc.lower()}{parts.path}"
    host, _, path = prefix.partition("/")
    return f"{host.lower()}/{path}" if path else host.lower()


def normalise_explicit(targets: dict[str, Any]) -> dict[str, list[Any]]:
    """Normalise explicit targets (``purge_urls`` & co.): absolute URLs, bare hosts."""
    out: dict[str, list[Any]] = {}
    for kind, items in (targets or {}).items():
        if kind == "everything":
            if items:
                out["everything"] = [True]
            continue
        if kind == "files":
            urls: list[Any] = []
            for item in items:
                if isinstance(item, dict):
                    for url in absolute_urls(item["url"]):
                        urls.append({"url": url, "headers": dict(item.get("headers") or {})})
                else:
                    urls += absolute_urls(item)
            out["files"] = _unique(urls)
        elif kind == "prefixes":
            out["prefixes"] = _unique(normalise_prefix(p) for p in items)
        elif kind == "hosts":
            out["hosts"] = _unique(str(h).strip().lower() for h in items)
        elif kind == "tags":
            out["tags"] = _unique(str(t).strip() for t in items)
    return {k: v for k, v in out.items() if v}


def resolve_row(row: Any) -> dict[str, list[Any]]:
    """Targets by kind for an outbox row (a model change or explicit targets).

    :raises CfPurgeConfigurationError: ``BASE_URLS`` missing for relative URLs.
    """
    if row.source != "model":
        return normalise_explicit(row.targets)
    registration = registry.get_by_label(row.model_label)
    if registration is None:
        raise CfPurgeConfigurationError(
            gettext(
                "%(model)s is no longer registered with django-cfpurge; its change cannot be "
                "resolved to URLs."
            )
            % {"model": row.model_label}
        )
    return resolve_change(registration, change_from_row(row, registration))


def target_host(kind: str, item: Any) -> str | None:
    """The hostname a target belongs to (None for tags and everything)."""
    if kind == "files":
        url = item["url"] if isinstance(item, dict) else item
        return (urlsplit(url).hostname or "").lower() or None
    if kind == "prefixes":
        return str(item).split("/", 1)[0].lower()
    if kind == "hosts":
        return str(item).lower()
    return None


def is_unpurgeable(kind: str, item: Any) -> str:
    """Why a target cannot be purged (empty string if it can)."""
    if kind == "files":
        url = item["url"] if isinstance(item, dict) else item
        if urlsplit(url).path.startswith("/cdn-cgi/"):
            return gettext(
                "Cloudflare cannot purge /cdn-cgi/ URLs; purging the original URL purges "
                "its variants."
            )
    if kind == "prefixes" and ("?" in str(item) or "#" in str(item)):
        return gettext("A prefix cannot contain “?” or “#”.")
    return ""
