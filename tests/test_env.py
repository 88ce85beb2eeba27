"""``cfpurge_from_env``: every ``CFPURGE`` key from ``CFPURGE_<KEY>``, typed by its default."""

from __future__ import annotations

import json

import pytest
from django.core import checks
from django.test import override_settings

from django_cfpurge import checks as cf_checks
from django_cfpurge import conf
from django_cfpurge.env import cfpurge_from_env

ZONE_ID = "0123456789abcdef0123456789abcdef"


def test_variables_are_typed_like_their_defaults():
    settings = cfpurge_from_env(
        environ_mapping={
            "CFPURGE_ENABLED": "off",
            "CFPURGE_TIMEOUT": "12.5",
            "CFPURGE_MAX_ATTEMPTS": "7",
            "CFPURGE_CLAIM_LEASE_SECONDS": "900",
            "CFPURGE_RETENTION_DAYS": "30",
            "CFPURGE_MAX_ITEMS_PER_REQUEST": "30",
            "CFPURGE_BASE_URLS": "https://example.com,https://www.example.com",
            "CFPURGE_ZONES": json.dumps([{"NAME": "example.net", "ZONE_ID": ZONE_ID}]),
            "CFPURGE_ZONE_ID": ZONE_ID,
            "UNRELATED": "x",
        }
    )
    assert settings == {
        "ENABLED": False,
        "TIMEOUT": 12.5,
        "MAX_ATTEMPTS": 7,
        "CLAIM_LEASE_SECONDS": 900,
        "RETENTION_DAYS": 30,
        "MAX_ITEMS_PER_REQUEST": 30,
        "BASE_URLS": ["https://example.com", "https://www.example.com"],
        "ZONES": [{"NAME": "example.net", "ZONE_ID": ZONE_ID}],
        "ZONE_ID": ZONE_ID,
    }
    with override_settings(CFPURGE=settings):
        assert conf.problems() == []
        assert [m.id for m in cf_checks.check_settings()] == ["cfpurge.W005"]
        assert conf.get_int("CLAIM_LEASE_SECONDS") == 900


def test_a_set_variable_wins_over_the_keyword_default():
    settings = cfpurge_from_env(
        environ_mapping={"CFPURGE_API_URL": "http://127.0.0.1:8787/client/v4"},
        API_URL="https://api.cloudflare.com/client/v4",
        BASE_URLS=["https://www.example.com"],
    )
    assert settings["API_URL"] == "http://127.0.0.1:8787/client/v4"
    assert settings["BASE_URLS"] == ["https://www.example.com"]


def test_an_empty_variable_of_a_none_default_means_none():
    settings = cfpurge_from_env(
        environ_mapping={"CFPURGE_HOSTNAMES": "", "CFPURGE_MAX_ITEMS_PER_REQUEST": " "}
    )
    assert settings == {"HOSTNAMES": None, "MAX_ITEMS_PER_REQUEST": None}


@pytest.mark.parametrize(
    ("variable", "raw", "key", "read"),
    [
        ("CFPURGE_CLAIM_LEASE_SECONDS", "five minutes", "CLAIM_LEASE_SECONDS", conf.get_float),
        ("CFPURGE_MAX_ATTEMPTS", "2.5", "MAX_ATTEMPTS", conf.get_int),
        ("CFPURGE_TIMEOUT", "soon", "TIMEOUT", conf.get_float),
        ("CFPURGE_ENABLED", "perhaps", "ENABLED", conf.get_bool),
    ],
)
def test_a_value_that_does_not_parse_is_kept_and_named_by_check(variable, raw, key, read):
    settings = cfpurge_from_env(environ_mapping={variable: raw})
    assert settings == {key: raw}
    with override_settings(CFPURGE=settings):
        (error,) = cf_checks.check_settings()
        assert error.id == "cfpurge.E010"
        assert key in error.msg and repr(raw) in error.msg
        # What saves and workers read meanwhile is the default, not the text.
        assert read(key) == conf.DEFAULTS[key]


@pytest.mark.django_db
def test_zones_that_are_not_json_are_a_warning_naming_zones():
    settings = cfpurge_from_env(environ_mapping={"CFPURGE_ZONES": "[{not json"})
    assert settings == {"ZONES": "[{not json"}
    with override_settings(CFPURGE=settings):
        found = [m for m in cf_checks.check_zones() if m.id == "cfpurge.W012"]
        assert found and all(m.level == checks.WARNING for m in found)
        assert "ZONES" in found[0].msg


def test_a_misspelt_keyword_fails_loudly():
    with pytest.raises(KeyError, match="ZONE_IDD"):
        cfpurge_from_env(environ_mapping={}, ZONE_IDD=ZONE_ID)


def test_it_reads_os_environ_by_default(monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("CFPURGE_")]:
        monkeypatch.delenv(name)  # a shell's or tox's own CFPURGE_* variables
    monkeypatch.setenv("CFPURGE_RETENTION_DAYS", "3")
    assert cfpurge_from_env() == {"RETENTION_DAYS": 3}
