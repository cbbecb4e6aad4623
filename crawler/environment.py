"""Settings a deployment gives as environment variables: ``REDIS_URL=redis://h:6379/0``.

They count as project settings: they beat ``settings.py`` and a setting given with ``-s``
(or a spider's ``custom_settings``) beats them. The add-on applies them to a crawl's
settings, and each config's ``from_settings`` (``crawler.setting_values``) to the settings
of every command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from crawler.errors import ConfigError

# Name -> type of the values read from the environment.
ENVIRONMENT: dict[str, type] = {
    "REDIS_URL": str,
    "REDIS_KEY_PREFIX": str,
    "REDIS_SOCKET_TIMEOUT": float,
    "REDIS_SSL_CA_CERTS": str,
    "REDIS_SSL_CERTFILE": str,
    "REDIS_SSL_KEYFILE": str,
    "REDIS_WAIT_REPLICAS": int,
    "REDIS_WAIT_TIMEOUT_MS": int,
    "REDIS_WAIT_STRICT": str,  # (a flag: True/False, 1/0)
    "LOG_LEVEL": str,
    "CONCURRENT_REQUESTS": int,
    "CONCURRENT_REQUESTS_PER_DOMAIN": int,
    "DOWNLOAD_DELAY": float,
    "DEPTH_LIMIT": int,
    "DOMAIN_CONCURRENCY": int,
    "DOMAIN_RATE": str,
    "DOMAIN_LIMITS": str,
    "MAX_IDLE_TIME_BEFORE_CLOSE": float,
    "SCHEDULER_LEASE_SECONDS": float,
    "SCHEDULER_NODE_ID": str,
    "SCHEDULER_NODE_TIMEOUT": float,
    "SCHEDULER_PARTITIONS": int,
    "SCHEDULER_PREFETCH": int,
    "SCHEDULER_QUEUE_ORDER": str,
    "USER_AGENT": str,
    "POSTGRES_DSN": str,
    "POSTGRES_TABLE": str,
    "POSTGRES_BATCH_SIZE": int,
    "POSTGRES_BUFFER_ITEMS": int,
}

PROJECT = SETTINGS_PRIORITIES["project"]


def _parse(name: str, raw: str, kind: type) -> Any:
    if kind is str:
        return raw
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a number") from None
    if kind is int:
        if not number.is_integer():
            raise ConfigError(f"environment variable {name}={raw!r} is not a whole number")
        return int(number)
    return number


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The listed variables that are set, typed; ``ConfigError`` names a bad one."""
    environ = os.environ if environ is None else environ
    return {name: _parse(name, environ[name], kind)
            for name, kind in ENVIRONMENT.items() if name in environ}


def apply_environment(settings: BaseSettings,
                      environ: Mapping[str, str] | None = None) -> set[str]:
    """Set the environment's values at project priority, where no higher priority has
    one; return the names whose value now comes from the environment."""
    taken = set()
    for name, value in environment_values(environ).items():
        if (settings.getpriority(name) or 0) <= PROJECT:
            settings.set(name, value, priority=PROJECT)
            taken.add(name)
    return taken
