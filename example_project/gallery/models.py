"""Folders and images of the demo image host.

File names follow one layout, so that a URL tells where an image lives::

    images/<folder slug>/<name>.<ext>     the uploaded image
    thumbs/<folder slug>/<name>.jpg       its thumbnail, made with Pillow on save

Renaming or moving an image moves its files, so its URLs change and the old ones
must leave the CDN. Replacing an image keeps its name, so the URL stays the same
and only a purge can stop the CDN serving the old bytes.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from io import BytesIO
from typing import Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils.text import slugify
from PIL import Image as PILImage
from PIL import ImageOps

logger = logging.getLogger(__name__)

#: Longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 320
#: Set on an instance to make the next upload keep this exact name (see ``replace_file``).
KEEP_NAME_ATTR = "_gallery_keep_file_name"


class Folder(models.Model):
    """A named group of images, with its own public gallery page."""

    name = models.CharField(max_length=100)
    # Part of every file path of the folder's images: fixed once the folder exists.
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        """The folder's public gallery page."""
        return reverse("gallery:folder", args=[self.slug])


def image_upload_to(instance: Image, filename: str) -> str:
    """``images/<folder slug>/<slugified name>.<ext>`` (or the name being kept)."""
    kept = getattr(instance, KEEP_NAME_ATTR, None)
    if kept:
        return kept
    stem, ext = os.path.splitext(os.path.basename(filename))
    return f"images/{instance.folder.slug}/{slugify(stem) or 'image'}{ext.lower() or '.png'}"


def thumbnail_name_for(file_name: str) -> str:
    """The thumbnail name that goes with an image name (``images/a/b.png`` → ``thumbs/a/b.jpg``)."""
    parts = file_name.split("/")
    folder = parts[1] if len(parts) > 2 else "misc"
    stem = os.path.splitext(parts[-1])[0]
    return f"thumbs/{folder}/{stem}.jpg"


def thumbnail_upload_to(instance: Image, filename: str) -> str:
    """Thumbnails are named after their image (saved first: it is declared first)."""
    return thumbnail_name_for(instance.file.name)


def folder_slug_of(file_name: str | None) -> str | None:
    """The folder slug inside a stored name (``images/<slug>/...``), or None."""
    parts = (file_name or "").split("/")
    return parts[1] if len(parts) > 2 else None


def make_thumbnail(source: File) -> ContentFile:
    """A JPEG thumbnail of an image file, at most :data:`THUMBNAIL_SIZE` pixels wide and high."""
    source.seek(0)
    with PILImage.open(source) as opened:
        picture = ImageOps.exif_transpose(opened)
        picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        if picture.mode in ("RGBA", "LA", "P"):
            picture = picture.convert("RGBA")
            background = PILImage.new("RGB", picture.size, "white")
            background.paste(picture, mask=picture.getchannel("A"))
            picture = background
        elif picture.mode != "RGB":
            picture = picture.convert("RGB")
        buffer = BytesIO()
        picture.save(buffer, "JPEG", quality=82, optimize=True)
    source.seek(0)
    return ContentFile(buffer.getvalue(), name="thumbnail.jpg")


def _delete_stored(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.warning("Could not delete the stored file %s", name)


class ImageQuerySet(models.QuerySet["Image"]):
    """Queries on images."""

    def visible(self) -> ImageQuerySet:
        """Images anyone may see: public and not blocked."""
        return self.filter(is_public=True, is_blocked=False)


class Image(models.Model):
    """An uploaded image and its thumbnail."""

    title = models.CharField(max_length=200)
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to=image_upload_to, max_length=255)
    thumbnail = models.FileField(
        upload_to=thumbnail_upload_to, max_length=255, blank=True, editable=False
    )
    is_public = models.BooleanField("public", default=True)
    is_blocked = models.BooleanField("blocked", default=False)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ("-uploaded_at", "-id")

    def __str__(self) -> str:
        return self.title

    # -- saving ----------------------------------------------------------------------------

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; new file content gets a new thumbnail, and files no longer used are removed
        once the transaction commits."""
        if self.file and not getattr(self.file, "_committed", True):
            self.thumbnail = make_thumbnail(self.file)
        stored = self._stored_names()
        super().save(*args, **kwargs)
        for name in stored - {self.file.name, self.thumbnail.name}:
            transaction.on_commit(partial(_delete_stored, self.file.storage, name))

    def get_absolute_url(self) -> str:
        """The image's management page."""
        return reverse("gallery:detail", args=[self.pk])

    @property
    def visible(self) -> bool:
        """True if anyone may see the image: public and not blocked."""
        return self.is_public and not self.is_blocked

    def _stored_names(self) -> set[str]:
        if self.pk is None:
            return set()
        row = type(self)._base_manager.filter(pk=self.pk).values_list("file", "thumbnail").first()
        return {name for name in (row or ()) if name}

    # -- the actions of the image page -----------------------------------------------------

    def replace_file(self, upload: File) -> None:
        """Store new content under the image's current name: its URL does not change.

        FileSystemStorage never overwrites (it would pick a new name), so the old file
        and thumbnail are removed first and the upload is told to keep the name.
        """
        name, thumbnail = self.file.name, self.thumbnail.name
        self.file.storage.delete(name)
        if thumbnail:
            self.thumbnail.storage.delete(thumbnail)
        setattr(self, KEEP_NAME_ATTR, name)
        try:
            self.file = File(upload, name=os.path.basename(name))
            self.save()
        finally:
            delattr(self, KEEP_NAME_ATTR)

    def rename(self, title: str) -> None:
        """Change the title, and the file name to match it (the URL changes)."""
        self.title = title
        ext = os.path.splitext(self.file.name)[1].lower()
        target = f"images/{self.folder.slug}/{slugify(title) or 'image'}{ext}"
        if os.path.splitext(target)[0] != os.path.splitext(self.file.name)[0]:
            self._relocate(target)
        self.save()

    def move_to(self, folder: Folder) -> None:
        """Put the image in another folder; its files move to that folder's path."""
        self.folder = folder
        self.relocate_files()
        self.save()

    def relocate_files(self) -> None:
        """Move the files under the current folder's path if they are elsewhere (no save)."""
        if folder_slug_of(self.file.name) != self.folder.slug:
            self._relocate(f"images/{self.folder.slug}/{os.path.basename(self.file.name)}")

    def _relocate(self, target: str) -> None:
        # Copies now; the old files go when the transaction commits (see save()).
        self.file = _copy_stored(self.file, target)
        if self.thumbnail:
            self.thumbnail = _copy_stored(self.thumbnail, thumbnail_name_for(self.file.name))

    def set_flag(self, name: str, value: bool) -> None:
        """Set ``is_public`` or ``is_blocked`` and save."""
        if name not in ("is_public", "is_blocked"):
            raise ValueError(f"{name} is not a flag of an image")
        setattr(self, name, value)
        self.save()


def _copy_stored(fieldfile: FieldFile, target: str) -> str:
    storage = fieldfile.storage
    with storage.open(fieldfile.name, "rb") as handle:
        return storage.save(target, handle)


def delete_files(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    """``post_delete`` receiver: remove an image's files once the deletion commits."""
    for fieldfile in (instance.file, instance.thumbnail):
        if fieldfile and fieldfile.name:
            transaction.on_commit(partial(_delete_stored, fieldfile.storage, fieldfile.name))
