"""The outbox: :class:`~django_cfpurge.models.PurgeRequest` rows, written, claimed and
recorded.

* :mod:`.queries` — the QuerySet behind ``PurgeRequest.objects`` (every question asked
  of the rows);
* :mod:`.write` — the request path's write, suspended batches, explicit purges;
* :mod:`.claim` — claiming due rows for one worker (``SKIP LOCKED`` + a lease);
* :mod:`.outcomes` — recording what happened: done, retry, wait, fail, requeue;
* :mod:`.sql` — the vendor SQL (PostgreSQL arrays, the precompiled INSERT), each beside
  its ORM fallback.

This package's ``__init__`` imports nothing, so that the models can use the QuerySet.
"""
