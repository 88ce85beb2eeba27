"""Placeholder; filled by the Cloudflare API test fixtures."""
