"""CloudflareZone becomes Zone (one CDN backend per zone), secrets move to encrypted
text columns, zones learn more from their CDN, and every API call is logged."""

import django.db.models.deletion
from django.db import migrations, models

import django_cfpurge.fields


class Migration(migrations.Migration):
    dependencies = [
        ("django_cfpurge", "0002_trim_indexes"),
    ]

    operations = [
        migrations.RenameModel("CloudflareZone", "Zone"),
        migrations.AlterModelOptions(
            name="zone",
            options={
                "ordering": ("name",),
                "permissions": [("purge_cache", "Can purge the CDN cache by hand")],
                "verbose_name": "CDN zone",
                "verbose_name_plural": "CDN zones",
            },
        ),
        migrations.RenameField("zone", "cf_zone_name", "remote_name"),
        migrations.RenameField("zone", "cf_zone_status", "remote_status"),
        migrations.AddField(
            model_name="zone",
            name="backend",
            field=models.CharField(default="cloudflare", max_length=64, verbose_name="CDN"),
        ),
        migrations.AlterField(
            model_name="zone",
            name="zone_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="zone identifier"),
        ),
        migrations.AlterField(
            model_name="zone",
            name="account_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="Account ID"),
        ),
        migrations.AlterField(
            model_name="zone",
            name="auth_kind",
            field=models.CharField(
                blank=True, default="token", max_length=16, verbose_name="authentication"
            ),
        ),
        migrations.AlterField(
            model_name="zone",
            name="api_token",
            field=django_cfpurge.fields.SecretField(blank=True, verbose_name="API token"),
        ),
        migrations.AlterField(
            model_name="zone",
            name="api_key",
            field=django_cfpurge.fields.SecretField(blank=True, verbose_name="API key"),
        ),
        migrations.AlterField(
            model_name="zone",
            name="hostnames",
            field=models.TextField(
                blank=True,
                help_text=(
                    "Hostnames this zone serves, one per line, as in ALLOWED_HOSTS: "
                    "“.example.com” matches example.com and every subdomain. Empty: what the "
                    "CDN reports, or the zone's name and its subdomains."
                ),
                verbose_name="hostnames",
            ),
        ),
        migrations.AlterField(
            model_name="zone",
            name="plan",
            field=models.CharField(
                blank=True,
                help_text=(
                    "The CDN plan (Cloudflare: free, pro, business, enterprise); learnt by Test "
                    "connection."
                ),
                max_length=32,
                verbose_name="plan",
            ),
        ),
        migrations.AlterField(
            model_name="zone",
            name="remote_name",
            field=models.CharField(blank=True, max_length=253, verbose_name="name at the CDN"),
        ),
        migrations.AlterField(
            model_name="zone",
            name="remote_status",
            field=models.CharField(blank=True, max_length=32, verbose_name="status at the CDN"),
        ),
        migrations.AddField(
            model_name="zone",
            name="settings_fingerprint",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="zone",
            name="credentials_changed_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="credentials changed"
            ),
        ),
        migrations.AddField(
            model_name="zone",
            name="remote_account_id",
            field=models.CharField(
                blank=True, editable=False, max_length=64, verbose_name="account at the CDN"
            ),
        ),
        migrations.AddField(
            model_name="zone",
            name="remote_hostnames",
            field=models.JSONField(
                blank=True, default=list, editable=False, verbose_name="hostnames at the CDN"
            ),
        ),
        migrations.AddField(
            model_name="zone",
            name="max_items",
            field=models.PositiveIntegerField(
                blank=True, editable=False, null=True, verbose_name="items per call that worked"
            ),
        ),
        migrations.AddField(
            model_name="zone",
            name="max_items_learnt_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="purgerequest",
            name="error_kind",
            field=models.CharField(
                blank=True,
                choices=[
                    ("auth", "credentials refused"),
                    ("zone", "zone not found"),
                    ("credentials", "credentials malformed"),
                    ("unreadable", "stored credentials unreadable"),
                    ("unconfigured", "no zone configured"),
                    ("settings", "a setting is invalid"),
                    ("disabled", "purging switched off"),
                    ("rate_limited", "rate limited"),
                    ("server", "CDN server error"),
                    ("network", "network"),
                    ("invalid_response", "unexpected answer"),
                    ("rejected", "request rejected"),
                    ("resolve", "could not resolve URLs"),
                    ("unroutable", "no zone serves the host"),
                    ("timeout", "timed out"),
                    ("error", "unexpected error"),
                ],
                max_length=32,
                verbose_name="error kind",
            ),
        ),
        migrations.AlterField(
            model_name="purgerequest",
            name="event",
            field=models.CharField(
                choices=[
                    ("created", "created"),
                    ("replaced", "file replaced"),
                    ("renamed", "file renamed or moved"),
                    ("overwritten", "file overwritten"),
                    ("changed", "watched field changed"),
                    ("deleted", "deleted"),
                    ("bulk", "bulk helper"),
                    ("manual", "manual"),
                ],
                max_length=16,
                verbose_name="event",
            ),
        ),
        migrations.AlterField(
            model_name="purgerequest",
            name="result",
            field=models.JSONField(blank=True, default=dict, verbose_name="the CDN's answer"),
        ),
        migrations.AlterField(
            model_name="purgerequest",
            name="zone",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="purge_requests",
                to="django_cfpurge.zone",
                verbose_name="zone",
            ),
        ),
        migrations.CreateModel(
            name="PurgeCall",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("backend", models.CharField(max_length=64, verbose_name="CDN")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("files", "URLs"),
                            ("prefixes", "prefixes"),
                            ("hosts", "hostnames"),
                            ("tags", "cache tags"),
                            ("everything", "everything"),
                        ],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                ("items", models.PositiveIntegerField(verbose_name="items")),
                (
                    "sample",
                    models.JSONField(blank=True, default=list, verbose_name="first items"),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("ok", "accepted"),
                            ("rate_limited", "rate limited"),
                            ("retry", "will be retried"),
                            ("failed", "failed"),
                            ("split", "refused as too large, split"),
                        ],
                        max_length=16,
                        verbose_name="outcome",
                    ),
                ),
                (
                    "status_code",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="HTTP status"),
                ),
                ("codes", models.JSONField(blank=True, default=list, verbose_name="error codes")),
                ("message", models.TextField(blank=True, verbose_name="message")),
                (
                    "retry_after",
                    models.FloatField(blank=True, null=True, verbose_name="Retry-After"),
                ),
                ("receipt", models.CharField(blank=True, max_length=255, verbose_name="receipt")),
                ("started_at", models.DateTimeField(db_index=True, verbose_name="sent")),
                (
                    "duration_ms",
                    models.PositiveIntegerField(default=0, verbose_name="duration (ms)"),
                ),
                (
                    "requests",
                    models.ManyToManyField(
                        blank=True, related_name="calls", to="django_cfpurge.purgerequest"
                    ),
                ),
                (
                    "zone",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="django_cfpurge.zone",
                        verbose_name="zone",
                    ),
                ),
            ],
            options={
                "verbose_name": "API call",
                "verbose_name_plural": "API calls",
                "ordering": ("started_at", "id"),
            },
        ),
    ]
