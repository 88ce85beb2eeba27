"""What the integration tests' processes need to register ``testapp.Photo``.

Scenario processes (playing the web site) and Celery workers register the model the same
way: the registration is in ``CFPURGE["MODELS"]``, given to every process through
``CFPURGE_IT_SETTINGS``, and names :func:`gallery_urls` for the extra URLs. The media
storage is :class:`OverwriteStorage`, so that a same-name upload replaces the file.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import FileSystemStorage


def gallery_urls(change: Any) -> list[str]:
    """Extra URLs of a photo change: its own gallery page and the pages of its folders.

    Both the folder it was in and the one it is in now, when it moved. Every URL belongs to
    one photo or one folder, so changes to different photos purge disjoint sets of URLs.
    """
    folders: set[int] = set()
    current = change.values.get("folder")
    if current is not None:
        folders.add(int(current))
    for value in change.fields.get("folder", ()):
        if value is not None:
            folders.add(int(value))
    return [photo_page(change.pk), *(folder_page(f) for f in sorted(folders))]


def photo_page(pk: Any) -> str:
    """Path of a photo's gallery page."""
    return f"/gallery/photo/{pk}/"


def folder_page(folder_id: Any) -> str:
    """Path of a folder's gallery page."""
    return f"/gallery/folder/{folder_id}/"


class OverwriteStorage(FileSystemStorage):
    """Writes an upload over an existing file of the same name, as S3 with overwrite does.

    Lets the tests exercise the "same name overwritten" change: the stored name stays, the
    bytes behind its URL change.
    """

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        if self.exists(name):
            self.delete(name)
        return super().get_available_name(name, max_length=max_length)
