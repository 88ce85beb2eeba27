"""Cloudflare's numeric error codes that decide how an answer is classified.

Codes are more precise than HTTP statuses (Cloudflare answers 400, 401 or 403 for the
same bad token depending on the endpoint), so they decide first. Messages are never
matched: Cloudflare may reword them at any time.
"""

from __future__ import annotations

INVALID_TOKEN = 1000
BAD_HEADERS = 6003
BAD_EMAIL_FORMAT = 6102
BAD_KEY_FORMAT = 6103
BAD_AUTHORIZATION_FORMAT = 6111
UNKNOWN_KEY = 9103
NO_CREDENTIALS = 9106
UNAUTHORIZED = 9109
NO_PERMISSION = 10000

#: "These credentials were refused or lack a permission."
AUTH = frozenset(
    {
        INVALID_TOKEN,
        BAD_HEADERS,
        BAD_EMAIL_FORMAT,
        BAD_KEY_FORMAT,
        BAD_AUTHORIZATION_FORMAT,
        UNKNOWN_KEY,
        NO_CREDENTIALS,
        UNAUTHORIZED,
        NO_PERMISSION,
    }
)
#: "The credential could not be read at all" (not: unknown or revoked).
MALFORMED = frozenset(
    {BAD_HEADERS, BAD_EMAIL_FORMAT, BAD_KEY_FORMAT, BAD_AUTHORIZATION_FORMAT, NO_CREDENTIALS}
)
#: "No such zone (or account) for these credentials / bad identifier."
NOT_FOUND = frozenset({1003, 7000, 7003})
#: Throttling: 971 (the global API limit), 1134 (the purge limit).
RATE_LIMIT = frozenset({971, 1134})
#: The Cache Purge permission as ``GET /zones/{id}`` lists it (a deprecated, soft signal).
PURGE_PERMISSION = "#cache_purge:edit"
