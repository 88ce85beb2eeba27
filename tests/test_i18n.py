"""Every message a person reads is marked for translation, and looked up when it is shown.

People read the admin, forms, Test connection and command output: those are translated.
System-check messages and log lines are not (as in Django itself).

* ``makemessages`` (GNU gettext's ``xgettext``) extracts a catalog from a temporary copy of
  the package, and the messages the run-time tests below translate are in it;
* an AST scan fails on a new plain or f-string message in the places people read;
* a small compiled catalog for a made-up language proves that Test connection, the
  credentials checks, the admin and the command look their messages up at run time, and
  that system checks stay in English.
"""

from __future__ import annotations

import array
import ast
import io
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

import django_cfpurge
from django_cfpurge import checks, targets
from django_cfpurge.backends.cloudflare.credentials import clean_zone_id
from django_cfpurge.diagnostics import ConnectionTest
from django_cfpurge.exceptions import InvalidCredentials, InvalidTarget
from django_cfpurge.testing import make_zone
from tests.cfapi import API_TOKEN, ZONE_ID
from tests.procs import unavailable

PACKAGE = Path(django_cfpurge.__file__).resolve().parent
GETTEXT_PROGRAMS = ("xgettext", "msguniq", "msgmerge")

# -- extraction ---------------------------------------------------------------------------


def _read_po(text: str) -> dict[str, dict[str, Any]]:
    """The entries of a .po file by msgid (``context\x04msgid`` with a context), each with
    ``msgid_plural``, ``refs`` (file names) and ``flags``."""
    entries: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {"refs": [], "flags": []}
    key = ""

    def finish() -> None:
        if "msgid" in current:
            context = current.get("msgctxt")
            msgid = current["msgid"]
            entries[f"{context}\x04{msgid}" if context is not None else msgid] = current

    for line in [*text.splitlines(), ""]:
        if not line.strip():
            finish()
            current, key = {"refs": [], "flags": []}, ""
        elif line.startswith("#:"):
            current["refs"] += [ref.rsplit(":", 1)[0] for ref in line[2:].split()]
        elif line.startswith("#,"):
            current["flags"] += [flag.strip() for flag in line[2:].split(",")]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[key] += ast.literal_eval(line)
        else:
            key, _, rest = line.partition(" ")
            current[key] = ast.literal_eval(rest)
    return entries


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run makemessages for a made-up locale on a copy of the package, never in the repo."""
    missing = [name for name in GETTEXT_PROGRAMS if shutil.which(name) is None]
    if missing:
        unavailable(
            f"GNU gettext is not installed ({', '.join(missing)} missing): apt-get install gettext"
        )
    copy = tmp_path_factory.mktemp("i18n") / "django_cfpurge"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "locale"))
    (copy / "locale").mkdir()
    before = os.getcwd()
    os.chdir(copy)
    try:
        with override_settings(LOCALE_PATHS=[]):
            call_command("makemessages", locale=["xx"], verbosity=0)
    finally:
        os.chdir(before)
    po = copy / "locale" / "xx" / "LC_MESSAGES" / "django.po"
    return _read_po(po.read_text(encoding="utf-8"))


def test_every_message_translated_below_is_in_the_catalog(extracted):
    for msgid in PSEUDO:
        singular, plural = msgid if isinstance(msgid, tuple) else (msgid, None)
        entry = extracted.get(singular)
        assert entry is not None, f"not marked for translation: {singular!r}"
        assert entry.get("msgid_plural") == plural
        if "%(" in singular:
            assert "python-format" in entry["flags"]


def test_the_catalog_is_complete_and_never_written_in_the_repo(extracted):
    # Far more than the list above: the whole package is marked.
    assert len(extracted) > 300
    assert not (PACKAGE / "locale").exists()


# -- no new unmarked message --------------------------------------------------------------

#: Exceptions whose message people read (in the admin, the purge log, checks, the CLI).
_READ_EXCEPTIONS = {
    "AlreadyRegistered",
    "CfPurgeConfigurationError",
    "CfPurgeError",
    "BackendError",
    "AuthenticationFailed",
    "InvalidTarget",
    "InsecureAPIURL",
    "InvalidResponse",
    "NetworkError",
    "RateLimited",
    "RequestRejected",
    "ServerError",
    "ZoneNotFound",
    "CommandError",
    "InvalidCredentials",
    "NotRegistered",
    "ValidationError",
    "ValueError",
}
#: Calls whose arguments are shown as they are: (name, positions of the message arguments).
_SHOWN_ARGS = {
    "StepResult": (1, 2),
    "skip_rest": (1,),
    "write": (0,),
    "message_user": (1,),
    "error": (1,),
    "success": (1,),
    "add_error": (1,),
}
_SHOWN_KEYWORDS = {"hint", "help", "description", "empty_label", "label", "help_text"}
_SCANNED = [
    *(f"admin/{module.name}" for module in sorted((PACKAGE / "admin").glob("*.py"))),
    "api.py",
    "backends/cloudflare/credentials.py",
    "backends/cloudflare/messages.py",
    "backends/cloudflare/steps.py",
    "backends/http.py",
    "credentials.py",
    "diagnostics.py",
    "forms.py",
    "targets.py",
    "management/commands/cfpurge.py",
    *(
        f"management/cfpurge/{m.name}"
        for m in sorted((PACKAGE / "management" / "cfpurge").glob("*.py"))
    ),
]


def _literal_text(node: ast.expr) -> bool:
    """True for a plain string or f-string with words in it, or one built with + or %."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and any(c.isalpha() for c in str(part.value))
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _literal_text(node.left) or (
            isinstance(node.op, ast.Add) and _literal_text(node.right)
        )
    return False


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _unmarked(path: Path, root: Path = PACKAGE) -> list[str]:
    """``file:line: code`` of each plain or f-string message in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        positions = (0,) if name in _READ_EXCEPTIONS else _SHOWN_ARGS.get(name, ())
        shown = [node.args[i] for i in positions if i < len(node.args)]
        shown += [kw.value for kw in node.keywords if kw.arg in _SHOWN_KEYWORDS]
        for arg in shown:
            if _literal_text(arg):
                found.append(f"{path.relative_to(root)}:{arg.lineno}: {ast.unparse(arg)[:70]}")
    return found


def test_no_message_people_read_is_a_plain_string():
    found = [line for name in _SCANNED for line in _unmarked(PACKAGE / name)]
    assert found == [], "wrap these in gettext():\n" + "\n".join(found)


def test_the_scan_finds_plain_and_f_strings(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "raise CommandError(f'No zone {name}.')\n"
        "raise ValueError('Bad value.')\n"
        "self.stdout.write('Done: ' + str(n))\n"
        "raise CommandError(gettext('No zone %(name)s.') % {'name': name})\n"
        "self.stderr.write('')\n"
    )
    assert [line.split(":")[1] for line in _unmarked(sample, tmp_path)] == ["1", "2", "3"]


# -- looked up at run time ----------------------------------------------------------------

#: A made-up language: each message, with "[xx] " in front of its sentences.
PSEUDO: dict[str | tuple[str, str], str | tuple[str, str]] = {
    "Credentials": "[xx] Credentials",
    "Skipped: the credentials were not accepted.": "[xx] Skipped: not accepted.",
    ("code %(codes)s", "codes %(codes)s"): ("[xx] one code %(codes)s", "[xx] codes %(codes)s"),
    "Cloudflare rejected the API token: it is unknown, revoked or mistyped (%(cited)s). "
    "Create a new token under My Profile → API Tokens (an account-owned token: under "
    "Manage Account → API Tokens, and enter the Account ID).": "[xx] Token rejected (%(cited)s).",
    "The %(label)s contains a space or line break inside it. Copy it again from the "
    "dashboard in one piece (only the characters of the value).": ("[xx] Space in the %(label)s."),
    "Zone ID": "[xx] Zone ID",
    (
        "%(count)d purge request(s) made due again.",
        "%(count)d purge request(s) made due again.",
    ): ("[xx] %(count)d request due again.", "[xx] %(count)d requests due again."),
    "CDN cache purging: test, urls, tags, prefixes, hosts, everything, drain, "
    "retry, status, verify, rotate-keys.": "[xx] CDN cache purging.",
    "Run Test connection for every zone (or --zone).": "[xx] Test every zone.",
    "Only http:// and https:// URLs can be purged, not %(url)s.": "[xx] Not http: %(url)s.",
    "Add a CDN zone: which CDN?": "[xx] Which CDN?",
}


def _write_mo(path: Path, messages: dict[str | tuple[str, str], str | tuple[str, str]]) -> None:
    """Compile ``messages`` into a GNU .mo file (the format msgfmt writes)."""
    catalog = {
        b"": b"Content-Type: text/plain; charset=UTF-8\n"
        b"Plural-Forms: nplurals=2; plural=(n != 1);\n"
    }
    for msgid, msgstr in messages.items():
        key = "\0".join(msgid) if isinstance(msgid, tuple) else msgid
        value = "\0".join(msgstr) if isinstance(msgstr, tuple) else msgstr
        catalog[key.encode()] = value.encode()
    keys = sorted(catalog)
    ids = strs = b""
    spans = []
    for key in keys:
        spans.append((len(ids), len(key), len(strs), len(catalog[key])))
        ids += key + b"\0"
        strs += catalog[key] + b"\0"
    key_start = 7 * 4 + 16 * len(keys)
    value_start = key_start + len(ids)
    key_table: list[int] = []
    value_table: list[int] = []
    for id_offset, id_length, str_offset, str_length in spans:
        key_table += [id_length, id_offset + key_start]
        value_table += [str_length, str_offset + value_start]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + len(keys) * 8, 0, 0)
    path.write_bytes(header + array.array("i", key_table + value_table).tobytes() + ids + strs)


@pytest.fixture
def pseudo_language(tmp_path, settings):
    """Language "xx", from a catalog in a temporary LOCALE_PATHS directory."""
    messages = tmp_path / "locale" / "xx" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    _write_mo(messages / "django.mo", PSEUDO)
    # Changing LOCALE_PATHS empties Django's translation caches (and again when restored).
    settings.LOCALE_PATHS = [str(tmp_path / "locale")]
    return "xx"


@pytest.mark.django_db
def test_test_connection_messages_are_translated(pseudo_language, cf_api):
    zone = make_zone("example.com", zone_id=ZONE_ID, api_token=API_TOKEN)

    def run() -> dict[str, tuple[str, str]]:
        cf_api.add_verify_error(401, 1000, "Invalid API Token")
        cf_api.add_zone_error(status=401, code=1000, message="Invalid API Token")
        report = ConnectionTest(zone).run()
        return {step.key: (step.label, step.message) for step in report.steps}

    with translation.override(pseudo_language):
        steps = run()
    assert steps["credentials"] == (
        "[xx] Credentials",
        "[xx] Token rejected (HTTP 401, [xx] one code 1000).",
    )
    assert steps["zone"][1] == "[xx] Skipped: not accepted."
    # The same code, in English when no translation is active.
    assert run()["credentials"][1].startswith(
        "Cloudflare rejected the API token: it is unknown, revoked or mistyped "
        "(HTTP 401, code 1000)."
    )


@pytest.mark.django_db
def test_check_messages_stay_in_english(pseudo_language, settings):
    settings.CFPURGE = {"BASE_URLS": ["https://www.example.com"], "ENABLED": False}
    with translation.override(pseudo_language):
        (no_zone,) = checks.check_zones()
        disabled = [m for m in checks.check_settings() if m.id == "cfpurge.W005"]
    assert no_zone.id == "cfpurge.W001"
    assert no_zone.msg.startswith("No CDN zone is configured")
    assert [m.msg for m in disabled] == [
        "CFPURGE['ENABLED'] is False: changes are recorded but not sent."
    ]


def test_purge_input_errors_are_translated(pseudo_language):
    with translation.override(pseudo_language), pytest.raises(InvalidTarget) as err:
        targets.clean("files", ["ftp://www.example.com/x"])
    assert str(err.value) == "[xx] Not http: 'ftp://www.example.com/x'."


@pytest.mark.django_db
def test_admin_pages_are_translated(pseudo_language, admin_client):
    with translation.override(pseudo_language):
        html = admin_client.get("/admin/django_cfpurge/zone/add/").content.decode()
    assert "[xx] Which CDN?" in html


def test_credentials_messages_and_lazy_labels_are_translated(pseudo_language):
    with translation.override(pseudo_language), pytest.raises(InvalidCredentials) as err:
        clean_zone_id("023e105f 4ecef8ad")
    assert str(err.value) == "[xx] Space in the [xx] Zone ID."


@pytest.mark.django_db
def test_command_output_is_translated(pseudo_language):
    out = io.StringIO()
    with translation.override(pseudo_language):
        call_command("cfpurge", "retry", stdout=out)
    assert out.getvalue() == "[xx] 0 requests due again.\n"


def test_command_help_is_translated(pseudo_language):
    from django_cfpurge.management.commands.cfpurge import Command

    with translation.override(pseudo_language):
        text = Command().create_parser("manage.py", "cfpurge").format_help()
    assert "[xx] CDN cache purging." in text
    assert "[xx] Test every zone." in text
