"""The engine's domain errors: each message names what was wrong and where."""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class of the errors this engine raises on purpose."""


class ConfigError(CrawlerError):
    """A setting has a value the engine cannot use."""


class RedisUnavailableError(CrawlerError):
    """Redis did not answer at the configured address (named with the password hidden)."""


class DecodeError(CrawlerError):
    """A queue entry is not a request this engine wrote: it goes to the dead letters."""
