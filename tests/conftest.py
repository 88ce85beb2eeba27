"""Shared fixtures. Plugins: the Cloudflare wire contract, and real-process servers."""

pytest_plugins = ["tests.cfapi", "tests.procs"]
