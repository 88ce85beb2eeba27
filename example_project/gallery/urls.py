"""URLs of the gallery app."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "gallery"

urlpatterns = [
    path("", views.home, name="home"),
    path("gallery/", views.gallery_all, name="all"),
    path("gallery/<slug:slug>/", views.gallery_folder, name="folder"),
    path("random/", views.random_image, name="random"),
    path("images/<int:pk>/", views.detail, name="detail"),
    path("images/<int:pk>/preview/", views.preview, name="preview"),
    path("images/<int:pk>/<slug:action>/", views.image_action, name="action"),
    path("media/<path:name>", views.media, name="media"),
    path("edge-log/", views.edge_log, name="edge_log"),
    path("healthz/", views.healthz, name="healthz"),
]
