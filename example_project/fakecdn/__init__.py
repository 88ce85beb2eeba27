"""The demo's fake CDN: a fake Cloudflare API with a caching edge in front of the site.

* :mod:`fakecdn.edge` — :class:`~fakecdn.edge.EdgeCache`, a caching reverse proxy that
  evicts what any fake API of :mod:`django_cfpurge.testing` purges;
* :mod:`fakecdn.page` — the "edge log" HTML page of the purges received;
* :mod:`fakecdn.cli` — ``python -m fakecdn``, which runs them together (the demo starts
  it; run it with ``--help`` for the options).

The API fakes themselves ship with django-cfpurge, for everyone's tests. What is here is
the demo's own: it builds on the package's internal loopback plumbing
(``django_cfpurge.testing._http``), which this example, living in the same repository,
may use. Run it from ``example_project/`` (or put that folder on ``sys.path``).
"""
