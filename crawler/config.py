"""Every default of the engine's settings, by concern (Redis, node, items): the add-on
registers them all, so that ``scrapy settings --get NAME`` shows them."""

from __future__ import annotations

from typing import Any

from crawler.items.config import DEFAULTS as ITEM_DEFAULTS
from crawler.node.config import DEFAULTS as NODE_DEFAULTS
from crawler.redis.config import DEFAULTS as REDIS_DEFAULTS

DEFAULTS: dict[str, Any] = {**REDIS_DEFAULTS, **NODE_DEFAULTS, **ITEM_DEFAULTS}
