"""The admin's users and forms as the tests meet them: staff accounts with given
permissions, a logged-in client, a valid zone form, a page read as text."""

from __future__ import annotations

import re
from html import unescape

from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.cfapi import ZONE_ID

#: The staff roles of the permission table (``staff`` is a staff account with none).
PERMISSIONS = {
    "staff": (),
    "viewer": ("view_zone", "view_purgerequest"),
    "changer": ("view_zone", "change_zone", "view_purgerequest", "change_purgerequest"),
    "purger": ("purge_cache", "view_purgerequest"),
}


def make_user(name: str) -> User | None:
    """``anonymous`` (None), ``superuser``, or a staff user with the permissions of the
    role ``name`` in :data:`PERMISSIONS`."""
    if name == "anonymous":
        return None
    if name == "superuser":
        return User.objects.create_superuser(name, email="", password=None)
    user = User.objects.create_user(name, password=None, is_staff=True)
    codenames = PERMISSIONS[name]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    assert user.user_permissions.count() == len(codenames)
    return User.objects.get(pk=user.pk)  # permissions are cached on the instance


def staff_client(*codenames: str, superuser: bool = False) -> Client:
    """A client logged in as a staff user with exactly ``codenames`` (or a superuser)."""
    if superuser:
        user = User.objects.create_superuser("root", email="", password=None)
    else:
        user = User.objects.create_user("-".join(codenames) or "staff", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    return client


def zone_post(**overrides: str) -> dict[str, str]:
    """A valid Cloudflare zone form; the token field is blank (a stored token is kept)."""
    data = {
        "name": "example.com",
        "zone_id": ZONE_ID,
        "account_id": "",
        "hostnames": "",
        "auth_kind": "token",
        "api_token": "",
        "email": "",
        "api_key": "",
        "plan": "free",
        "enabled": "on",
    }
    data.update(overrides)
    return data


def page_text(html: str) -> str:
    """``html`` as text: tags removed (``<wbr>``: a break opportunity, no space)."""
    html = html.replace("<wbr>", "")
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
