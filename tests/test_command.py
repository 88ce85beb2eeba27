"""``manage.py cfpurge``: purges by hand, drain, retry, status; exit codes and --json."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_cfpurge.exceptions import AuthenticationFailed, ServerError
from django_cfpurge.models import PurgeRequest
from django_cfpurge.testing import capture_purges, make_zone

pytestmark = pytest.mark.django_db
BASE = "https://www.example.com"


@pytest.fixture
def cf():
    make_zone("example.com")
    with capture_purges() as recorder:
        yield recorder


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("cfpurge", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_urls_queued_by_default(cf):
    out, _ = run("urls", f"{BASE}/a.jpg", "/b.jpg")
    row = PurgeRequest.objects.get()
    assert out.startswith(f"Queued purge request #{row.pk} (2 URLs)")
    assert cf.calls == []


def test_urls_now_prints_summary(cf):
    urls = [f"{BASE}/{i}.jpg" for i in range(501)]
    out, _ = run("urls", *urls, "--now")
    assert out.strip() == "Purged 501 URLs in 2 API calls (zone example.com)."
    assert cf.urls == urls


def test_tags_prefixes_hosts_now(cf):
    assert (
        run("tags", "a", "b", "--now")[0].strip()
        == "Purged 2 tags in 1 API call (zone example.com)."
    )
    assert "Purged 1 prefix" in run("prefixes", "www.example.com/media", "--now")[0]
    assert "Purged 1 hostname" in run("hosts", "www.example.com", "--now")[0]


def test_failure_exit_code_and_message(cf):
    cf.fail_next(AuthenticationFailed("Cloudflare rejected the API token.", status_code=403))
    with pytest.raises(
        CommandError, match=r"failed: Zone “example\.com”: Cloudflare rejected"
    ) as exc:
        run("urls", f"{BASE}/a.jpg", "--now")
    assert exc.value.returncode == 1


def test_transient_failure_exit_code_3(cf):
    cf.fail_next(ServerError("Cloudflare answered 502.", status_code=502))
    with pytest.raises(CommandError, match="waiting to be retried") as exc:
        run("urls", f"{BASE}/a.jpg", "--now")
    assert exc.value.returncode == 3


def test_unroutable_exit_code_4(cf):
    with pytest.raises(CommandError, match="No configured zone serves the host") as exc:
        run("urls", "https://elsewhere.org/a.jpg", "--now")
    assert exc.value.returncode == 4


def test_relative_url_without_base_urls_is_a_usage_error(cf, settings):
    settings.CFPURGE = {"BASE_URLS": []}
    with pytest.raises(CommandError, match="BASE_URLS"):
        run("urls", "/a.jpg", "--now")


def test_everything_needs_yes_without_a_terminal(cf, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="needs confirmation: add --yes") as exc:
        run("everything")
    assert exc.value.returncode == 2
    assert PurgeRequest.objects.count() == 0
    out, _ = run("everything", "--yes", "--now")
    assert out.strip() == "Purged everything in 1 API call (zone example.com)."
    assert cf.everything == 1


def test_everything_asks_on_a_terminal(cf, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty(""))
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Cancelled"):
        run("everything", "--zone", "example.com")
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    run("everything", "--zone", "example.com", "--now")
    assert cf.everything == 1


def test_unknown_zone_is_usage_error(cf):
    with pytest.raises(CommandError, match="No CDN zone named “nope”") as exc:
        run("urls", "/a.jpg", "--zone", "nope")
    assert exc.value.returncode == 2


def test_drain_with_progress_and_json(cf):
    for i in range(3):
        run("urls", f"{BASE}/{i}.jpg")
    out, err = run("drain")
    assert "Drained 3 purge request(s): 3 done, 0 failed" in out
    assert "3 files in 1 API call(s)" in out
    assert "3/3 rows" in err
    run("urls", f"{BASE}/x.jpg")
    data = json.loads(run("drain", "--json")[0])
    assert data["done"] == 1 and data["api_calls"] == 1 and data["items"] == {"files": 1}


def test_drain_failure_exit_code(cf):
    run("urls", f"{BASE}/a.jpg")
    cf.fail_next(AuthenticationFailed("Cloudflare rejected the API token.", status_code=403))
    with pytest.raises(CommandError, match="Some purges failed") as exc:
        run("drain")
    assert exc.value.returncode == 1


def test_retry_and_status(cf):
    run("urls", f"{BASE}/a.jpg")
    cf.fail_next(AuthenticationFailed("Cloudflare rejected the API token.", status_code=403))
    with pytest.raises(CommandError):
        run("drain")
    with pytest.raises(CommandError) as exc:
        run("status")
    assert exc.value.returncode == 1
    with pytest.raises(CommandError):
        call_command("cfpurge", "status", "--json", stdout=(buffer := io.StringIO()))
    status = json.loads(buffer.getvalue())
    assert status["failed"] == 1 and status["reasons"] == {"auth": 1}
    assert status["zones"][0]["name"] == "example.com"
    out, _ = run("retry", "--now")
    assert out.startswith("1 purge request(s) made due again.")
    assert "1 done" in out
    assert cf.urls == [f"{BASE}/a.jpg"]
    out, _ = run("status")
    assert "0 waiting, 0 held, 0 failed, 1 purged in 24 h" in out


def test_retry_waiting_rows_only_with_the_flag(cf):
    later = timezone.now() + timedelta(hours=1)
    row = PurgeRequest.objects.create(
        source="api",
        event="manual",
        targets={"files": [f"{BASE}/w.jpg"]},
        next_attempt_at=later,
        error_kind="server",
    )
    out, _ = run("retry")
    assert out.startswith("0 purge request(s) made due again.")
    row.refresh_from_db()
    assert row.next_attempt_at == later
    out, _ = run("retry", "--waiting", "--now")
    assert out.startswith("1 purge request(s) made due again.")
    row.refresh_from_db()
    assert row.status == "done"
    assert cf.urls == [f"{BASE}/w.jpg"]
