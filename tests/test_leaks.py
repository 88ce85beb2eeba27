"""Secrets shown to nobody, ever: the leak matrix, and the pages an attacker would try.

The matrix runs every failure the drain and Test connection meet, for both ways to
authenticate, then gathers everything a secret could reach — pages, log records, error
pages, exceptions and their pickles, task messages, rows, the cache, command output,
``repr``\\ s — and looks for the API token and the Global API Key in all of it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.contrib.admin.models import LogEntry
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.views.debug import technical_500_response

from django_cfpurge import api, tasks
from django_cfpurge.backends.cloudflare import steps as cloudflare_steps
from django_cfpurge.diagnostics import run_connection_test
from django_cfpurge.drain import drain
from django_cfpurge.enums import Kind
from django_cfpurge.exceptions import BackendError
from django_cfpurge.models import PurgeCall, PurgeRequest, Zone
from django_cfpurge.signals import purge_failed
from django_cfpurge.testing import make_zone
from django_cfpurge.zones import backend_for
from tests.cfapi import (
    API_TOKEN,
    EMAIL,
    GLOBAL_API_KEY,
    ZONE_ID,
    failure_body,
)
from tests.staff import make_user, zone_post

pytestmark = pytest.mark.django_db
SECRETS = (API_TOKEN, GLOBAL_API_KEY)
OTHER_TOKEN = "Q" * 20 + "-posted-token-" + "q" * 10
ZONES = "/admin/django_cfpurge/zone/"
LOG = "/admin/django_cfpurge/purgerequest/"


def make_auth_zone(auth: str) -> Zone:
    if auth == "token":
        return make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN, plan="free")
    return make_zone(
        "example.com",
        zone_id=ZONE_ID,
        auth_kind="global_key",
        api_token="",
        email=EMAIL,
        api_key=GLOBAL_API_KEY,
        plan="free",
    )


def assert_no_secret(text: str | bytes, *secrets: str, where: str = "") -> None:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    for secret in secrets or SECRETS:
        assert secret.encode() not in data, f"a secret is in {where or 'the text'}"


def strip_volatile(html: str) -> str:
    """A page without what changes from one response to the next (CSRF tokens)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


# -- the failures ---------------------------------------------------------------------

ENDPOINTS = (
    ("GET", "/user/tokens/verify"),
    ("GET", f"/zones/{ZONE_ID}"),
    ("POST", f"/zones/{ZONE_ID}/purge_cache"),
)


def echo(auth: str) -> str:
    """A reply quoting the request's credentials back, as a broken proxy might."""
    if auth == "token":
        return f"Invalid header: Authorization: Bearer {API_TOKEN}"
    return f"Invalid header: X-Auth-Key: {GLOBAL_API_KEY} X-Auth-Email: {EMAIL}"


def _reply(**kwargs: Any) -> Callable[[Any, str], None]:
    def register(cf_api: Any, auth: str) -> None:
        for method, path in ENDPOINTS:
            cf_api.add(method, path, **kwargs)

    return register


def _network(cf_api: Any, auth: str) -> None:
    for method, path in ENDPOINTS:
        cf_api.mock.add(
            method, cf_api.url(path), body=requests.ConnectionError(f"refused; sent {echo(auth)}")
        )


def _echo_json(cf_api: Any, auth: str) -> None:
    body = failure_body(6003, echo(auth), [(6111, echo(auth)), (6102, echo(auth))])
    _reply(status=400, json=body)(cf_api, auth)


def _echo_html(cf_api: Any, auth: str) -> None:
    secret = API_TOKEN if auth == "token" else GLOBAL_API_KEY
    _reply(
        status=403,
        body=f"<html><body><pre>{echo(auth)}</pre></body></html>",
        content_type=f"text/html; echo={secret}",
    )(cf_api, auth)


FAILURES: dict[str, Callable[[Any, str], None]] = {
    "401/1000": _reply(status=401, json=failure_body(1000, "Invalid API Token")),
    "403/10000": _reply(status=403, json=failure_body(10000, "Authentication error")),
    "400/6003+6111": _reply(
        status=400,
        json=failure_body(
            6003, "Invalid request headers", [(6111, "Invalid format for Authorization header")]
        ),
    ),
    "429 Retry-After": _reply(
        status=429,
        json=failure_body(971, "Please wait and consider throttling your request speed"),
        headers={"Retry-After": "1"},
    ),
    "502 HTML page": _reply(
        status=502,
        body="<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
        content_type="text/html",
    ),
    "JSON echoing the secrets": _echo_json,
    "HTML echoing the secrets": _echo_html,
    "network error": _network,
}


class Collected:
    """Everything gathered for one case, by where it came from."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str | bytes]] = {}
        self.errors: list[BaseException] = []

    def add(self, where: str, value: str | bytes) -> None:
        self.texts.setdefault(where, []).append(value)

    def page(self, where: str, client: Client, url: str, **kwargs: Any) -> str:
        response = client.get(url, **kwargs)
        assert response.status_code == 200, (where, response.status_code)
        html = response.content.decode()
        self.add(where, html)
        return html

    def command(self, where: str, *args: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("cfpurge", *args, stdout=out, stderr=err)
        except CommandError as error:
            self.add(where, f"{error} {error!r}")
        self.add(where, out.getvalue() + err.getvalue())

    def check(self) -> None:
        for where, values in self.texts.items():
            for value in values:
                assert_no_secret(value, where=where)


def _backend_errors(zone: Zone) -> list[BackendError]:
    """The errors the backend raises, as the drain and Test connection meet them."""
    errors = []
    with backend_for(zone) as backend:
        calls = [
            lambda: backend.purge(Kind.FILES, ["https://www.example.com/a.jpg"]),
            backend.describe_zone,
        ]
        if zone.auth_kind == "token":
            calls.append(backend.client.verify_token)
        for call in calls:
            try:
                call()
            except BackendError as err:
                errors.append(err)
    return errors


def _error_texts(collected: Collected, errors: list[BaseException]) -> None:
    for error in errors:
        collected.add("exception message", str(error))
        collected.add("exception repr", repr(error))
        collected.add("exception args", repr(error.args))
        collected.add("exception pickle", pickle.dumps(error))
        collected.add("exception chain", repr((error.__cause__, error.__context__)))
        again = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own pickle, just made)
        collected.add("unpickled exception", repr(vars(again)))


def debug_500_page(error: BaseException) -> bytes:
    """Django's ``DEBUG=True`` error page for ``error``, every frame's variables in it."""
    request = RequestFactory().get("/admin/")
    with override_settings(DEBUG=True):
        return technical_500_response(request, type(error), error, error.__traceback__).content


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("auth", ["token", "global_key"])
@pytest.mark.no_contract_response
def test_leak_matrix(
    auth,
    failure,
    cf_api,
    caplog,
    monkeypatch,
    admin_client,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.DEBUG = True  # the SQL log is on, as on a developer's machine
    caplog.set_level(logging.DEBUG)
    zone = make_auth_zone(auth)
    FAILURES[failure](cf_api, auth)
    found = Collected()
    sent: list[Any] = []
    monkeypatch.setattr(tasks.drain_outbox, "apply_async", lambda *a, **kw: sent.append((a, kw)))
    signalled: list[BaseException] = []
    purge_failed.connect(
        lambda **kw: signalled.append(kw["error"]), weak=False, dispatch_uid="leaks"
    )
    viewer = Client()
    viewer.force_login(make_user("viewer"))
    change = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
    try:
        # Test connection: the button (and the page after it), the action, the command.
        response = admin_client.post(
            reverse("admin:django_cfpurge_zone_test", args=[zone.pk]), follow=True
        )
        found.add("Test connection button", response.content.decode())
        response = admin_client.post(
            ZONES,
            {"action": "test_connection_action", "_selected_action": [str(zone.pk)]},
            follow=True,
        )
        found.add("Test connection action", response.content.decode())
        found.add("Test connection report", repr(run_connection_test(zone).as_dicts()))
        found.command("cfpurge test", "test")
        found.command("cfpurge test --json", "test", "--json")
        # The drain: a purge through the API, sent by the command.
        with django_capture_on_commit_callbacks(execute=True):
            api.purge_urls(["https://www.example.com/a.jpg"])
            api.purge_tags(["gallery"])
        found.command("cfpurge drain", "drain")
        found.command("cfpurge drain --json", "drain", "--json")
        found.command("cfpurge status", "status")
        found.command("cfpurge status --json", "status", "--json")
        found.command("cfpurge urls --now", "urls", "https://www.example.com/b.jpg", "--now")
        # The admin, as superuser and read-only.
        found.page("zone add form", admin_client, f"{ZONES}add/?backend=cloudflare")
        found.page("zone change form", admin_client, change)
        found.page("zone change form, view-only", viewer, change)
        found.page("zone list", admin_client, ZONES)
        found.page("zone list, view-only", viewer, ZONES)
        found.page("zone history", admin_client, f"{ZONES}{zone.pk}/history/")
        found.page("purge log", admin_client, LOG)
        found.page("purge log, view-only", viewer, LOG)
        for row in PurgeRequest.objects.all():
            found.page("purge log entry", admin_client, f"{LOG}{row.pk}/change/")
            found.page("purge log entry, view-only", viewer, f"{LOG}{row.pk}/change/")
        found.page("admin index", admin_client, "/admin/")
        # The errors themselves.
        errors = [*_backend_errors(zone), *signalled]
        _error_texts(found, errors)
    finally:
        purge_failed.disconnect(dispatch_uid="leaks")
    assert PurgeRequest.objects.exists()
    assert errors or failure == "429 Retry-After"
    # Rows, task messages, the cache, the log records, reprs.
    found.add("PurgeRequest rows", repr(list(PurgeRequest.objects.values())))
    found.add("PurgeCall rows", repr(list(PurgeCall.objects.values())))
    found.add("Zone row (as stored)", repr(_raw_zone_row(zone.pk)))
    found.add("task messages", repr(sent))
    for key, value in caches["default"]._cache.items():
        found.add("cache", repr(key).encode() + value)
    for record in caplog.records:
        found.add(f"log record ({record.name})", _record_text(record))
    with backend_for(zone) as backend:
        found.add("repr(backend)", repr(backend) + repr(vars(backend).keys()))
        found.add("repr(client)", repr(getattr(backend, "client", None)))
        found.add("repr(credentials)", repr(backend.credentials) + str(backend.credentials))
    found.add("repr(zone)", repr(zone) + str(zone))
    found.add("LogEntry", repr(list(LogEntry.objects.values())))
    assert sent, "the drain task was never sent"
    assert {"django.db.backends", "django_cfpurge.drain"} <= {r.name for r in caplog.records}
    found.check()


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("auth", ["token", "global_key"])
@pytest.mark.no_contract_response
def test_debug_page_of_raised_errors(auth, failure, cf_api):
    """The DEBUG=True 500 page of every error the backend raises, were one to escape."""
    zone = make_auth_zone(auth)
    FAILURES[failure](cf_api, auth)
    errors = _backend_errors(zone)
    purge_failed.connect(lambda **kw: errors.append(kw["error"]), weak=False, dispatch_uid="500")
    try:
        api.purge_urls(["https://www.example.com/a.jpg"])
        drain()
    finally:
        purge_failed.disconnect(dispatch_uid="500")
    assert errors
    for error in errors:
        assert_no_secret(debug_500_page(error), where=f"the DEBUG page of {error!r}")


def _raw_zone_row(pk: int) -> list[Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM django_cfpurge_zone WHERE id = %s", [pk])
        return list(cursor.fetchall())


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), repr(getattr(record, "request", ""))]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


# -- shown to nobody: the view-only page, lookups, ordering, search, history -----------


@pytest.fixture
def zones():
    token = make_auth_zone("token")
    key = make_zone(
        "legacy.example",
        zone_id="1" * 32,
        auth_kind="global_key",
        api_token="",
        email=EMAIL,
        api_key=GLOBAL_API_KEY,
    )
    return token, key


def test_view_only_zone_page_shows_secrets_masked_at_most(client, zones):
    token, key = zones
    client.force_login(make_user("viewer"))
    for zone, secret in ((token, API_TOKEN), (key, GLOBAL_API_KEY)):
        html = client.get(reverse("admin:django_cfpurge_zone_change", args=[zone.pk])).content
        html = html.decode()
        assert_no_secret(html)
        assert f"set, ends in …{secret[-4:]}" in html
        # At most the last 4 characters: no 5-character piece of the secret is there.
        for start in range(len(secret) - 4):
            assert secret[start : start + 5] not in html
        assert 'name="api_token"' not in html and 'name="api_key"' not in html


def test_mask_shows_four_characters_at_most_and_none_of_a_short_secret():
    from django_cfpurge.forms import mask

    assert mask("") == "not set"
    assert mask("short-key01") == "set"  # 11 characters: 4 would be too much of it
    assert mask(API_TOKEN) == f"set, ends in …{API_TOKEN[-4:]}"


@override_settings(
    CFPURGE={
        "BASE_URLS": ["https://www.example.com"],
        "ZONE_NAME": "production",
        "ZONE_ID": ZONE_ID,
        "API_TOKEN": API_TOKEN,
    }
)
def test_zone_from_settings_is_masked_too(client, admin_client):
    from django_cfpurge.zones import reset_sync_cache

    reset_sync_cache()
    try:
        admin_client.get(ZONES)
        zone = Zone.objects.get(name="production")
        url = reverse("admin:django_cfpurge_zone_change", args=[zone.pk])
        client.force_login(make_user("viewer"))
        for html in (admin_client.get(url).content.decode(), client.get(url).content.decode()):
            assert_no_secret(html)
            assert f"set, ends in …{API_TOKEN[-4:]}" in html
    finally:
        reset_sync_cache()


GUESSES = [
    ("api_token__startswith", API_TOKEN[:6], "zzzzzz"),
    ("api_token__regex", "^" + API_TOKEN[:3], "^zzz"),
    ("api_key__contains", GLOBAL_API_KEY[5:12], "zzzzzzz"),
    ("api_token", API_TOKEN, "z" * 40),
    ("api_token__isnull", "False", "True"),
    ("api_key__in", GLOBAL_API_KEY, "zzz"),
    ("api_token__gt", API_TOKEN[:3], "zzz"),
]


@pytest.mark.parametrize(("lookup", "right", "wrong"), GUESSES)
@pytest.mark.parametrize("user", ["superuser", "viewer"])
def test_lookups_on_secrets_are_no_oracle(client, zones, lookup, right, wrong, user):
    client.force_login(make_user(user))
    answers = []
    for guess in (right, wrong):
        response = client.get(ZONES, {lookup: guess})
        answers.append(
            (
                response.status_code,
                response.get("Location", ""),
                strip_volatile(response.content.decode()).replace(guess, "GUESS"),
            )
        )
        assert_no_secret(response.content)
    assert answers[0] == answers[1]
    assert answers[0][0] in (302, 400)  # refused, never filtered


@pytest.mark.parametrize(
    "lookup", ["zone__api_token__startswith", "zone__api_key", "zone__api_token"]
)
def test_lookups_through_the_purge_log_are_no_oracle(admin_client, zones, lookup):
    token, _ = zones
    PurgeRequest.objects.create(source="api", event="manual", zone=token)
    right = admin_client.get(LOG, {lookup: API_TOKEN[:6]})
    wrong = admin_client.get(LOG, {lookup: "zzzzzz"})
    assert right.status_code == wrong.status_code
    assert right.status_code in (302, 400)
    assert right.get("Location") == wrong.get("Location")


def test_a_secret_is_no_to_field(admin_client, zones):
    """``?_to_field=`` (popups print that field of each row) cannot name a secret."""
    token, _ = zones
    change = reverse("admin:django_cfpurge_zone_change", args=[token.pk])
    for url in (ZONES, change):
        response = admin_client.get(url, {"_to_field": "api_token", "_popup": "1"})
        assert response.status_code == 400
        assert_no_secret(response.content)


def _listed(html: str) -> list[str]:
    return re.findall(r'<th class="field-name"><a href="[^"]*">([^<]*)</a>', html)


def test_no_ordering_by_secrets(admin_client, zones):
    """``?o=`` takes column numbers of ``list_display``, where no secret is: a secret's
    name is no column and sorts nothing (one zone has a token and the other none, so a
    sort by the token, one way or the other, would change the order)."""
    from django.contrib import admin

    model_admin = admin.site._registry[Zone]
    assert not {"api_token", "api_key"} & set(model_admin.list_display)
    assert not {"api_token", "api_key"} & set(model_admin.search_fields)
    assert not {"api_token", "api_key"} & set(model_admin.get_sortable_by(None))
    not_a_column = _listed(admin_client.get(ZONES, {"o": "99"}).content.decode())
    for order in ("api_token", "-api_token", "api_key", "-api_key", "api_token.api_key"):
        listed = _listed(admin_client.get(ZONES, {"o": order}).content.decode())
        assert listed == not_a_column, order


@pytest.mark.parametrize("guess", [API_TOKEN, API_TOKEN[:10], GLOBAL_API_KEY[-10:]])
def test_search_does_not_look_at_secrets(admin_client, zones, guess):
    right = admin_client.get(ZONES, {"q": guess}).content.decode()
    wrong = admin_client.get(ZONES, {"q": "z" * len(guess)}).content.decode()
    assert _listed(right) == _listed(wrong) == []
    assert strip_volatile(right).replace(guess, "Q") == strip_volatile(wrong).replace(
        "z" * len(guess), "Q"
    )


def test_history_shows_no_secret(admin_client, client, zones):
    token, _ = zones
    url = reverse("admin:django_cfpurge_zone_change", args=[token.pk])
    response = admin_client.post(url, zone_post(api_token=OTHER_TOKEN))
    assert response.status_code == 302
    assert response["Location"] == ZONES
    admin_client.post(url, zone_post(api_token=""))  # kept: no change
    history = f"{ZONES}{token.pk}/history/"
    client.force_login(make_user("viewer"))
    for html in (admin_client.get(history).content.decode(), client.get(history).content.decode()):
        assert_no_secret(html, *SECRETS, OTHER_TOKEN)
        assert "Changed API token." in html
    messages = [e.get_change_message() for e in LogEntry.objects.order_by("pk")]
    # The second save left the token blank: kept, not "changed".
    assert messages == ["Changed API token.", "No fields changed."]
    assert_no_secret(repr(list(LogEntry.objects.values())), *SECRETS, OTHER_TOKEN)


def test_a_posted_token_is_never_echoed(admin_client, zones):
    """Wherever the form comes back with an error, the typed token is not in it."""
    token, _ = zones
    url = reverse("admin:django_cfpurge_zone_change", args=[token.pk])
    for data in (
        zone_post(api_token=OTHER_TOKEN, zone_id="not-an-id"),
        zone_post(api_token=f" Bearer {OTHER_TOKEN}"),
        zone_post(api_token=OTHER_TOKEN[:12] + " " + OTHER_TOKEN[12:]),
        zone_post(api_token=OTHER_TOKEN + "é"),
        zone_post(api_token=GLOBAL_API_KEY),
        zone_post(auth_kind="global_key", email=EMAIL, api_key=OTHER_TOKEN),
        zone_post(name="", api_token=OTHER_TOKEN),
    ):
        response = admin_client.post(url, data)
        assert response.status_code == 200
        assert_no_secret(response.content, *SECRETS, OTHER_TOKEN, OTHER_TOKEN[12:])
    add = admin_client.post(
        f"{ZONES}add/?backend=cloudflare", zone_post(name="", api_token=OTHER_TOKEN)
    )
    assert add.status_code == 200
    assert_no_secret(add.content, OTHER_TOKEN)


# -- no error page with a secret ----------------------------------------------------------


def _debug_500(client_response: Any) -> str:
    assert client_response.status_code == 500
    html = client_response.content.decode()
    assert "Traceback" in html  # the DEBUG page, with every frame's variables
    return html


@pytest.mark.parametrize(
    ("view", "where"),
    [
        ("change", "django_cfpurge.admin.zones.outcomes.requeue_for_fix"),
        ("change", "django.db.models.sql.compiler.SQLUpdateCompiler.execute_sql"),
        ("add", "django.db.models.sql.compiler.SQLInsertCompiler.execute_sql"),
        ("change", "django_cfpurge.backends.cloudflare.CloudflareBackend.cleaned_values"),
        ("add", "django_cfpurge.backends.cloudflare.CloudflareBackend.cleaned_values"),
        ("add", "django_cfpurge.crypto.encrypt"),
        ("change", "django_cfpurge.crypto.decrypt"),
    ],
)
@override_settings(DEBUG=True)
def test_change_view_500_page_shows_no_secret(monkeypatch, zones, view, where):
    """An exception inside the zone form's view while a token is posted: Django's
    DEBUG page lists the request's POST and every frame's variables; none shows it."""
    token, _ = zones
    client = Client(raise_request_exception=False)
    client.force_login(make_user("superuser"))

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(where, explode)
    if view == "change":
        url = reverse("admin:django_cfpurge_zone_change", args=[token.pk])
        data = zone_post(api_token=OTHER_TOKEN)
    else:
        url = f"{ZONES}add/?backend=cloudflare"
        data = zone_post(name="new.example", api_token=OTHER_TOKEN)
    html = _debug_500(client.post(url, data))
    assert "boom" in html
    assert "api_token" in html  # the POST is listed...
    assert_no_secret(html, *SECRETS, OTHER_TOKEN)  # ...with the token starred


@pytest.mark.parametrize("auth", ["token", "global_key"])
def test_test_connection_500_page_shows_no_secret(monkeypatch, cf_api, caplog, auth, admin_client):
    """A step that raises is a failed step (logged), never an error page; and the
    DEBUG page of what it raised shows no secret."""
    zone = make_auth_zone(auth)
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()

    def explode(self: Any, context: Any) -> None:
        raise RuntimeError("step exploded")

    monkeypatch.setattr(cloudflare_steps.ReadZone, "run", explode)
    caplog.set_level(logging.DEBUG)
    report = run_connection_test(zone)
    assert not report.ok
    assert "failed unexpectedly (RuntimeError)" in report.failures[0].message
    response = admin_client.post(
        reverse("admin:django_cfpurge_zone_test", args=[zone.pk]), follow=True
    )
    assert response.redirect_chain[0][1] == 302
    assert "failed unexpectedly (RuntimeError)" in response.content.decode()
    raised = [
        r.exc_info for r in caplog.records if r.exc_info and r.name.startswith("django_cfpurge")
    ]
    assert raised
    request = RequestFactory().post("/", {"api_token": OTHER_TOKEN})
    for exc_info in raised:
        with override_settings(DEBUG=True):
            page = technical_500_response(request, *exc_info).content
        assert b"step exploded" in page
        assert_no_secret(page)


@pytest.mark.parametrize(
    ("zone_fields", "cfpurge", "expected"),
    [
        (
            {"auth_kind": "global_key", "api_token": "", "email": "owner@exämple.com"},
            {},
            "outside ASCII",
        ),
        ({}, {"TIMEOUT": "abc"}, "Connected to zone example.com"),
        ({}, {"TIMEOUT": -1, "DEADLINE": "nan", "CONNECT_TIMEOUT": 0}, "Connected to zone"),
        ({}, {"API_URL": "http://api.cloudflare.com/client/v4"}, "must use https"),
        ({}, {"API_URL": f"https://user:{API_TOKEN}@api.example/v4"}, "user name or password"),
    ],
)
def test_test_connection_answers_302_never_500(
    cf_api, admin_client, zone_fields, cfpurge, expected
):
    fields = {"zone_id": ZONE_ID, "api_token": API_TOKEN, **zone_fields}
    if zone_fields.get("auth_kind") == "global_key":
        fields["api_key"] = GLOBAL_API_KEY
    zone = make_zone("example.com", **fields)
    cf_api.add_verify_ok()
    cf_api.add_zone_ok()
    cf_api.add_purge_ok()
    settings_value = {"BASE_URLS": ["https://www.example.com"], **cfpurge}
    with override_settings(CFPURGE=settings_value):
        response = admin_client.post(reverse("admin:django_cfpurge_zone_test", args=[zone.pk]))
        assert response.status_code == 302
        page = admin_client.get(response["Location"]).content.decode()
    assert expected in page
    assert_no_secret(page)


def test_test_connection_never_500_even_if_the_runner_fails(monkeypatch, admin_client, caplog):
    """Whatever escapes the runner becomes a message: the admin never answers 500."""
    zone = make_auth_zone("token")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError(f"unexpected {API_TOKEN}")

    monkeypatch.setattr("django_cfpurge.admin.zones.run_connection_test", broken)
    caplog.set_level(logging.DEBUG)
    response = admin_client.post(
        reverse("admin:django_cfpurge_zone_test", args=[zone.pk]), follow=True
    )
    assert response.redirect_chain[0][1] == 302
    html = response.content.decode()
    assert "Test connection failed unexpectedly (ValueError)" in html
    assert_no_secret(html)
    assert_no_secret("\n".join(_record_text(r) for r in caplog.records))


def test_sensitive_post_parameters_on_every_view_that_takes_a_secret(zones):
    """The request's POST, as an error report shows it, has the secrets starred."""
    from django.contrib import admin
    from django.views.debug import SafeExceptionReporterFilter

    token, _ = zones
    model_admin = admin.site._registry[Zone]
    superuser = make_user("superuser")
    views = [
        ("change", lambda r: model_admin.changeform_view(r, str(token.pk))),
        ("add", lambda r: model_admin.changeform_view(r, None)),
        ("test", lambda r: model_admin.test_connection_view(r, str(token.pk))),
    ]
    for name, view in views:
        request = RequestFactory().post(
            "/", zone_post(api_token=OTHER_TOKEN, api_key=GLOBAL_API_KEY)
        )
        request.user = superuser
        # No session or messages on this request: only the marking matters.
        with contextlib.suppress(Exception):
            view(request)
        post = SafeExceptionReporterFilter().get_post_parameters(request)
        assert post["api_token"] != OTHER_TOKEN, name
        assert post["api_key"] != GLOBAL_API_KEY, name
