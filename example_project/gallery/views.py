"""Pages of the demo image host.

Two kinds of pages:

* public pages (galleries, ``/random/``, media files) are the same for everyone and
  say so with ``Cache-Control: public, s-maxage=…``: the edge keeps them, and only a
  purge makes it forget a change. They never touch the session or the CSRF token,
  so they carry no cookie that would stop the edge from caching them;
* management pages (upload, image page, edge log) are ``never_cache``.

The origin always tells the truth: a blocked or private image answers 404 here at
once. Whatever the edge still serves after that is what a purge must remove.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from django_cfpurge.models import PurgeRequest
from django_cfpurge.targets import absolute_urls

from .forms import MoveForm, RenameForm, ReplaceForm, UploadForm
from .models import Folder, Image

logger = logging.getLogger(__name__)

#: Seconds the edge may keep each kind of public answer (browsers revalidate every time).
GALLERY_TTL = 3600
MEDIA_TTL = 86400
RANDOM_TTL = 60

PURGE_QUEUED = "The purge is queued; it shows on the edge log within seconds."


def _public(response: HttpResponseBase, seconds: int) -> HttpResponseBase:
    # max-age=0 keeps browsers from adding a cache of their own: the one that may lie is
    # the edge, and the demo is about that one.
    patch_cache_control(response, public=True, max_age=0, s_maxage=seconds)
    return response


def _file_response(fieldfile: FieldFile, seconds: int | None) -> FileResponse:
    try:
        handle = fieldfile.storage.open(fieldfile.name, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    content_type = mimetypes.guess_type(fieldfile.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    if seconds is None:
        patch_cache_control(response, private=True, no_store=True, max_age=0)
    else:
        _public(response, seconds)
    return response


# -- public pages --------------------------------------------------------------------------------


def gallery_all(request: HttpRequest) -> HttpResponseBase:
    """Every visible image."""
    images = Image.objects.visible().select_related("folder")
    response = render(request, "gallery/gallery.html", {"images": images, "folder": None})
    return _public(response, GALLERY_TTL)


def gallery_folder(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The visible images of one folder."""
    folder = get_object_or_404(Folder, slug=slug)
    images = folder.images.visible().select_related("folder")
    response = render(request, "gallery/gallery.html", {"images": images, "folder": folder})
    return _public(response, GALLERY_TTL)


def random_image(request: HttpRequest) -> HttpResponseBase:
    """The bytes of a random visible image (the edge keeps one pick for a minute)."""
    image = Image.objects.visible().order_by("?").first()
    if image is None:
        raise Http404("No visible image.")
    return _file_response(image.file, RANDOM_TTL)


def media(request: HttpRequest, name: str) -> HttpResponseBase:
    """An image or thumbnail file, only while its image is visible."""
    image = Image.objects.filter(Q(file=name) | Q(thumbnail=name)).first()
    if image is None or not image.visible:
        raise Http404("No such image.")
    fieldfile = image.file if image.file.name == name else image.thumbnail
    return _file_response(fieldfile, MEDIA_TTL)


# -- management pages ----------------------------------------------------------------------------


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """Upload form, folders and every image (visible or not)."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            image = form.save()
        messages.success(request, f"Uploaded “{image.title}”. {PURGE_QUEUED}")
        return redirect(image)
    context = {
        "form": form,
        "folders": Folder.objects.all(),
        "images": Image.objects.select_related("folder"),
    }
    return render(request, "gallery/home.html", context, status=400 if form.errors else 200)


def _public_urls(fieldfile: FieldFile) -> list[str]:
    return absolute_urls(fieldfile.url) if fieldfile else []


@never_cache
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One image: its public URLs, the actions, and what its changes purged."""
    image = get_object_or_404(Image.objects.select_related("folder"), pk=pk)
    history = PurgeRequest.objects.filter(model_label=Image._meta.label, object_pk=str(pk))[:10]
    context = {
        "image": image,
        "file_urls": _public_urls(image.file),
        "thumbnail_urls": _public_urls(image.thumbnail),
        "replace_form": ReplaceForm(),
        "rename_form": RenameForm(initial={"title": image.title}),
        "move_form": MoveForm(initial={"folder": image.folder}),
        "history": history,
    }
    return render(request, "gallery/detail.html", context)


@never_cache
def preview(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The thumbnail for the image page, whatever the image's state (never cached)."""
    image = get_object_or_404(Image, pk=pk)
    return _file_response(image.thumbnail or image.file, None)


def _replace(request: HttpRequest, image: Image) -> str | None:
    form = ReplaceForm(request.POST, request.FILES)
    if not form.is_valid():
        return None
    image.replace_file(form.cleaned_data["file"])
    return "Replaced the file; its URL is unchanged, so the edge copy is purged."


def _rename(request: HttpRequest, image: Image) -> str | None:
    form = RenameForm(request.POST)
    if not form.is_valid():
        return None
    image.rename(form.cleaned_data["title"])
    return f"Renamed to “{image.title}”."


def _move(request: HttpRequest, image: Image) -> str | None:
    form = MoveForm(request.POST)
    if not form.is_valid():
        return None
    image.move_to(form.cleaned_data["folder"])
    return f"Moved to {image.folder}."


def _flag(name: str, value: bool, text: str) -> Callable[[HttpRequest, Image], str]:
    def action(request: HttpRequest, image: Image) -> str:
        image.set_flag(name, value)
        return text

    return action


_ACTIONS: dict[str, Callable[[HttpRequest, Image], str | None]] = {
    "replace": _replace,
    "rename": _rename,
    "move": _move,
    "block": _flag("is_blocked", True, "Blocked: the origin now answers 404 for its files."),
    "unblock": _flag("is_blocked", False, "Unblocked."),
    "make-private": _flag("is_public", False, "Made private: it left the public pages."),
    "make-public": _flag("is_public", True, "Made public."),
}


@require_POST
def image_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Run one action of the image page, then show the page again."""
    image = get_object_or_404(Image.objects.select_related("folder"), pk=pk)
    if action == "delete":
        title = image.title
        with transaction.atomic():
            image.delete()
        messages.success(request, f"Deleted “{title}”. {PURGE_QUEUED}")
        return redirect("gallery:home")
    handler = _ACTIONS.get(action)
    if handler is None:
        raise Http404("No such action.")
    with transaction.atomic():
        done = handler(request, image)
    if done is None:
        messages.error(request, "That did not work: check the form and try again.")
    else:
        messages.success(request, f"{done} {PURGE_QUEUED}")
    return redirect(image)


def _fake_purges() -> tuple[list[dict[str, Any]], str]:
    """The purge calls the fake Cloudflare received, newest first, and an error text."""
    url = f"{settings.FAKE_CLOUDFLARE_URL.rstrip('/')}/__fake__/purges"
    try:
        response = requests.get(url, timeout=3)
        response.raise_for_status()
        purges = response.json()["purges"]
    except (requests.RequestException, ValueError, KeyError) as err:
        logger.info("The fake Cloudflare did not answer at %s: %s", url, err)
        return [], f"The fake Cloudflare did not answer at {url} ({type(err).__name__})."
    for purge in purges:
        purge["urls"] = [
            item["url"] if isinstance(item, dict) else str(item) for item in purge["items"]
        ]
    return list(reversed(purges)), ""


@never_cache
def edge_log(request: HttpRequest) -> HttpResponse:
    """Every purge call the (fake) Cloudflare API received, newest first, and the outbox.

    ``?format=json`` answers the same as JSON (the smoke test reads that).
    """
    purges, error = _fake_purges()
    waiting = PurgeRequest.objects.filter(
        status__in=[PurgeRequest.Status.PENDING, PurgeRequest.Status.HELD]
    ).count()
    failed = PurgeRequest.objects.filter(status=PurgeRequest.Status.FAILED).count()
    if request.GET.get("format") == "json":
        return JsonResponse(
            {"purges": purges, "error": error, "outbox": {"waiting": waiting, "failed": failed}}
        )
    context = {
        "purges": purges,
        "error": error,
        "waiting": waiting,
        "failed": failed,
        "rows": PurgeRequest.objects.select_related("zone")[:15],
        "fake_url": settings.FAKE_CLOUDFLARE_URL,
    }
    return render(request, "gallery/edge_log.html", context)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """``ok`` once the server answers and its database is reachable (for start-up scripts)."""
    Folder.objects.exists()
    return HttpResponse("ok", content_type="text/plain")
