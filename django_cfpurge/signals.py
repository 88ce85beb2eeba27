"""django-cfpurge's own signals. Connect to them to report or react to purges."""

from django.dispatch import Signal

#: Sent by a worker after the CDN accepted the purge of one or more
#: :class:`~django_cfpurge.models.PurgeRequest` rows of one zone.
#:
#: Keyword arguments: ``sender`` (the :class:`~django_cfpurge.models.Zone`
#: class), ``zone`` (the zone instance), ``requests`` (list of the rows now done),
#: ``targets`` (dict of kind → list of purged items: ``files``, ``tags``, ``hosts``,
#: ``prefixes``, ``everything``), ``api_calls`` (number of API calls made).
purge_succeeded = Signal()

#: Sent once per row when a purge fails for good (permanent error, or
#: ``MAX_ATTEMPTS`` transient failures). Not sent for a failure that will be retried.
#:
#: Keyword arguments: ``sender`` (the :class:`~django_cfpurge.models.PurgeRequest`
#: class), ``request`` (the row, already saved as failed), ``error`` (the
#: :class:`~django_cfpurge.exceptions.CfPurgeError` that ended it; its message is
#: safe to show), ``zone`` (the zone, or ``None`` when the row could not be routed).
purge_failed = Signal()

#: Sent when purge requests are written (or made due again) and a drain should run
#: after the transaction commits. django-cfpurge's dispatcher listens to it.
#:
#: Keyword arguments: ``sender`` (the :class:`~django_cfpurge.models.PurgeRequest`
#: class), ``using`` (the database alias), ``count`` (how many rows).
purge_requested = Signal(use_caching=True)
