"""Which pages an image change purges, besides the image's own files.

django-cfpurge purges the file and thumbnail URLs (old and new names) of every
change by itself. :func:`image_pages` adds, for an image that is or was visible
(public and not blocked):

* ``/gallery/`` and the gallery page of its folder (both folders after a move) when
  the image appears, disappears, or its title, file name or folder changes;
* ``/random/`` when the image appears, disappears, or its file changes (replaced,
  renamed, moved), since ``/random/`` serves an image's bytes.

A private or blocked image is on no page, so its changes purge only its files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import reverse

from .models import folder_slug_of

if TYPE_CHECKING:
    from django_cfpurge.changes import Change

#: Events that the library records for a change of a registered model.
CREATED, DELETED = "created", "deleted"


def _visible(values: dict[str, Any]) -> bool:
    return bool(values.get("is_public")) and not values.get("is_blocked")


def _file_names(change: Change) -> tuple[str | None, str | None]:
    """The image's file name before and after the change."""
    current = change.current.get("file")
    before, after = change.files.get("file", (current, current))
    return before, after


def _folder_slugs(sides: list[tuple[Any, str | None]]) -> list[str]:
    """Slugs of the folders on each side (folder id, file name), in order, without repeats."""
    from .models import Folder

    ids = [folder_id for folder_id, _name in sides if folder_id is not None]
    by_id = dict(Folder.objects.filter(pk__in=ids).values_list("pk", "slug"))
    slugs: list[str] = []
    for folder_id, name in sides:
        # A folder deleted with its images is gone by now: its slug is in the file path.
        slug = by_id.get(folder_id) or folder_slug_of(name)
        if slug and slug not in slugs:
            slugs.append(slug)
    return slugs


def image_pages(change: Change) -> list[str]:
    """Paths of the pages that may show what ``change`` changed (see the module docstring).

    :param change: the recorded change; ``values`` holds the watched fields after it,
        ``fields`` the (old, new) pairs of those that changed.
    :returns: site paths, made absolute with ``CFPURGE["BASE_URLS"]`` by the library.
    """
    after = dict(change.values)
    before = {**after, **{name: pair[0] for name, pair in change.fields.items()}}
    was_visible = change.event != CREATED and _visible(before)
    is_visible = change.event != DELETED and _visible(after)
    if not (was_visible or is_visible):
        return []
    old_name, new_name = _file_names(change)
    appeared_or_gone = was_visible != is_visible
    listed_changed = (
        appeared_or_gone or old_name != new_name or bool({"folder", "title"} & set(change.fields))
    )
    paths: list[str] = []
    if listed_changed:
        sides = []
        if was_visible:
            sides.append((before.get("folder"), old_name))
        if is_visible:
            sides.append((after.get("folder"), new_name))
        paths.append(reverse("gallery:all"))
        paths += [reverse("gallery:folder", args=[slug]) for slug in _folder_slugs(sides)]
    if appeared_or_gone or "file" in change.files:
        paths.append(reverse("gallery:random"))
    return paths
