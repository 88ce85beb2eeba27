"""Pages of a small photo site, for the cache tag tests: how real sites show objects.

Each view is reached under ``/tagged/`` (``tests.tagurls``); the middleware or the
decorator tags them.
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.response import TemplateResponse
from django.views.decorators.cache import cache_control, never_cache
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from django_cfpurge.decorators import cache_tags
from tests.testapp.models import Document, Photo


@cache_control(public=True, s_maxage=600)
def gallery(request: HttpRequest) -> HttpResponse:
    """A listing whose queryset is iterated by the template (lazily)."""
    photos = Photo.objects.filter(is_public=True).order_by("pk")
    return render(request, "testapp/gallery.html", {"photos": photos, "title": "All"})


@cache_control(public=True, s_maxage=600)
def gallery_template_response(request: HttpRequest) -> TemplateResponse:
    """The same listing as a TemplateResponse (rendered after the view returns)."""
    photos = Photo.objects.filter(is_public=True).order_by("pk")
    return TemplateResponse(request, "testapp/gallery.html", {"photos": photos, "title": "All"})


@cache_control(public=True, s_maxage=600)
def photo(request: HttpRequest, pk: int) -> HttpResponse:
    """One object, looked up by its key."""
    return render(request, "testapp/photo.html", {"photo": get_object_or_404(Photo, pk=pk)})


@cache_control(public=True, s_maxage=600)
def photo_url(request: HttpRequest, pk: int) -> JsonResponse:
    """A view that reads ``FieldFile.url`` itself."""
    found = Photo.objects.get(pk=pk)
    return JsonResponse({"url": found.image.url})


@cache_control(public=True, s_maxage=600)
def cached_photo(request: HttpRequest, pk: int) -> JsonResponse:
    """An object kept in Django's cache between requests (no query, no ``post_init``)."""
    key = f"tagpages-photo-{pk}"
    found = cache.get(key)
    if found is None:
        found = Photo.objects.get(pk=pk)
        cache.set(key, found)
    return JsonResponse({"url": found.image.url})


@cache_control(public=True, s_maxage=600)
def count(request: HttpRequest) -> HttpResponse:
    """A page that counts objects and loads none."""
    return HttpResponse(f"{Photo.objects.filter(is_public=True).count()} photos")


@cache_control(public=True, s_maxage=600)
def documents(request: HttpRequest) -> HttpResponse:
    """A page of a model that is not registered."""
    return HttpResponse(", ".join(d.title for d in Document.objects.all()))


@never_cache
def private(request: HttpRequest) -> HttpResponse:
    """A page no shared cache keeps."""
    return HttpResponse(", ".join(p.title for p in Photo.objects.all()))


class PhotoSerializer(serializers.ModelSerializer):
    class Meta:
        model = Photo
        fields = ["id", "title", "image"]


@api_view(["GET"])
def api_photos(request: HttpRequest) -> Response:
    """Django REST framework: a serializer reads each ``image``'s URL."""
    data = PhotoSerializer(Photo.objects.order_by("pk"), many=True).data
    response = Response(data)
    response["Cache-Control"] = "public, s-maxage=600"
    return response


@cache_tags
@cache_control(public=True, s_maxage=600)
def decorated_gallery(request: HttpRequest) -> TemplateResponse:
    """The listing, tagged by the decorator instead of the middleware."""
    photos = Photo.objects.filter(is_public=True).order_by("pk")
    return TemplateResponse(request, "testapp/gallery.html", {"photos": photos, "title": "All"})


@cache_tags
@cache_control(public=True, s_maxage=600)
async def async_count(request: HttpRequest) -> HttpResponse:
    """An async view."""
    total = await Photo.objects.acount()
    return HttpResponse(f"{total} photos")
