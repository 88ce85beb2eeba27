"""The gallery app: registers :class:`~gallery.models.Image` with django-cfpurge."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class GalleryConfig(AppConfig):
    """Connects the file clean-up and tells django-cfpurge what an image change purges."""

    name = "gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_cfpurge import register

        from .models import Folder, Image, delete_files

        post_delete.connect(delete_files, sender=Image, dispatch_uid="gallery:delete_files")
        post_save.connect(purge_folder_pages, sender=Folder, dispatch_uid="gallery:fs")
        post_delete.connect(purge_folder_pages, sender=Folder, dispatch_uid="gallery:fd")
        # Both files are purged by the library (old and new names). The pages that show
        # an image (the galleries, /random/) carry its cache tag, written by
        # CacheTagsMiddleware, and are purged by tag: no list of pages here. The watched
        # fields are those that decide which listing shows an image, and what it shows.
        register(
            Image,
            fields=["file", "thumbnail"],
            watch=["is_public", "is_blocked", "folder", "title"],
        )


def purge_folder_pages(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A folder's name shows on the gallery pages: purge them when a folder changes.

    Folders have no file, so they are not registered; the explicit API does the job,
    through the same outbox (one row in this transaction, sent after commit).
    """
    from django.urls import reverse

    from django_cfpurge import purge_urls

    purge_urls([reverse("gallery:all"), reverse("gallery:folder", args=[instance.slug])])
