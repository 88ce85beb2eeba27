"""``manage.py seed_demo``: the admin user, the CDN zone, folders and sample images.

Safe to run again: what exists already is kept (the demo user's password is reset to
``demo``, so the printed login always works).
"""

from __future__ import annotations

import math
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageDraw

from django_cfpurge.conf import get_setting
from django_cfpurge.models import Zone
from django_cfpurge.zones import settings_zones, sync_settings_zones
from gallery.models import Folder, Image

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"

RGB = tuple[int, int, int]
#: Folders (name, slug) and their images: (title, public, top colour, bottom colour, pattern).
SAMPLES: dict[tuple[str, str], list[tuple[str, bool, RGB, RGB, str]]] = {
    ("Landscapes", "landscapes"): [
        ("Sunrise", True, (255, 183, 77), (244, 81, 30), "sun"),
        ("Green hills", True, (129, 199, 132), (27, 94, 32), "hills"),
        ("Night sky", False, (26, 35, 126), (0, 0, 0), "stars"),
    ],
    ("Abstract", "abstract"): [
        ("Circles", True, (224, 64, 251), (74, 20, 140), "circles"),
        ("Stripes", True, (77, 208, 225), (0, 96, 100), "stripes"),
    ],
}

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _sun(draw: Any, width: int, height: int) -> None:
    draw.ellipse([300, 320, 500, 520], fill=(255, 241, 118))


def _hills(draw: Any, width: int, height: int) -> None:
    for i, shade in enumerate(((56, 142, 60), (46, 125, 50), (27, 94, 32))):
        points = [(x, 420 + 50 * i + 40 * math.sin(x / 90 + i)) for x in range(0, width, 20)]
        draw.polygon([*points, (width, height), (0, height)], fill=shade)


def _stars(draw: Any, width: int, height: int) -> None:
    for i in range(80):
        x, y = (i * 197) % width, (i * 113) % (height - 100)
        draw.ellipse([x, y, x + 3, y + 3], fill=(255, 255, 255))


def _circles(draw: Any, width: int, height: int) -> None:
    for i in range(8):
        r = 40 + 30 * i
        draw.ellipse([400 - r, 300 - r, 400 + r, 300 + r], outline=(255, 255, 255), width=4)


def _stripes(draw: Any, width: int, height: int) -> None:
    for x in range(-height, width, 60):
        draw.line([(x, 0), (x + height, height)], fill=(255, 255, 255), width=18)


_PATTERNS = {
    "sun": _sun,
    "hills": _hills,
    "stars": _stars,
    "circles": _circles,
    "stripes": _stripes,
}


def sample_png(
    title: str,
    top: RGB,
    bottom: RGB,
    pattern: str,
    size: tuple[int, int] = (800, 600),
) -> bytes:
    """A generated picture: a vertical gradient, a pattern and the title."""
    width, height = size
    picture = PILImage.new("RGB", size)
    draw = ImageDraw.Draw(picture)
    for y in range(height):
        t = y / (height - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    _PATTERNS[pattern](draw, width, height)
    draw.rectangle([0, height - 70, width, height], fill=(0, 0, 0))
    draw.text((24, height - 50), title, fill=(255, 255, 255), font_size=36)
    buffer = BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Create the demo user (demo/demo), the CDN zone, folders and sample images."

    def handle(self, *args: Any, **options: Any) -> None:
        self._user()
        self._zone()
        self._images()

    def _user(self) -> None:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        self.stdout.write(
            self.style.WARNING(
                f"Admin login: {DEMO_USERNAME} / {DEMO_PASSWORD} "
                f"({'created' if created else 'password reset'}; for this local demo only)."
            )
        )

    def _zone(self) -> None:
        if settings_zones():
            sync_settings_zones(force=True)
            names = ", ".join(
                f"{z['NAME']} ({z.get('BACKEND') or 'cloudflare'})" for z in settings_zones()
            )
            self.stdout.write(f"CDN zone from the environment: {names}.")
            return
        api_host = urlsplit(str(get_setting("API_URL"))).hostname or ""
        if api_host not in _LOOPBACK:
            self.stdout.write(
                "No CDN zone configured: set CFPURGE_ZONE_ID and CFPURGE_API_TOKEN, or "
                "add a zone in the admin. Changes are recorded meanwhile."
            )
            return
        # The API is the local fake: give the zone the fake's own (fake) credentials.
        from django_cfpurge.testing.cloudflare_api import DEFAULT_TOKEN, DEFAULT_ZONE_ID

        Zone.objects.update_or_create(
            name="demo",
            defaults={
                "zone_id": DEFAULT_ZONE_ID,
                "api_token": DEFAULT_TOKEN,
                "hostnames": "\n".join(get_setting("HOSTNAMES") or ["localhost", "127.0.0.1"]),
                "plan": "free",
            },
        )
        self.stdout.write("Cloudflare zone “demo” saved, pointing at the local fake API.")

    def _images(self) -> None:
        if Image.objects.exists():
            self.stdout.write("Sample images: already there.")
            return
        count = 0
        with transaction.atomic():
            for (name, slug), images in SAMPLES.items():
                folder, _ = Folder.objects.get_or_create(slug=slug, defaults={"name": name})
                for title, public, top, bottom, pattern in images:
                    image = Image(title=title, folder=folder, is_public=public)
                    content = sample_png(title, top, bottom, pattern)
                    image.file = ContentFile(content, name=f"{title}.png")
                    image.save()
                    count += 1
        self.stdout.write(f"Sample images: {count} created in {len(SAMPLES)} folders.")
