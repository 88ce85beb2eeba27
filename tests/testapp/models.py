"""Models used by the test suite (a small photo library)."""

from django.db import models


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
