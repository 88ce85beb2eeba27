"""Least privilege: who may do what in the admin, as one table, walked by an attacker.

Every admin URL and action django-cfpurge adds is tried by six users, with Django's
test client, and each cell of :data:`TABLE` states both the answer (login, 403, the
page, a redirect after success) and the real effect: a zone saved, tested or deleted,
a purge-log row retried or ignored, a purge row written. A cell that says nothing is
done is checked to have changed nothing at all. ``docs/security.rst`` shows the same
table; :func:`test_the_documented_table_is_this_table` keeps the two equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_cfpurge.drain import drain
from django_cfpurge.models import PurgeRequest, Zone
from django_cfpurge.testing import make_zone
from tests.cfapi import API_TOKEN, OTHER_ZONE_ID, ZONE_ID
from tests.staff import make_user, zone_post

pytestmark = pytest.mark.django_db

#: The users, from nobody to everybody.
USERS = ("anonymous", "staff", "viewer", "changer", "purger", "superuser")
LOGIN = "login"  # 302 to the admin's login page; nothing done
DENIED = "403"  # PermissionDenied; nothing done
PAGE = "200"  # the page is shown; nothing done
CONFIRM = "confirm"  # 200: a confirmation page; nothing done yet
REFUSED = "refused"  # 302 back to the list with a message; nothing done
DONE = "done"  # 302 after success; the effect is there

# fmt: off
#: Who may do what. One row per URL or action; one column per user (see USERS).
TABLE: dict[str, tuple[str, str, str, str, str, str]] = {
    #                                       anonymous staff   viewer   changer  purger   superuser
    "zones: list":                          (LOGIN, DENIED, PAGE,    PAGE,    DENIED,  PAGE),
    "zones: add, which CDN?":               (LOGIN, DENIED, DENIED,  DENIED,  DENIED,  PAGE),
    "zones: add form (?backend=cloudflare)": (LOGIN, DENIED, DENIED, DENIED,  DENIED,  PAGE),
    "zones: add, save":                     (LOGIN, DENIED, DENIED,  DENIED,  DENIED,  DONE),
    "zones: change page":                   (LOGIN, DENIED, PAGE,    PAGE,    DENIED,  PAGE),
    "zones: change, save":                  (LOGIN, DENIED, DENIED,  DONE,    DENIED,  DONE),
    "zones: history":                       (LOGIN, DENIED, PAGE,    PAGE,    DENIED,  PAGE),
    "zones: delete page":                   (LOGIN, DENIED, DENIED,  DENIED,  DENIED,  PAGE),
    "zones: delete, confirmed":             (LOGIN, DENIED, DENIED,  DENIED,  DENIED,  DONE),
    "zones: Test connection button":        (LOGIN, DENIED, DENIED,  DONE,    DENIED,  DONE),
    "zones: Test connection action":        (LOGIN, DENIED, DENIED,  DONE,    DENIED,  DONE),
    "log: list":                            (LOGIN, DENIED, PAGE,    PAGE,    PAGE,    PAGE),
    "log: entry":                           (LOGIN, DENIED, PAGE,    PAGE,    PAGE,    PAGE),
    "log: Retry now, URLs":                 (LOGIN, DENIED, DENIED,  DONE,    DENIED,  DONE),
    "log: Retry now, hostnames":            (LOGIN, DENIED, DENIED,  REFUSED, DENIED,  CONFIRM),
    "log: Retry now, everything":           (LOGIN, DENIED, DENIED,  REFUSED, DENIED,  CONFIRM),
    "log: Retry now, everything, confirmed": (LOGIN, DENIED, DENIED, REFUSED, DENIED,  DONE),
    "log: Ignore":                          (LOGIN, DENIED, DENIED,  DONE,    DENIED,  DONE),
    "log: Verify at the edge":              (LOGIN, DENIED, DENIED,  DONE,    DENIED,  DONE),
    "manual purge: page":                   (LOGIN, DENIED, DENIED,  DENIED,  PAGE,    PAGE),
    "manual purge: URLs":                   (LOGIN, DENIED, DENIED,  DENIED,  DONE,    DONE),
    "manual purge: everything":             (LOGIN, DENIED, DENIED,  DENIED,  CONFIRM, CONFIRM),
    "manual purge: everything, confirmed":  (LOGIN, DENIED, DENIED,  DENIED,  DONE,    DONE),
}
# fmt: on

ZONES = "/admin/django_cfpurge/zone/"
LOG = "/admin/django_cfpurge/purgerequest/"
PURGE = "/admin/django_cfpurge/purgerequest/purge/"
EDGE_URL = "https://www.example.com/a.jpg"


class World:
    """What the attacker aims at: a zone with a token, and failed purge-log rows."""

    def __init__(self, api: Any = None) -> None:
        self.api = api
        self.zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN, plan="free")
        failed = {"source": "api", "event": "manual", "status": "failed", "zone": self.zone}
        self.files = PurgeRequest.objects.create(
            **failed, targets={"files": ["https://www.example.com/a.jpg"]}
        )
        self.hosts = PurgeRequest.objects.create(**failed, targets={"hosts": ["www.example.com"]})
        self.everything = PurgeRequest.objects.create(**failed, targets={"everything": [True]})
        self.ignored_target = PurgeRequest.objects.create(
            **failed, targets={"files": ["https://www.example.com/b.jpg"]}
        )

    def state(self) -> dict[str, Any]:
        """Everything an action could change."""
        zone = Zone.objects.filter(pk=self.zone.pk).first()
        return {
            "zones": sorted(Zone.objects.values_list("name", flat=True)),
            "plan": zone.plan if zone else None,
            "tested": bool(zone and zone.last_test_at),
            "rows": dict(PurgeRequest.objects.exclude(source="manual").values_list("pk", "status")),
            "manual rows": PurgeRequest.objects.filter(source="manual").count(),
            # Requests made to the site's public URLs (the check at the edge).
            "edge requests": sum(
                1 for c in (self.api.calls if self.api else []) if EDGE_URL in c.request.url
            ),
        }

    def action(self, pk: int, name: str, **extra: str) -> tuple[str, str, dict[str, Any]]:
        return ("post", LOG, {"action": name, "_selected_action": [str(pk)], **extra})

    def request(self, name: str) -> tuple[str, str, dict[str, Any] | None]:
        """``(method, url, data)`` of a row of the table."""
        zone = self.zone.pk
        change = reverse("admin:django_cfpurge_zone_change", args=[zone])
        return {
            "zones: list": ("get", ZONES, None),
            "zones: add, which CDN?": ("get", f"{ZONES}add/", None),
            "zones: add form (?backend=cloudflare)": (
                "get",
                f"{ZONES}add/?backend=cloudflare",
                None,
            ),
            "zones: add, save": (
                "post",
                f"{ZONES}add/?backend=cloudflare",
                zone_post(name="new.example.com", zone_id=OTHER_ZONE_ID, api_token=API_TOKEN),
            ),
            "zones: change page": ("get", change, None),
            "zones: change, save": ("post", change, zone_post(plan="business")),
            "zones: history": ("get", f"{ZONES}{zone}/history/", None),
            "zones: delete page": ("get", f"{ZONES}{zone}/delete/", None),
            "zones: delete, confirmed": ("post", f"{ZONES}{zone}/delete/", {"post": "yes"}),
            "zones: Test connection button": (
                "post",
                reverse("admin:django_cfpurge_zone_test", args=[zone]),
                {},
            ),
            "zones: Test connection action": (
                "post",
                ZONES,
                {"action": "test_connection_action", "_selected_action": [str(zone)]},
            ),
            "log: list": ("get", LOG, None),
            "log: entry": ("get", f"{LOG}{self.files.pk}/change/", None),
            "log: Retry now, URLs": self.action(self.files.pk, "retry_now"),
            "log: Retry now, hostnames": self.action(self.hosts.pk, "retry_now"),
            "log: Retry now, everything": self.action(self.everything.pk, "retry_now"),
            "log: Retry now, everything, confirmed": self.action(
                self.everything.pk, "retry_now", confirmed="yes"
            ),
            "log: Ignore": self.action(self.ignored_target.pk, "ignore"),
            "log: Verify at the edge": (
                "post",
                reverse("admin:django_cfpurge_purgerequest_verify_edge", args=[self.files.pk]),
                {"url": EDGE_URL},
            ),
            "manual purge: page": ("get", PURGE, None),
            "manual purge: URLs": ("post", PURGE, {"kind": "files", "items": "/a.jpg"}),
            "manual purge: everything": ("post", PURGE, {"kind": "everything"}),
            "manual purge: everything, confirmed": (
                "post",
                PURGE,
                {"kind": "everything", "confirmed": "yes"},
            ),
        }[name]

    def effect(self, name: str, before: dict[str, Any]) -> dict[str, Any]:
        """What a successful ``name`` changes in the state ``before`` it."""
        if name == "zones: add, save":
            return {"zones": ["example.com", "new.example.com"]}
        if name == "zones: change, save":
            return {"plan": "business"}
        if name == "zones: delete, confirmed":
            return {"zones": [], "plan": None, "tested": False}
        if name.startswith("zones: Test connection"):
            return {"tested": True}
        if name.startswith("log: Retry now"):
            row = {"URLs": self.files, "hostnames": self.hosts}.get(
                name.split(", ")[1], self.everything
            )
            return {"rows": {**before["rows"], row.pk: "pending"}}
        if name == "log: Verify at the edge":
            # Fetched until HIT, purged, fetched again: MISS.
            return {"edge requests": before["edge requests"] + 2}
        if name == "log: Ignore":
            return {"rows": {**before["rows"], self.ignored_target.pk: "ignored"}}
        if name.startswith("manual purge"):
            return {"manual rows": 1}
        raise AssertionError(f"{name} has no effect to look for")


def outcome(response: Any, changed: bool) -> str:
    """The cell a response and its effect make."""
    status = response.status_code
    if status == 302 and response["Location"].startswith("/admin/login/"):
        assert not changed
        return LOGIN
    if status == 403:
        assert not changed
        return DENIED
    if status == 200:
        assert not changed
        html = response.content.decode()
        asks = 'id="cfpurge-confirm"' in html
        return CONFIRM if asks else PAGE
    if status == 302:
        return DONE if changed else REFUSED
    raise AssertionError(f"unexpected answer {status}")


CELLS = [(action, user) for action in TABLE for user in USERS]


@pytest.mark.parametrize(("action", "user"), CELLS, ids=[f"{a} | {u}" for a, u in CELLS])
def test_who_may_do_what(action, user, cf_api):
    cf_api.add_verify_ok()
    cf_api.add_zone_ok(plan="free")
    cf_api.add_purge_ok()
    cf_api.mock.add("GET", EDGE_URL, headers={"CF-Cache-Status": "HIT", "Age": "40"})
    cf_api.mock.add("GET", EDGE_URL, headers={"CF-Cache-Status": "MISS"})
    world = World(cf_api)
    client = Client()
    account = make_user(user)
    if account is not None:
        client.force_login(account)
    before = world.state()
    method, url, data = world.request(action)
    response = getattr(client, method)(url, data) if data is not None else client.get(url)
    after = world.state()
    expected = TABLE[action][USERS.index(user)]
    changed = after != before
    got = outcome(response, changed)
    assert got == expected, f"{action} by {user}: {got}, expected {expected}"
    if got == DONE:
        assert after == {**before, **world.effect(action, before)}
    # Whatever the answer, the token is not in it.
    assert API_TOKEN not in response.content.decode()


def test_refusals_say_why(client):
    """A change-only user's "Retry now" of a wide purge is refused with a reason."""
    world = World()
    client.force_login(make_user("changer"))
    for row in (world.hosts, world.everything):
        response = client.post(
            LOG,
            {"action": "retry_now", "_selected_action": [str(row.pk)], "confirmed": "yes"},
            follow=True,
        )
        assert "needs the “Can purge the CDN cache by hand” permission" in response.content.decode()
    assert world.state()["rows"] == {
        world.files.pk: "failed",
        world.hosts.pk: "failed",
        world.everything.pk: "failed",
        world.ignored_target.pk: "failed",
    }


@pytest.mark.parametrize("targets", [{"prefixes": ["www.example.com/media"]}, {"hosts": ["a.b"]}])
def test_change_only_user_cannot_resend_wide_rows_mixed_with_narrow_ones(client, targets):
    """A wide row hidden among URL rows does not slip through: nothing is retried."""
    world = World()
    wide = PurgeRequest.objects.create(
        source="api", event="manual", status="failed", zone=world.zone, targets=targets
    )
    client.force_login(make_user("changer"))
    before = world.state()
    client.post(
        LOG,
        {"action": "retry_now", "_selected_action": [str(world.files.pk), str(wide.pk)]},
    )
    assert world.state() == before
    assert PurgeRequest.objects.get(pk=wide.pk).status == "failed"


def test_retry_of_everything_asks_first_then_keeps_the_selection(client):
    world = World()
    client.force_login(make_user("superuser"))
    response = client.post(
        LOG,
        {
            "action": "retry_now",
            "_selected_action": [str(world.files.pk), str(world.everything.pk)],
        },
    )
    html = response.content.decode()
    assert 'id="cfpurge-confirm-retry"' in html
    assert f'name="_selected_action" value="{world.files.pk}"' in html
    assert f'name="_selected_action" value="{world.everything.pk}"' in html
    assert world.state()["rows"][world.everything.pk] == "failed"


def test_one_everything_cooldown_whatever_the_zone_and_the_page(client, cf_api):
    """Two confirmed "everything" purges within the cooldown send one: from the manual
    purge page on two zones, and from "Retry now" of an older "everything" row."""
    world = World()
    other = make_zone("other.example", zone_id=OTHER_ZONE_ID, plan="free")
    client.force_login(make_user("superuser"))
    first = client.post(
        PURGE, {"kind": "everything", "zone": str(world.zone.pk), "confirmed": "yes"}
    )
    assert first.status_code == 302
    second = client.post(
        PURGE, {"kind": "everything", "zone": str(other.pk), "confirmed": "yes"}, follow=True
    )
    assert "Everything was purged less than 60 seconds ago" in second.content.decode()
    third = client.post(
        LOG,
        {
            "action": "retry_now",
            "_selected_action": [str(world.everything.pk)],
            "confirmed": "yes",
        },
        follow=True,
    )
    assert "Everything was purged less than 60 seconds ago" in third.content.decode()
    assert PurgeRequest.objects.filter(source="manual").count() == 1
    assert PurgeRequest.objects.get(pk=world.everything.pk).status == "failed"
    cf_api.add_purge_ok()
    drain()
    assert cf_api.purge_bodies() == [{"purge_everything": True}]


def test_cooldown_is_not_spent_by_a_retry_that_sends_no_everything(client):
    """Re-sending a hostnames row asks first but leaves the "everything" cooldown alone."""
    world = World()
    client.force_login(make_user("superuser"))
    client.post(
        LOG,
        {"action": "retry_now", "_selected_action": [str(world.hosts.pk)], "confirmed": "yes"},
    )
    assert PurgeRequest.objects.get(pk=world.hosts.pk).status == "pending"
    response = client.post(PURGE, {"kind": "everything", "confirmed": "yes"})
    assert response.status_code == 302
    assert PurgeRequest.objects.filter(source="manual").count() == 1


def test_a_done_everything_row_neither_asks_nor_spends_the_cooldown(client):
    """Selecting an "everything" row that was purged already re-sends nothing."""
    world = World()
    PurgeRequest.objects.filter(pk=world.everything.pk).update(status="done")
    client.force_login(make_user("superuser"))
    response = client.post(
        LOG, {"action": "retry_now", "_selected_action": [str(world.everything.pk)]}
    )
    assert response.status_code == 302
    assert PurgeRequest.objects.get(pk=world.everything.pk).status == "done"
    assert client.post(PURGE, {"kind": "everything", "confirmed": "yes"}).status_code == 302


def test_test_connection_button_hidden_from_viewers(client):
    world = World()
    url = reverse("admin:django_cfpurge_zone_change", args=[world.zone.pk])
    client.force_login(make_user("viewer"))
    assert 'id="cfpurge-test-connection"' not in client.get(url).content.decode()
    client.force_login(make_user("changer"))
    assert 'id="cfpurge-test-connection"' in client.get(url).content.decode()


def test_missing_zone_is_no_oracle_for_users_without_change(client):
    """Test connection answers 403 for a zone that exists and one that does not."""
    world = World()
    client.force_login(make_user("viewer"))
    for pk in (world.zone.pk, world.zone.pk + 1000):
        url = reverse("admin:django_cfpurge_zone_test", args=[pk])
        assert client.post(url).status_code == 403


def test_manual_purge_link_only_for_purgers(client):
    World()
    client.force_login(make_user("changer"))
    assert 'id="cfpurge-manual-purge"' not in client.get(LOG).content.decode()
    client.force_login(make_user("purger"))
    assert 'id="cfpurge-manual-purge"' in client.get(LOG).content.decode()


# -- the documented table -----------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.rst"
#: How the cells read in the documentation.
DOC_CELLS = {
    LOGIN: "login",
    DENIED: "no (403)",
    PAGE: "yes",
    CONFIRM: "asks first",
    REFUSED: "no (message)",
    DONE: "yes",
}
DOC_USERS = (
    "anonymous",
    "staff, no permission",
    "view only",
    "view + change",
    "purge_cache + view log",
    "superuser",
)


def documented_table() -> str:
    """:data:`TABLE` as the ``list-table`` of ``docs/security.rst``."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :stub-columns: 1",
        "",
        "   * - URL or action",
        *(f"     - {user}" for user in DOC_USERS),
    ]
    for action, cells in TABLE.items():
        lines.append(f"   * - {action}")
        lines.extend(f"     - {DOC_CELLS[cell]}" for cell in cells)
    return "\n".join(lines)


def test_the_documented_table_is_this_table():
    assert documented_table() in DOC.read_text(encoding="utf-8")


# -- the console, read with the least privilege ---------------------------------------------


def test_view_only_staff_reads_every_console_page_and_is_offered_no_action(client, cf_api):
    """The log with its chart, a request's page, the zone list with health and a zone's
    page: all readable by ``viewer``, none offering a control that would change
    anything (an action, a save, Test connection, a purge)."""
    world = World()
    cf_api.add_purge_error(status=400, code=1012, message="Request failed")
    sent = PurgeRequest.objects.create(
        source="api",
        event="manual",
        zone=world.zone,
        targets={"files": ["https://www.example.com/x.jpg"]},
    )
    drain()
    client.force_login(make_user("viewer"))
    pages = {
        LOG: ['id="cfpurge-chart-svg"', 'id="result_list"'],
        f"{LOG}{sent.pk}/change/": ['id="cfpurge-calls"', "1012"],
        ZONES: ['class="field-queue"', 'class="field-test_status"'],
        reverse("admin:django_cfpurge_zone_change", args=[world.zone.pk]): [
            'id="cfpurge-zone-health"'
        ],
    }
    for url, shown in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for marker in shown:
            assert marker in html, (url, marker)
        for control in (
            'name="action"',
            'name="_selected_action"',
            'name="_save"',
            'name="_continue"',
            'id="cfpurge-test-connection"',
            'id="cfpurge-manual-purge"',
            "deletelink",
            "addlink",
        ):
            assert control not in html, (url, control)
        # At most the mask ("set, ends in …"), on the zone's page only.
        assert API_TOKEN not in html, url
        assert html.count(API_TOKEN[-4:]) == html.count(f"ends in …{API_TOKEN[-4:]}"), url


def test_links_lead_only_where_the_user_may_go(client):
    """A purger reads the log but not zones: a request's page names its zone without a
    link; a viewer of both gets the link."""
    world = World()
    url = f"{LOG}{world.files.pk}/change/"
    zone_url = reverse("admin:django_cfpurge_zone_change", args=[world.zone.pk])
    client.force_login(make_user("purger"))
    html = client.get(url).content.decode()
    assert "example.com" in html and zone_url not in html
    client.force_login(make_user("viewer"))
    assert zone_url in client.get(url).content.decode()
