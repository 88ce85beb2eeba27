"""Model changes made the way a web process makes them, for the integration tests.

Run with the integration settings (``tests/procs.py``'s ``integration_env()`` sets them)::

    python -m tests.integration.scenario create --name cat.jpg
    python -m tests.integration.scenario replace --pk 3 --name dog.jpg
    python -m tests.integration.scenario bulk --count 5000 --transactions 5

Each command saves or deletes ``testapp.Photo`` objects through the ORM, so django-cfpurge's
receivers run exactly as in a site, and prints one JSON object on stdout saying what it did:
primary keys, the file names involved and the folder ids, from which a test works out the
URLs that must (or must not) be purged. Logging goes to stderr.

``testapp.Photo`` is registered through ``CFPURGE["MODELS"]`` (see
:mod:`tests.integration.photos`), like in the Celery workers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integration.settings")

import django

django.setup()

from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.db import transaction  # noqa: E402

from tests.testapp.models import Folder, Photo  # noqa: E402


class RolledBack(Exception):
    """Raised inside ``transaction.atomic()`` to roll a block of changes back."""


def _content(label: str) -> ContentFile:
    # Distinct bytes per upload, as a real new version would have.
    return ContentFile(f"{label} {time.time_ns()}\n".encode())


def _folder(slug: str | None) -> Folder | None:
    if not slug:
        return None
    folder, _ = Folder.objects.get_or_create(slug=slug)
    return folder


def _new_photo(name: str, *, folder: Folder | None = None, title: str = "") -> Photo:
    photo = Photo(title=title or name, folder=folder)
    photo.image.save(name, _content(name), save=False)
    photo.save()
    return photo


def _facts(photo: Photo) -> dict[str, Any]:
    return {"pk": photo.pk, "name": photo.image.name, "folder": photo.folder_id}


# -- one change each -----------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> dict[str, Any]:
    photo = _new_photo(args.name, folder=_folder(args.folder))
    return _facts(photo)


def cmd_replace(args: argparse.Namespace) -> dict[str, Any]:
    photo = Photo.objects.get(pk=args.pk)
    old = photo.image.name
    photo.image = ContentFile(_content(args.name).read(), name=args.name)
    photo.save()
    return {**_facts(photo), "old": old, "new": photo.image.name}


def cmd_overwrite(args: argparse.Namespace) -> dict[str, Any]:
    photo = Photo.objects.get(pk=args.pk)
    old = photo.image.name
    # Upload a new version under the same file name: the storage writes it over the old one.
    photo.image = ContentFile(_content(old).read(), name=os.path.basename(old))
    photo.save()
    return {**_facts(photo), "old": old}


def cmd_rename(args: argparse.Namespace) -> dict[str, Any]:
    photo = Photo.objects.get(pk=args.pk)
    old = photo.image.name
    new = default_storage.save(args.to, default_storage.open(old))
    default_storage.delete(old)
    photo.image.name = new
    photo.save()
    return {**_facts(photo), "old": old, "new": new}


def cmd_delete(args: argparse.Namespace) -> dict[str, Any]:
    photo = Photo.objects.get(pk=args.pk)
    facts = _facts(photo)
    photo.delete()
    return facts


def cmd_block(args: argparse.Namespace) -> dict[str, Any]:
    photo = Photo.objects.get(pk=args.pk)
    photo.is_public = False
    photo.save()
    return _facts(photo)


def cmd_move(args: argparse.Namespace) -> dict[str, Any]:
    photo = Photo.objects.get(pk=args.pk)
    old_folder = photo.folder_id
    photo.folder = _folder(args.folder)
    photo.save()
    return {**_facts(photo), "old_folder": old_folder}


def cmd_touch(args: argparse.Namespace) -> dict[str, Any]:
    """Change fields django-cfpurge does not watch: nothing to purge."""
    photo = Photo.objects.get(pk=args.pk)
    photo.title = f"{photo.title} (edited)"
    photo.views += 1
    photo.save()
    return _facts(photo)


def cmd_rollback(args: argparse.Namespace) -> dict[str, Any]:
    """Create, replace, block, move and delete inside one transaction that rolls back."""
    attempted: dict[str, Any] = {}
    try:
        with transaction.atomic():
            created = _new_photo(args.name)
            attempted["created"] = _facts(created)
            photo = Photo.objects.get(pk=args.pk)
            attempted["replaced"] = {"pk": photo.pk, "old": photo.image.name}
            photo.image = ContentFile(b"never\n", name=f"never-{args.name}")
            photo.save()
            attempted["replaced"]["new"] = photo.image.name
            photo.is_public = not photo.is_public
            photo.folder = _folder(f"never-{photo.pk}")
            attempted["moved_to"] = photo.folder_id
            photo.save()
            photo.delete()
            raise RolledBack
    except RolledBack:
        pass
    return {
        "committed": False,
        "attempted": attempted,
        "exists": Photo.objects.filter(pk=args.pk).exists(),
    }


def cmd_burst(args: argparse.Namespace) -> dict[str, Any]:
    """Save one photo ``count`` times in a row, each save its own transaction."""
    photo = Photo.objects.get(pk=args.pk)
    started = time.monotonic()
    for _ in range(args.count):
        photo.is_public = not photo.is_public
        photo.save()
    return {**_facts(photo), "saves": args.count, "seconds": time.monotonic() - started}


# -- many changes --------------------------------------------------------------------------


def _in_transactions(
    count: int, transactions: int, work: Callable[[int], Any]
) -> tuple[list[Any], list[float]]:
    """Run ``work(i)`` for i in range(count), split into ``transactions`` transactions
    (0: no transaction, every save commits on its own).

    :returns: the results, and how long each transaction took, its commit and on-commit
        callbacks (the drain dispatch) included.
    """
    if transactions <= 0:
        return [work(i) for i in range(count)], []
    size = max(1, -(-count // transactions))
    done: list[Any] = []
    seconds: list[float] = []
    for start in range(0, count, size):
        began = time.monotonic()
        with transaction.atomic():
            done += [work(i) for i in range(start, min(count, start + size))]
        seconds.append(round(time.monotonic() - began, 2))
    return done, seconds


def cmd_bulk(args: argparse.Namespace) -> dict[str, Any]:
    """Create ``count`` photos through the ORM (one outbox row each)."""
    started = time.monotonic()

    def create(i: int) -> list[Any]:
        photo = _new_photo(f"{args.prefix}-{i:05d}.jpg")
        return [photo.pk, photo.image.name]

    photos, commits = _in_transactions(args.count, args.transactions, create)
    return {"photos": photos, "commit_seconds": commits, "seconds": time.monotonic() - started}


def cmd_rollback_bulk(args: argparse.Namespace) -> dict[str, Any]:
    """Create ``count`` photos in one transaction that rolls back."""
    attempted: list[list[Any]] = []
    try:
        with transaction.atomic():
            for i in range(args.count):
                photo = _new_photo(f"{args.prefix}-{i:05d}.jpg")
                attempted.append([photo.pk, photo.image.name])
            raise RolledBack
    except RolledBack:
        pass
    return {"committed": False, "photos": attempted}


MIXED_OPS = ("replace", "rename", "delete", "block")


def cmd_mixed(args: argparse.Namespace) -> dict[str, Any]:
    """One change to each of ``count`` photos, cycling through replace, rename, delete, block.

    The photos are first made with ``bulk_create`` (no signals, so nothing to purge for
    them); then each gets exactly one change through the ORM, so the URLs of different
    changes never overlap.
    """
    started = time.monotonic()
    names = [f"{args.prefix}-{i:05d}.jpg" for i in range(args.count)]
    for name in names:
        default_storage.save(f"photos/{name}", _content(name))
    Photo.objects.bulk_create(
        [Photo(title=name, image=f"photos/{name}") for name in names], batch_size=500
    )
    seeded = list(Photo.objects.filter(title__in=names).order_by("pk").values_list("pk", flat=True))

    def change(i: int) -> dict[str, Any]:
        op = MIXED_OPS[i % len(MIXED_OPS)]
        photo = Photo.objects.get(pk=seeded[i])
        old = photo.image.name
        purged = [old]
        if op == "replace":
            photo.image = ContentFile(b"v2\n", name=f"{args.prefix}-{i:05d}-v2.jpg")
            photo.save()
            purged.append(photo.image.name)
        elif op == "rename":
            new = default_storage.save(f"photos/moved/{os.path.basename(old)}", ContentFile(b"m"))
            photo.image.name = new
            photo.save()
            purged.append(new)
        elif op == "delete":
            photo.delete()
        else:
            photo.is_public = False
            photo.save()
        return {"pk": seeded[i], "op": op, "names": purged}

    changes, commits = _in_transactions(len(seeded), args.transactions, change)
    return {"changes": changes, "commit_seconds": commits, "seconds": time.monotonic() - started}


# -- Celery --------------------------------------------------------------------------------


def cmd_kick(args: argparse.Namespace) -> dict[str, Any]:
    """Send ``drains`` drain tasks (as many as there are workers that should drain)."""
    from django_cfpurge.tasks import drain_outbox

    for _ in range(args.drains):
        drain_outbox.apply_async()
    return {"sent": args.drains}


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], str]] = {
    "create": (cmd_create, "create a photo"),
    "replace": (cmd_replace, "upload a file under a new name"),
    "overwrite": (cmd_overwrite, "upload a new version under the same name"),
    "rename": (cmd_rename, "move the file to another name"),
    "delete": (cmd_delete, "delete a photo"),
    "block": (cmd_block, "make a photo non-public (watched field)"),
    "move": (cmd_move, "move a photo to another folder (watched field)"),
    "touch": (cmd_touch, "change fields that are not watched"),
    "rollback": (cmd_rollback, "changes in a transaction that rolls back"),
    "burst": (cmd_burst, "save one photo many times in a row"),
    "bulk": (cmd_bulk, "create many photos"),
    "rollback-bulk": (cmd_rollback_bulk, "create many photos, then roll back"),
    "mixed": (cmd_mixed, "one change each to many photos"),
    "kick": (cmd_kick, "send drain tasks"),
}


#: Commands that change one existing photo, given by ``--pk``.
ON_ONE_PHOTO = (
    "replace",
    "overwrite",
    "rename",
    "delete",
    "block",
    "move",
    "touch",
    "rollback",
    "burst",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.scenario")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name in ("create", "replace", "rollback"):
            p.add_argument("--name", required=True, help="file name (stored under photos/)")
        if name in ON_ONE_PHOTO:
            p.add_argument("--pk", type=int, required=True)
        if name in ("create", "move"):
            p.add_argument("--folder", default=None, help="folder slug (created if needed)")
        if name == "rename":
            p.add_argument("--to", required=True, help="new file name, e.g. photos/old/cat.jpg")
        if name in ("burst", "bulk", "rollback-bulk", "mixed"):
            p.add_argument("--count", type=int, required=True)
        if name in ("bulk", "rollback-bulk", "mixed"):
            p.add_argument("--prefix", default="bulk", help="file names start with this")
        if name in ("bulk", "mixed"):
            p.add_argument(
                "--transactions",
                type=int,
                default=0,
                help="split the changes into this many transactions (0: one per save)",
            )
        if name == "kick":
            p.add_argument("--drains", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func, _help = COMMANDS[args.command]
    result = {"command": args.command, **func(args)}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
