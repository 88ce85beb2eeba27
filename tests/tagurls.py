"""URLs of :mod:`tests.tagpages`."""

from django.urls import path

from tests import tagpages

urlpatterns = [
    path("gallery/", tagpages.gallery, name="gallery"),
    path("gallery-tr/", tagpages.gallery_template_response, name="gallery_tr"),
    path("photos/<int:pk>/", tagpages.photo, name="photo"),
    path("photos/<int:pk>/url/", tagpages.photo_url, name="photo_url"),
    path("photos/<int:pk>/cached/", tagpages.cached_photo, name="cached_photo"),
    path("count/", tagpages.count, name="count"),
    path("documents/", tagpages.documents, name="documents"),
    path("private/", tagpages.private, name="private"),
    path("api/photos/", tagpages.api_photos, name="api_photos"),
    path("decorated/", tagpages.decorated_gallery, name="decorated"),
    path("async-count/", tagpages.async_count, name="async_count"),
]
