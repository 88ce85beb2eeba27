"""Secrets never leave the credentials: not in logs, rows, exceptions, task arguments."""

from __future__ import annotations

import logging

import pytest
import requests

from django_cfpurge import api
from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest
from django_cfpurge.signals import purge_failed
from django_cfpurge.testing import make_zone
from tests.cfapi import API_TOKEN, EMAIL, GLOBAL_API_KEY, ZONE_ID

pytestmark = pytest.mark.django_db
SECRETS = (API_TOKEN, GLOBAL_API_KEY)


def all_log_text(caplog):
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def row_text():
    return "\n".join(
        f"{r.last_error} {r.result} {r.targets} {r.change} {r!r} {r}"
        for r in PurgeRequest.objects.all()
    )


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 403, "code": 10000, "message": "Authentication error"},
        {
            "status": 400,
            "code": 6003,
            "message": "Invalid request headers",
            "error_chain": [(6111, "Invalid format for Authorization header")],
        },
        {"status": 503, "code": 1012, "message": "Request failed"},
        "network",
    ],
)
@pytest.mark.parametrize("auth", ["token", "global_key"])
def test_failing_purge_logs_and_records_no_secret(cf_api, caplog, failure, auth):
    if auth == "token":
        make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)
    else:
        make_zone(
            "example.com",
            zone_id=ZONE_ID,
            auth_kind="global_key",
            api_token="",
            email=EMAIL,
            api_key=GLOBAL_API_KEY,
        )
    if failure == "network":
        cf_api.add_purge_exception(exc=requests.ConnectionError(f"refused Bearer {API_TOKEN}"))
    else:
        cf_api.add_purge_error(**failure)
    errors = []
    purge_failed.connect(lambda **kw: errors.append(kw["error"]), weak=False, dispatch_uid="s")
    caplog.set_level(logging.DEBUG)
    try:
        api.purge_urls(["https://www.example.com/a.jpg"])
        drain()
    finally:
        purge_failed.disconnect(dispatch_uid="s")
    row = PurgeRequest.objects.get()
    assert row.status in ("failed", "pending")
    assert row.last_error  # the reason is recorded...
    text = all_log_text(caplog) + row_text() + "".join(f"{e} {e!r}" for e in errors)
    for secret in SECRETS:
        assert secret not in text  # ...without the secret


def test_drain_task_takes_no_arguments(monkeypatch, django_capture_on_commit_callbacks):
    from django_cfpurge import tasks

    sent = []
    monkeypatch.setattr(tasks.drain_outbox, "apply_async", lambda *a, **kw: sent.append((a, kw)))
    make_zone("example.com", api_token=API_TOKEN)
    with django_capture_on_commit_callbacks(execute=True):
        api.purge_urls(["https://www.example.com/a.jpg"])
    assert len(sent) == 1
    args, kwargs = sent[0]
    assert args == ()
    # No task arguments: only delivery options (the connection is the broker's, not ours).
    assert set(kwargs) <= {
        "countdown",
        "retry",
        "queue",
        "connection",
        "soft_time_limit",
        "time_limit",
    }
    assert "args" not in kwargs and "kwargs" not in kwargs
    assert API_TOKEN not in repr(sent)


def test_zone_repr_and_str_hide_secrets():
    zone = make_zone("example.com", api_token=API_TOKEN)
    assert API_TOKEN not in repr(zone) and API_TOKEN not in str(zone)
