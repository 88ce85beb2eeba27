"""The parts of ``manage.py cfpurge``: one module per group of subcommands."""
