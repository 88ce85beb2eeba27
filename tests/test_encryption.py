"""Secrets at rest: encrypted columns, key rotation, unreadable values, the data migration.

Each test reads what an attacker with a copy of the database (or of a backup, a
fixture, a SQL log) would read, and checks the secret is not in it.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_cfpurge import api, crypto
from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.drain import drain
from django_cfpurge.fields import UnreadableSecret
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.testing import make_zone
from tests.cfapi import API_TOKEN, EMAIL, GLOBAL_API_KEY, ZONE_ID
from tests.staff import make_user, zone_post

pytestmark = pytest.mark.django_db

KEY_A = "django-insecure-key-A-" + "a" * 40
KEY_B = "django-insecure-key-B-" + "b" * 40
KEY_C = "django-insecure-key-C-" + "c" * 40
NEW_TOKEN = "N" * 40
UNREADABLE = (
    "The stored credentials cannot be read (the encryption keys changed): enter them again."
)


def raw(column: str, pk: int) -> str:
    """A column as stored, read with a cursor (no field conversion)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM django_cfpurge_zone WHERE id = %s", [pk])  # noqa: S608  (a column name of ours)
        return cursor.fetchone()[0]


def token_zone(name: str = "example.com") -> Zone:
    return make_zone(name, zone_id=ZONE_ID, api_token=API_TOKEN)


def key_zone(name: str = "legacy.example") -> Zone:
    return make_zone(
        name,
        zone_id=ZONE_ID,
        auth_kind="global_key",
        api_token="",
        email=EMAIL,
        api_key=GLOBAL_API_KEY,
    )


# -- at rest --------------------------------------------------------------------------


def test_raw_columns_hold_ciphertext():
    token, key = token_zone(), key_zone()
    for column, zone, secret in (("api_token", token, API_TOKEN), ("api_key", key, GLOBAL_API_KEY)):
        stored = raw(column, zone.pk)
        assert stored.startswith("fernet:")
        assert secret not in stored
        assert crypto.decrypt(stored) == secret
    assert Zone.objects.get(pk=token.pk).api_token == API_TOKEN
    assert Zone.objects.get(pk=key.pk).api_key == GLOBAL_API_KEY


def test_each_save_encrypts_afresh():
    zone = token_zone()
    first = raw("api_token", zone.pk)
    zone.save()
    assert raw("api_token", zone.pk) != first  # a new IV: equal secrets do not look equal


def test_dumpdata_shows_ciphertext_and_loaddata_reads_it_back(tmp_path):
    token_zone(), key_zone()
    out = io.StringIO()
    call_command("dumpdata", "django_cfpurge", format="json", stdout=out)
    dumped = out.getvalue()
    assert API_TOKEN not in dumped and GLOBAL_API_KEY not in dumped
    assert dumped.count('"fernet:') == 2
    fixture = tmp_path / "zones.json"
    fixture.write_text(dumped)
    Zone.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert Zone.objects.get(name="example.com").api_token == API_TOKEN
    assert Zone.objects.get(name="legacy.example").api_key == GLOBAL_API_KEY


def test_secret_lookups_are_refused_by_the_field():
    token_zone()
    from django.core.exceptions import FieldError

    for lookup in ("startswith", "contains", "regex", "icontains", "in", "gt"):
        with pytest.raises(FieldError):
            list(Zone.objects.filter(**{f"api_token__{lookup}": API_TOKEN[:4]}))
    # exact compares with a fresh ciphertext: it can never confirm a guess.
    assert not Zone.objects.filter(api_token=API_TOKEN).exists()


def test_a_form_built_from_the_model_renders_no_secret():
    from django.forms import modelform_factory

    zone = token_zone()
    form = modelform_factory(Zone, fields=["name", "api_token", "api_key"])(instance=zone)
    assert API_TOKEN not in form.as_p()


@override_settings(DEBUG=True)
def test_sql_log_shows_no_secret(admin_client, caplog):
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(
            "/admin/django_cfpurge/zone/add/?backend=cloudflare", zone_post(api_token=API_TOKEN)
        )
        assert response.status_code == 302
        zone = Zone.objects.get()
        url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
        response = admin_client.post(url, zone_post(api_token=NEW_TOKEN))
        assert response.status_code == 302
        assert Zone.objects.get().api_token == NEW_TOKEN
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    sql += "\n".join(q["sql"] for q in connection.queries)
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "fernet:" in sql  # the writes are in the log...
    for text in (sql, logged):
        for secret in (API_TOKEN, NEW_TOKEN):
            assert secret not in text  # ...encrypted


# -- rotation -------------------------------------------------------------------------


def test_rotation_of_secret_key_then_rotate_keys():
    with override_settings(SECRET_KEY=KEY_A):
        zone = token_zone()
        before = raw("api_token", zone.pk)
    crypto.clear_cache()
    with override_settings(SECRET_KEY=KEY_B, SECRET_KEY_FALLBACKS=[KEY_A]):
        assert Zone.objects.get(pk=zone.pk).api_token == API_TOKEN
        out = io.StringIO()
        call_command("cfpurge", "rotate-keys", stdout=out)
        assert "1 zone" in out.getvalue()
        assert API_TOKEN not in out.getvalue()
    after = raw("api_token", zone.pk)
    assert after != before and after.startswith("fernet:")
    crypto.clear_cache()
    with override_settings(SECRET_KEY=KEY_B, SECRET_KEY_FALLBACKS=[]):
        assert Zone.objects.get(pk=zone.pk).api_token == API_TOKEN
    crypto.clear_cache()
    with override_settings(SECRET_KEY=KEY_A, SECRET_KEY_FALLBACKS=[]):
        assert isinstance(Zone.objects.get(pk=zone.pk).api_token, UnreadableSecret)


def test_a_changed_key_is_seen_at_once_without_clearing_anything():
    """The cache is keyed by the key material: a new SECRET_KEY is never hidden by it."""
    with override_settings(SECRET_KEY=KEY_A):
        zone = token_zone()
        assert Zone.objects.get(pk=zone.pk).api_token == API_TOKEN
    with override_settings(SECRET_KEY=KEY_B, SECRET_KEY_FALLBACKS=[]):
        assert isinstance(Zone.objects.get(pk=zone.pk).api_token, UnreadableSecret)
    with override_settings(SECRET_KEY=KEY_A):
        assert Zone.objects.get(pk=zone.pk).api_token == API_TOKEN


def test_encryption_keys_take_precedence():
    first, second = Fernet.generate_key(), Fernet.generate_key()
    with override_settings(SECRET_KEY=KEY_A):
        old = token_zone()  # under SECRET_KEY
    with override_settings(SECRET_KEY=KEY_A, CFPURGE={"ENCRYPTION_KEYS": [first.decode()]}):
        mid = key_zone()  # under the first Fernet key
        assert Fernet(first).decrypt(raw("api_key", mid.pk)[7:].encode()) == GLOBAL_API_KEY.encode()
    keys = {"ENCRYPTION_KEYS": [second.decode(), first.decode()]}  # newest first
    with override_settings(SECRET_KEY=KEY_A, CFPURGE=keys):
        # Both older values still read: the first Fernet key, and SECRET_KEY.
        assert Zone.objects.get(pk=old.pk).api_token == API_TOKEN
        assert Zone.objects.get(pk=mid.pk).api_key == GLOBAL_API_KEY
        new = make_zone("new.example", api_token=NEW_TOKEN)
        stored = raw("api_token", new.pk)[7:].encode()
        assert Fernet(second).decrypt(stored) == NEW_TOKEN.encode()
        with pytest.raises(InvalidToken):
            Fernet(first).decrypt(stored)
        call_command("cfpurge", "rotate-keys", stdout=io.StringIO())
    # After rotate-keys, the newest key alone opens everything, whatever SECRET_KEY is.
    with override_settings(SECRET_KEY=KEY_C, CFPURGE={"ENCRYPTION_KEYS": [second.decode()]}):
        assert Zone.objects.get(pk=old.pk).api_token == API_TOKEN
        assert Zone.objects.get(pk=mid.pk).api_key == GLOBAL_API_KEY
        assert Zone.objects.get(pk=new.pk).api_token == NEW_TOKEN


def test_a_malformed_encryption_key_is_named_not_shown(admin_client):
    bad = "not-a-fernet-key-but-a-secret-all-the-same"
    zone = token_zone()
    with override_settings(CFPURGE={"ENCRYPTION_KEYS": [bad]}):
        with pytest.raises(crypto.InvalidEncryptionKey) as caught:
            crypto.encrypt("x")
        assert "CFPURGE['ENCRYPTION_KEYS'][0]" in str(caught.value)
        assert bad not in str(caught.value)
        # Reading never crashes...
        assert isinstance(Zone.objects.get(pk=zone.pk).api_token, UnreadableSecret)
        # ...and the admin refuses to save, saying which setting to fix.
        url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
        response = admin_client.post(url, zone_post(api_token=NEW_TOKEN))
        assert response.status_code == 200  # the form again, with the error
        html = response.content.decode()
        assert "CFPURGE[&#x27;ENCRYPTION_KEYS&#x27;][0] is not a Fernet key" in html
        assert bad not in html and NEW_TOKEN not in html
    assert Zone.objects.get(pk=zone.pk).api_token == API_TOKEN


def test_rotate_keys_names_zones_no_key_opens():
    with override_settings(SECRET_KEY=KEY_A):
        token_zone()
    with override_settings(SECRET_KEY=KEY_B), pytest.raises(CommandError) as caught:
        call_command("cfpurge", "rotate-keys", stdout=io.StringIO())
    assert "example.com" in str(caught.value)
    assert caught.value.returncode == 1


# -- a secret no key opens --------------------------------------------------------------


def keys(*fernet_keys: bytes) -> dict[str, Any]:
    """``CFPURGE`` with these ``ENCRYPTION_KEYS`` (SECRET_KEY, and so the admin's
    sessions, left alone)."""
    return {
        "BASE_URLS": ["https://www.example.com"],
        "ENCRYPTION_KEYS": [k.decode() for k in fernet_keys],
    }


@pytest.fixture
def unreadable_zone():
    """A zone whose token was encrypted under a key the site no longer has."""
    with override_settings(CFPURGE=keys(Fernet.generate_key())):
        zone = token_zone()
    with override_settings(CFPURGE=keys(Fernet.generate_key())):
        yield Zone.objects.get(pk=zone.pk)


def test_unreadable_secret_reads_as_empty_and_is_kept(unreadable_zone):
    zone = unreadable_zone
    assert isinstance(zone.api_token, UnreadableSecret)
    assert zone.api_token == ""
    assert repr(zone.api_token) == "<UnreadableSecret>"
    stored = raw("api_token", zone.pk)
    zone.plan = "pro"
    zone.save()
    assert raw("api_token", zone.pk) == stored  # saving again loses nothing


def test_unreadable_secret_in_the_admin(unreadable_zone, admin_client, client, cf_api):
    zone = unreadable_zone
    url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    html = admin_client.get(url).content.decode()
    assert UNREADABLE in html
    # Read-only, it says the same.
    client.force_login(make_user("viewer"))
    assert UNREADABLE in client.get(url).content.decode()
    # Saving with the token left blank is refused with the same sentence: no crash.
    response = admin_client.post(url, zone_post())
    assert response.status_code == 200
    assert UNREADABLE in response.content.decode()
    # Test connection says it too, as a failed step; nothing is sent.
    response = admin_client.post(reverse("admin:django_cfpurge_zone_test", args=[zone.pk]))
    assert response.status_code == 302
    assert response["Location"] == url
    page = admin_client.get(url).content.decode()
    assert UNREADABLE in page
    assert cf_api.calls == []


def test_unreadable_secret_in_test_connection(unreadable_zone, cf_api):
    report = run_connection_test(unreadable_zone)
    assert not report.ok
    assert report.failures[0].message == UNREADABLE
    assert cf_api.calls == []


def test_unreadable_rows_wait_until_the_token_is_entered_again(
    unreadable_zone, admin_client, cf_api
):
    zone = unreadable_zone
    row = api.purge_urls(["https://www.example.com/a.jpg"])
    drain()
    row.refresh_from_db()
    assert row.status == "failed"
    assert row.error_kind == "unreadable"
    assert cf_api.calls == []
    url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    response = admin_client.post(url, zone_post(api_token=NEW_TOKEN))
    assert response.status_code == 302
    assert response["Location"] == "/admin/django_cfpurge/zone/"
    row.refresh_from_db()
    assert row.status == "pending"
    assert Zone.objects.get(pk=zone.pk).api_token == NEW_TOKEN
    cf_api.add_purge_ok()
    drain()
    row.refresh_from_db()
    assert row.status == "done"


def test_unreadable_key_unused_by_the_chosen_auth_kind_is_dropped(admin_client):
    """A Global API Key no key opens does not block a zone moving to an API token."""
    with override_settings(CFPURGE=keys(Fernet.generate_key())):
        zone = key_zone()
    with override_settings(CFPURGE=keys(Fernet.generate_key())):
        url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
        response = admin_client.post(
            url, zone_post(name="legacy.example", api_token=API_TOKEN, email=EMAIL)
        )
        assert response.status_code == 302
        assert response["Location"] == "/admin/django_cfpurge/zone/"
        zone = Zone.objects.get(pk=zone.pk)
        assert zone.api_token == API_TOKEN
        assert zone.api_key == ""


# -- the data migration ---------------------------------------------------------------


def _insert_plain_zone(apps: Any, **values: Any) -> None:
    """Insert a zone as the schema of ``apps`` has it, secrets in plain text, with SQL."""
    model = apps.get_model("django_cfpurge", "Zone")
    columns, params = [], []
    for field in model._meta.local_concrete_fields:
        if field.primary_key:
            continue
        if field.name in values:
            value = values[field.name]
        else:
            value = field.get_default()
            if value is None and not field.null:
                value = timezone.now()
        if field.name not in ("api_token", "api_key"):  # the point: no encryption
            value = field.get_db_prep_save(value, connection)
        columns.append(connection.ops.quote_name(field.column))
        params.append(value)
    sql = "INSERT INTO django_cfpurge_zone ({}) VALUES ({})".format(  # noqa: S608  (ours)
        ", ".join(columns), ", ".join(["%s"] * len(params))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db(transaction=True)
def test_data_migration_encrypts_plain_rows():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("django_cfpurge")
    target = [("django_cfpurge", "0003_zone")]
    try:
        executor.migrate(target)
        executor.loader.build_graph()
        apps = executor.loader.project_state(target).apps
        _insert_plain_zone(apps, name="plain.example", zone_id=ZONE_ID, api_token=API_TOKEN)
        _insert_plain_zone(
            apps,
            name="legacy.example",
            zone_id=ZONE_ID,
            auth_kind="global_key",
            email=EMAIL,
            api_key=GLOBAL_API_KEY,
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT api_token, api_key FROM django_cfpurge_zone ORDER BY name")
            assert sorted(cursor.fetchall()) == [("", GLOBAL_API_KEY), (API_TOKEN, "")]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    plain = Zone.objects.get(name="plain.example")
    legacy = Zone.objects.get(name="legacy.example")
    assert raw("api_token", plain.pk).startswith("fernet:")
    assert raw("api_key", legacy.pk).startswith("fernet:")
    assert raw("api_token", legacy.pk) == ""
    assert plain.api_token == API_TOKEN
    assert legacy.api_key == GLOBAL_API_KEY
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_token, api_key FROM django_cfpurge_zone")
        dumped = json.dumps(cursor.fetchall())
    assert API_TOKEN not in dumped and GLOBAL_API_KEY not in dumped
    assert PurgeRequest.objects.count() == 0
