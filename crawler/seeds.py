"""Seeds in scrapy-redis's start-URL formats, parsed and checked.

A seed is a URL alone, or a JSON object ``{"url": ..., "meta": {...}, "priority": n,
"method": ..., "dont_filter": true}``; like scrapy-redis, any other key of the object is
form data. ``dont_filter`` fetches the seed even if the crawl has seen it (re-crawl). A
spider with a ``make_request_from_data(data)`` method (scrapy-redis's hook) builds
its own requests from the raw bytes instead.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from scrapy import FormRequest, Request, Spider


class SeedError(ValueError):
    """A seed line that is not a URL nor a well-formed JSON seed; says what is wrong."""


def _check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise SeedError(f"'url' must be a string, not {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SeedError(f"not an http(s) URL: {url[:200]!r}")
    return url.strip()


def parse(line: str) -> dict[str, Any]:
    """The seed on ``line`` as a dict with at least ``url``; raises ``SeedError``."""
    text = line.strip()
    if not text.startswith("{"):
        return {"url": _check_url(text)}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SeedError(f"bad JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SeedError("a JSON seed must be an object")
    if "url" not in data:
        raise SeedError("a JSON seed needs a 'url'")
    data["url"] = _check_url(data["url"])
    if not isinstance(data.get("meta", {}), dict):
        raise SeedError("'meta' must be an object")
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise SeedError("'priority' must be an integer")
    if not isinstance(data.get("method", "GET"), str):
        raise SeedError("'method' must be a string")
    if not isinstance(data.get("dont_filter", False), bool):
        raise SeedError("'dont_filter' must be true or false")
    return data


def to_request(seed: dict[str, Any]) -> Request:
    """The request a parsed seed stands for (callback: the spider's ``parse``)."""
    data = dict(seed)
    url = data.pop("url")
    meta = data.pop("meta", {})
    priority = data.pop("priority", 0)
    method = data.pop("method", "GET").upper()
    dont_filter = data.pop("dont_filter", False)
    if data:
        return FormRequest(url, method=method, formdata=data, meta=meta, priority=priority,
                           dont_filter=dont_filter)
    return Request(url, method=method, meta=meta, priority=priority, dont_filter=dont_filter)


def requests_from_raw(raw: bytes, spider: Spider) -> list[Request]:
    """The requests a raw seed from Redis stands for; raises ``SeedError``."""
    hook = getattr(spider, "make_request_from_data", None)
    if hook is not None:
        made = hook(raw)
        if made is None:
            return []
        return [made] if isinstance(made, Request) else list(made)
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SeedError("not UTF-8") from None
    return [to_request(parse(line))]
