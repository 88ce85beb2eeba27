"""The fake Cloudflare API under its first name.

Everything lives in :mod:`django_cfpurge.testing.cloudflare_api` (with the zones and
credentials in :mod:`django_cfpurge.testing.cloudflare_accounts`); this module only
re-exports the public names, so that ``from django_cfpurge.testing.fake_cloudflare import
FakeCloudflare`` keeps working. The edge cache and the command line that used to run
beside it belong to the example project (``example_project/fakecdn``).
"""

from ._base import CONTROL_PREFIX
from .cloudflare_api import (
    ACCOUNT_TOKEN,
    ALL_ZONES,
    API_PREFIX,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_ID,
    DEFAULT_ZONE_ID,
    DEFAULT_ZONE_NAME,
    DISABLED_TOKEN,
    EXPIRED_TOKEN,
    GLOBAL_KEY,
    GLOBAL_KEY_EMAIL,
    NO_PURGE_TOKEN,
    PLANS,
    PURGE_KINDS,
    PURGE_RATE_LIMITS,
    UNKNOWN_TOKEN,
    FakeCloudflare,
    FakeCloudflareRemote,
    FakeZone,
    GlobalKey,
    PurgeRateLimit,
    Token,
    default_global_keys,
    default_tokens,
    default_zones,
    normalize_url,
)

__all__ = [
    "ACCOUNT_TOKEN",
    "ALL_ZONES",
    "API_PREFIX",
    "CONTROL_PREFIX",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_TOKEN_ID",
    "DEFAULT_ZONE_ID",
    "DEFAULT_ZONE_NAME",
    "DISABLED_TOKEN",
    "EXPIRED_TOKEN",
    "GLOBAL_KEY",
    "GLOBAL_KEY_EMAIL",
    "NO_PURGE_TOKEN",
    "PLANS",
    "PURGE_KINDS",
    "PURGE_RATE_LIMITS",
    "UNKNOWN_TOKEN",
    "FakeCloudflare",
    "FakeCloudflareRemote",
    "FakeZone",
    "GlobalKey",
    "PurgeRateLimit",
    "Token",
    "default_global_keys",
    "default_tokens",
    "default_zones",
    "normalize_url",
]
