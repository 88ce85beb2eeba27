"""The Images API's own error codes (beside Cloudflare's, in
:mod:`django_cfpurge.backends.cloudflare.codes`). Codes decide, never messages."""

from __future__ import annotations

BAD_REQUEST = 5400
#: "Account not valid or not authorised for the service" (no Images subscription).
NOT_AUTHORISED = 5403
IMAGE_NOT_FOUND = 5404
TOO_LARGE = 5413
NOT_A_FORM = 5415
SERVICE_LIMIT = 5453
UNSUPPORTED_FORMAT = 5455
