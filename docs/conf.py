"""Sphinx configuration for django-cfpurge's documentation."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Read, not imported: the version must not depend on Django being importable.
_version_source = (ROOT / "django_cfpurge" / "_version.py").read_text(encoding="utf-8")
_version_match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", _version_source, re.M)
if _version_match is None:
    raise RuntimeError("django_cfpurge/_version.py does not define __version__")

project = "django-cfpurge"
author = "django-cfpurge contributors"
copyright = "django-cfpurge contributors"
release = _version_match.group(1)
version = ".".join(release.split(".")[:2])

# The build stays offline: no intersphinx.
extensions = ["sphinx.ext.autodoc", "myst_parser"]
# benchmarks.md is written by bench/run.py in Markdown.
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 2
autodoc_member_order = "bysource"
autodoc_typehints = "description"

templates_path: list[str] = []
# _research holds the engineers' source notes, not user documentation.
exclude_patterns = ["_build", "_research"]
html_theme = "alabaster"
html_static_path: list[str] = []

# autodoc imports models and admin, which need a configured Django. A failure here is
# reported and the build goes on: pages that autodoc such modules then fail on their own.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
try:
    import django

    django.setup()
except Exception:  # pages without autodoc must still build
    logging.getLogger(__name__).warning("Django could not be set up for autodoc", exc_info=True)


def setup(app):  # type: ignore[no-untyped-def]
    """``.. setting:: NAME`` marks a key of ``CFPURGE``; ``:setting:`NAME``` links to it."""
    app.add_crossref_type(
        directivename="setting", rolename="setting", indextemplate="pair: %s; setting"
    )
