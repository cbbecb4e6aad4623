"""Reading settings once, typed, with errors that name where a bad value came from.

Each concern's config (``crawler.redis.config``, ``crawler.node.config``,
``crawler.items.config``) builds itself ``from_settings`` through ``SettingValues``: the
Scrapy settings with the environment variables of ``crawler.environment`` applied, and
each concern's defaults for what is unset. No other code calls ``settings.get*``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from crawler.environment import apply_environment
from crawler.errors import ConfigError

_ADDON = SETTINGS_PRIORITIES["addon"]


class SettingValues:
    """Typed reads of one set of settings (and the environment), against ``defaults``."""

    def __init__(self, settings: BaseSettings, defaults: Mapping[str, Any],
                 environ: Mapping[str, str] | None = None) -> None:
        merged = BaseSettings()
        merged.update(settings)
        self.from_env = apply_environment(merged, environ)
        self.settings = merged
        self.defaults = defaults

    def where(self, name: str) -> str:
        """``setting NAME`` or ``environment variable NAME``: where a value came from."""
        return f"{'environment variable' if name in self.from_env else 'setting'} {name}"

    def raw(self, name: str) -> Any:
        """The value as given (``None`` when unset), without a default."""
        return self.settings.get(name)

    def get(self, name: str) -> Any:
        """The value, or the default when unset."""
        value = self.settings.get(name)
        return self.defaults[name] if value is None else value

    def flag(self, name: str) -> bool:
        """A boolean value (Scrapy's reading of "0", "False", ...); ``ConfigError`` names
        any other."""
        try:
            return self.settings.getbool(name, bool(self.defaults.get(name, False)))
        except ValueError:
            raise ConfigError(f"{self.where(name)}={self.get(name)!r} is not True or False "
                              "(nor 1/0, true/false)") from None

    def given(self, name: str) -> bool:
        """Set by the user, not registered by the add-on as a default."""
        return self.settings.get(name) is not None and self.settings.getpriority(name) != _ADDON

    def number(self, name: str, minimum: float, raw: Any = None, source: str = "") -> float:
        """A number of at least ``minimum``; ``raw``/``source`` read another value in its
        place (a key of ``REDIS_PARAMS``, say)."""
        if not source:
            raw, source = self.get(name), self.where(name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}={raw!r} is not a number") from None
        if value < minimum:
            raise ConfigError(f"{source}={raw} must be at least {minimum:g}")
        return value

    def optional_path(self, name: str, fallback: Any = None) -> str | None:
        """The path of an existing file, or ``None`` when neither it nor ``fallback`` is given."""
        value = self.settings.get(name) if self.given(name) else fallback
        if value in (None, ""):
            return None
        if not os.path.isfile(str(value)):
            raise ConfigError(f"{self.where(name)}={value!r}: no such file")
        return str(value)
