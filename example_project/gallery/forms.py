"""Forms of the upload page and of the image page's actions."""

from __future__ import annotations

import os
from typing import Any

from django import forms

from .models import Folder, Image


class UploadForm(forms.ModelForm):
    """Upload a new image; the title defaults to the file's name."""

    class Meta:
        model = Image
        fields = ["file", "title", "folder", "is_public"]
        labels = {"file": "Image", "is_public": "Public (listed in the galleries)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("file")
        if not cleaned.get("title") and upload is not None:
            stem = os.path.splitext(os.path.basename(upload.name))[0]
            cleaned["title"] = stem.replace("-", " ").replace("_", " ").strip() or "Untitled"
            self.instance.title = cleaned["title"]
        return cleaned


class ReplaceForm(forms.Form):
    """New content for an image, stored under its current name."""

    file = forms.ImageField(label="New image")


class RenameForm(forms.Form):
    """A new title; the file is renamed to match it."""

    title = forms.CharField(label="New name", max_length=200)


class MoveForm(forms.Form):
    """The folder to move an image to."""

    folder = forms.ModelChoiceField(queryset=Folder.objects.all(), empty_label=None)
