"""Admin for folders and images. Saves go through the same model code as the site's pages,
so every change made here is purged too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Folder, Image


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    """Folders; a folder's slug is part of its images' file paths, so it is fixed once saved."""

    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("slug",) if obj is not None else ()

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        return {} if obj is not None else dict(self.prepopulated_fields)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    """Images; moving one to another folder moves its files as the image page does."""

    list_display = ("title", "folder", "is_public", "is_blocked", "uploaded_at")
    list_filter = ("folder", "is_public", "is_blocked")
    list_editable = ("is_public", "is_blocked")
    search_fields = ("title", "file")
    readonly_fields = ("thumbnail", "uploaded_at")

    def save_model(self, request: HttpRequest, obj: Image, form: Any, change: bool) -> None:
        if change and "folder" in form.changed_data and "file" not in form.changed_data:
            obj.relocate_files()
        super().save_model(request, obj, form, change)
