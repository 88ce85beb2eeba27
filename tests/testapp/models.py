"""Models used by the test suite (a small photo library)."""

import django
from django.core.files.storage import FileSystemStorage
from django.db import models


class _OverwritingFileSystemStorage(FileSystemStorage):
    """``FileSystemStorage(allow_overwrite=True)`` for Django < 5.1, which lacks the option."""

    def get_available_name(self, name, max_length=None):
        # Without the option, saving opens the file with O_EXCL: remove the old one first.
        self.delete(name)
        return name


def overwriting_storage() -> FileSystemStorage:
    """A file system storage that writes a new file over an existing one of the same name."""
    if django.VERSION >= (5, 1):
        return FileSystemStorage(allow_overwrite=True)
    return _OverwritingFileSystemStorage()


class Folder(models.Model):
    slug = models.SlugField(unique=True)

    def __str__(self) -> str:
        return self.slug


class Photo(models.Model):
    title = models.CharField(max_length=100, blank=True)
    image = models.FileField(upload_to="photos/")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL)
    is_public = models.BooleanField(default=True)
    views = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.title or f"photo {self.pk}"


class Document(models.Model):
    """Never registered: the control for "unregistered models cost nothing"."""

    file = models.FileField(upload_to="docs/")
    title = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.title


class PublicPhoto(Photo):
    """A proxy: its saves are sent with the proxy as sender."""

    class Meta:
        proxy = True


class Poster(models.Model):
    """Two file fields: a change must reach both."""

    original = models.FileField(upload_to="posters/")
    preview = models.FileField(upload_to="posters/previews/", blank=True)
    is_public = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.original.name or ""


class Banner(models.Model):
    """Files on a storage that overwrites: a new upload of ``a.png`` keeps its name.

    One image and one plain file, since Django writes them through different paths.
    """

    title = models.CharField(max_length=100, blank=True)
    image = models.ImageField(upload_to="banners/", storage=overwriting_storage)
    leaflet = models.FileField(upload_to="leaflets/", storage=overwriting_storage, blank=True)

    def __str__(self) -> str:
        return self.title or self.image.name or ""
