"""The example project with another CDN: ``CFPURGE_BACKEND`` picks the backend (read by
``cfpurge_from_env``), ``run_demo.py`` points the demo at the matching fake, and ``python
-m fakecdn --api …`` runs it. The default stays Cloudflare."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import requests

from django_cfpurge.backends import get_backend_class
from django_cfpurge.env import cfpurge_from_env
from django_cfpurge.testing.bunny_api import DEFAULT_PULL_ZONE_ID, FakeBunny
from django_cfpurge.testing.cloudflare_images_api import FakeCloudflareImages
from django_cfpurge.zones import settings_values

EXAMPLE_PROJECT = Path(__file__).resolve().parent.parent / "example_project"
if str(EXAMPLE_PROJECT) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_PROJECT))

from fakecdn import cli  # noqa: E402  (example_project is put on sys.path just above)


def run_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_demo", EXAMPLE_PROJECT / "run_demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["cloudflare", "bunny", "cloudflare_images"])
def test_the_demo_environment_makes_a_valid_zone_of_each_backend(backend: str) -> None:
    env = run_demo().backend_env(backend, "http://127.0.0.1:8787")
    settings = cfpurge_from_env(environ_mapping=env)
    assert settings["BACKEND"] == backend
    cls = get_backend_class(settings["BACKEND"])
    credentials = cls.clean_credentials(settings_values(settings))
    assert credentials.zone_id == settings["ZONE_ID"].lower()
    if backend == "bunny":
        assert (settings["ZONE_ID"], settings["BUNNY_API_URL"]) == (
            str(DEFAULT_PULL_ZONE_ID),
            "http://127.0.0.1:8787",
        )
    else:
        assert settings["API_URL"] == "http://127.0.0.1:8787/client/v4"


def test_the_demo_defaults_to_cloudflare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CFPURGE_BACKEND", raising=False)
    assert run_demo().parse_args([]).backend == "cloudflare"
    monkeypatch.setenv("CFPURGE_BACKEND", "bunny")
    assert run_demo().parse_args([]).backend == "bunny"


@pytest.mark.parametrize(
    ("api", "cls"), [("bunny", FakeBunny), ("cloudflare_images", FakeCloudflareImages)]
)
def test_fakecdn_runs_the_other_apis(api: str, cls: type) -> None:
    args = cli.build_parser().parse_args(["--api", api, "--port", "0"])
    fake, edge = cli.start(args)
    try:
        assert isinstance(fake, cls) and edge is None
        health = requests.get(f"{fake.control_url}/health", timeout=5)
        assert health.status_code == 200
        purges = requests.get(f"{fake.control_url}/purges", timeout=5).json()
        assert purges == {"purges": []}
    finally:
        fake.stop()
