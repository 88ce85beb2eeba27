"""Encrypt the secrets stored before encryption existed (with the newest key)."""

from django.db import migrations

SECRET_COLUMNS = ("api_token", "api_key")


def encrypt_stored(apps, schema_editor):
    from django_cfpurge import crypto
    from django_cfpurge.fields import UnreadableSecret

    Zone = apps.get_model("django_cfpurge", "Zone")
    manager = Zone._base_manager.using(schema_editor.connection.alias)
    # The secret field gives back rows written before encryption as they are (no
    # prefix), so each value is simply written again, encrypted with the newest key.
    for zone in manager.all():
        updates = {
            column: crypto.encrypt(str(value))
            for column in SECRET_COLUMNS
            if (value := getattr(zone, column)) and not isinstance(value, UnreadableSecret)
        }
        if updates:
            manager.filter(pk=zone.pk).update(**updates)


class Migration(migrations.Migration):
    dependencies = [
        ("django_cfpurge", "0003_zone"),
    ]

    operations = [
        migrations.RunPython(encrypt_stored, migrations.RunPython.noop, elidable=True),
    ]
