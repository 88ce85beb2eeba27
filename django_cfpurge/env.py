"""Read ``CFPURGE`` from the environment with django-environ: one variable per key.

In ``settings.py``::

    from django_cfpurge.env import cfpurge_from_env

    CFPURGE = cfpurge_from_env(BASE_URLS=["https://www.example.com"])

Every key of the settings reference is read from ``CFPURGE_<KEY>`` when that variable
is set (``CFPURGE_API_TOKEN``, ``CFPURGE_ZONE_ID``, ``CFPURGE_API_URL``,
``CFPURGE_ENABLED``…), typed like its default: booleans (``true``/``false``, ``1``/``0``,
``on``/``off``), numbers, comma-separated lists (``CFPURGE_BASE_URLS``,
``CFPURGE_HOSTNAMES``, ``CFPURGE_ENCRYPTION_KEYS``), and JSON for ``ZONES``, ``MODELS``
and ``BACKENDS``. Keyword arguments are the values used when a variable is not set; a
set variable wins over them, so a deploy changes a value without a code change. A value
that does not parse is reported by ``manage.py check`` (never a crash at start).

This module imports no Django model: it is safe in a settings file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import environ

from .conf import DEFAULTS, parse_bool

#: The prefix of the variables.
PREFIX = "CFPURGE_"
#: Keys read as comma-separated lists.
LIST_KEYS = frozenset({"BASE_URLS", "HOSTNAMES", "ENCRYPTION_KEYS"})
#: Keys read as JSON.
JSON_KEYS = frozenset({"ZONES", "MODELS", "BACKENDS"})
#: Keys whose default is None read as whole numbers (the others are typed by their default).
INT_KEYS = frozenset({"MAX_ITEMS_PER_REQUEST", "ESCALATE_URLS_OVER"})
#: Keys whose default is None read as booleans.
BOOL_KEYS = frozenset({"PAGE_TAGS"})


def _reader(env: environ.Env, key: str) -> Callable[[str], Any]:
    default = DEFAULTS[key]
    if key in JSON_KEYS:
        return env.json
    if key in LIST_KEYS:
        return env.list
    if isinstance(default, bool) or key in BOOL_KEYS:
        # Strict, unlike ``env.bool`` (which reads any unknown word as False): a typo
        # must not switch purging off in silence.
        return lambda name: parse_bool(env.str(name))
    if key in INT_KEYS or isinstance(default, int):
        return env.int
    if isinstance(default, float):
        return env.float
    return env.str


def cfpurge_from_env(
    *, environ_mapping: Mapping[str, str] | None = None, **defaults: Any
) -> dict[str, Any]:
    """The ``CFPURGE`` dict: ``defaults``, overridden by every ``CFPURGE_<KEY>`` variable set.

    :param environ_mapping: the variables to read (``os.environ`` by default).
    :param defaults: values of keys whose variable is not set (the package's own
        defaults apply to the others).
    :raises KeyError: a keyword argument is not a known key (a typo in the settings file).
    """
    unknown = set(defaults) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"Unknown CFPURGE keys: {', '.join(sorted(unknown))}.")
    env = environ.Env()
    env.ENVIRON = os.environ if environ_mapping is None else environ_mapping
    settings = dict(defaults)
    for key in DEFAULTS:
        name = PREFIX + key
        if name not in env.ENVIRON:
            continue
        raw = env.ENVIRON[name]
        if raw.strip() == "" and DEFAULTS[key] is None:
            settings[key] = None
            continue
        try:
            settings[key] = _reader(env, key)(name)
        except (ValueError, TypeError):
            # Kept as given: ``manage.py check`` names the key and what it must be.
            settings[key] = raw
    return settings
