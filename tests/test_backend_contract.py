"""The backend contract, proved by a CDN defined here in a few dozen lines: selected by a
setting, it runs the whole pipeline (a save, the outbox, a drain, the calls, Test
connection, the admin) with no change to django-cfpurge's core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from django_cfpurge.backends.base import (
    Backend,
    CredentialField,
    RateBudget,
    RemoteZone,
    Step,
    StepResult,
    StepStatus,
    TestContext,
)
from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.drain import drain
from django_cfpurge.enums import Kind
from django_cfpurge.exceptions import InvalidCredentials, ServerError
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.registry import registry
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db


# -- the whole backend ---------------------------------------------------------------------
@dataclass(frozen=True)
class NoteKey:
    bucket: str
    key: str


class KeyAccepted(Step):
    key = "key"
    label = "Key"

    def run(self, context: TestContext) -> StepResult:
        context.remote = context.backend.describe_zone()
        return StepResult(StepStatus.OK, f"Bucket {context.remote.name} accepts the key.")


class NoteCDN(Backend):
    name = "notecdn"
    verbose_name = "Note CDN"
    kinds = (Kind.FILES, Kind.TAGS)
    credential_fields = (
        CredentialField("zone_id", "Bucket"),
        CredentialField("api_key", "Key", secret=True),
    )
    step_classes = (KeyAccepted,)
    calls: ClassVar[list[tuple[str, list[Any]]]] = []
    failures: ClassVar[list[Exception]] = []

    @classmethod
    def clean_credentials(cls, values: Mapping[str, str]) -> NoteKey:
        if not values.get("api_key", "").startswith("nk-"):
            raise InvalidCredentials("A Note CDN key starts with nk-.", field="api_key")
        return NoteKey(values["zone_id"], values["api_key"])

    def max_items(self, kind: str) -> int:
        return 2

    def rate_limit_key(self) -> str:
        return f"notecdn-{self.credentials.bucket}"

    def budget(self, kind: str) -> RateBudget:
        return RateBudget("all", 100, 1.0)

    def purge(self, kind: str, items: Sequence[Any]) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.calls.append((kind, list(items)))
        return f"receipt-{len(self.calls)}"

    def describe_zone(self) -> RemoteZone:
        return RemoteZone(name=self.credentials.bucket, hostnames=("media.example.org",))


# -- the pipeline with it -------------------------------------------------------------------
SETTINGS = {
    "BASE_URLS": ["https://media.example.org"],
    "BACKENDS": {"notecdn": "tests.test_backend_contract.NoteCDN"},
}


@pytest.fixture(autouse=True)
def notecdn():
    NoteCDN.calls.clear()
    NoteCDN.failures.clear()
    with override_settings(CFPURGE=SETTINGS), registry.override():
        registry.register(Photo, fields=["image"], tags=lambda change: [f"photo-{change.pk}"])
        yield


def make_notecdn_zone(**fields: Any) -> Zone:
    values = {
        "name": "gallery",
        "backend": "notecdn",
        "zone_id": "gallery",
        "api_key": "nk-secret-0001",
        **fields,
    }
    return Zone.objects.create(**values)


def test_a_save_is_purged_through_the_backend_in_its_batches():
    make_notecdn_zone()
    photos = []
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        photo = Photo()
        photo.image.save(name, ContentFile(b"x"))
        photos.append(photo)
    report = drain()
    urls = [f"https://media.example.org/media/{p.image.name}" for p in photos]
    assert (
        NoteCDN.calls
        == [
            ("files", urls[:2]),  # its own limit: two items per call
            ("files", urls[2:]),
            ("tags", [f"photo-{photos[0].pk}", f"photo-{photos[1].pk}"]),
            ("tags", [f"photo-{photos[2].pk}"]),
        ]
    )
    assert report.done == 3
    assert set(PurgeRequest.objects.values_list("status", flat=True)) == {"done"}
    # Routed by the hostnames the backend reported, learnt before anyone ran Test connection.
    assert Zone.objects.get().remote_hostnames == ["media.example.org"]


def test_its_errors_are_classified_by_their_type():
    make_notecdn_zone()
    NoteCDN.failures.append(ServerError("Note CDN is down.", status_code=503))
    photo = Photo()
    photo.image.save("a.jpg", ContentFile(b"x"))
    drain()
    row = PurgeRequest.objects.get()
    assert (row.status, row.error_kind, row.attempts) == ("pending", "server", 1)
    assert row.last_error == "Zone “gallery”: Note CDN is down."


def test_a_kind_it_does_not_support_is_skipped_with_the_reason():
    from django_cfpurge import purge_prefixes

    make_notecdn_zone()
    row = purge_prefixes(["media.example.org/media/"])
    drain()
    row.refresh_from_db()
    assert row.status == "skipped"
    assert row.skipped_targets == [
        {
            "target": "media.example.org/media/",
            "reason": "Note CDN cannot purge prefixes (zone “gallery”).",
        }
    ]
    assert NoteCDN.calls == []


def test_test_connection_runs_its_steps_after_checking_its_values():
    zone = make_notecdn_zone()
    report = run_connection_test(zone)
    assert [(s.key, s.status, s.message) for s in report.steps] == [
        ("local", "ok", "The values are well-formed."),
        ("key", "ok", "Bucket gallery accepts the key."),
    ]
    bad = make_notecdn_zone(name="bad", api_key="wrong")
    report = run_connection_test(bad)
    assert [(s.key, s.status) for s in report.steps] == [("local", "error"), ("key", "skipped")]
    assert report.steps[0].message == "A Note CDN key starts with nk-."


def test_the_admin_asks_for_its_fields_and_keeps_its_secret(admin_client):
    html = admin_client.get("/admin/django_cfpurge/zone/add/").content.decode()
    assert "?backend=notecdn" in html and "Note CDN" in html
    html = admin_client.get("/admin/django_cfpurge/zone/add/?backend=notecdn").content.decode()
    assert "Bucket" in html and 'name="api_key"' in html
    assert 'name="api_token"' not in html and 'name="auth_kind"' not in html
    response = admin_client.post(
        "/admin/django_cfpurge/zone/add/?backend=notecdn",
        {"name": "gallery", "zone_id": "gallery", "api_key": "nk-secret-0001", "enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    zone = Zone.objects.get()
    assert (zone.backend, zone.api_key) == ("notecdn", "nk-secret-0001")
    html = admin_client.get(f"/admin/django_cfpurge/zone/{zone.pk}/change/").content.decode()
    assert "nk-secret-0001" not in html
    assert "ends in …0001" in html
    response = admin_client.post(
        "/admin/django_cfpurge/zone/add/?backend=notecdn",
        {"name": "other", "zone_id": "other", "api_key": "wrong", "enabled": "on"},
    )
    assert "A Note CDN key starts with nk-." in response.content.decode()
