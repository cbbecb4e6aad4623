"""Spiders that misbehave on purpose, for the fault tests (``SPIDER_MODULES``)."""
