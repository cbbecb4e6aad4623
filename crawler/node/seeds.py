"""Seeds in scrapy-redis's start-URL formats, parsed, checked and turned into requests.

A seed is a URL alone, or a JSON object ``{"url": ..., "meta": {...}, "priority": n,
"method": ..., "dont_filter": true}``; like scrapy-redis, any other key of the object is
form data (a number becomes text, a list gives the field once per item). ``dont_filter``
fetches the seed even if the crawl has seen it (re-crawl). A spider with a
``make_request_from_data(data)`` method (scrapy-redis's hook) builds its own requests
from the raw bytes instead. ``build`` is what a node and ``scrapy seed`` both call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from scrapy import FormRequest, Request, Spider

Hook = Callable[[bytes], Any]  # a spider's make_request_from_data
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an HTTP token (RFC 9110)


class SeedError(ValueError):
    """A seed that cannot be turned into requests; says what is wrong."""


def _check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise SeedError(f"'url' must be a string, not {_kind(url)}")
    text = url.strip()
    try:
        parts = urlsplit(text)
        if ":" in parts.netloc or "@" in parts.netloc:  # a port, a user, an IPv6 address
            host = parts.hostname
            parts.port  # noqa: B018  (raises on a bad port)
        else:
            host = parts.netloc
    except ValueError as exc:
        raise SeedError(f"not a valid URL ({exc}): {text[:200]!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise SeedError(f"not an http(s) URL: {text[:200]!r}")
    return text


def _kind(value: Any) -> str:
    """How JSON names the type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "text" if isinstance(value, str) else "a number"


def _constant(name: str) -> Any:
    raise SeedError(f"bad JSON: {name} is not a JSON number")


def parse(line: str) -> dict[str, Any]:
    """The seed on ``line`` as a dict with at least ``url``; raises ``SeedError``."""
    text = line.strip()
    if not text.startswith("{"):
        return {"url": _check_url(text)}
    try:
        data = json.loads(text, parse_constant=_constant)
    except SeedError:
        raise
    except ValueError as exc:
        raise SeedError(f"bad JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SeedError("a JSON seed must be an object")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise SeedError("a string holds a lone surrogate escape (\\ud800-\\udfff), "
                        "which is not text") from None
    if "url" not in data:
        raise SeedError("a JSON seed needs a 'url'")
    data["url"] = _check_url(data["url"])
    if not isinstance(data.get("meta", {}), dict):
        raise SeedError(f"'meta' must be an object, not {_kind(data['meta'])}")
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise SeedError("'priority' must be an integer")
    method = data.get("method", "GET")
    if not isinstance(method, str) or not _METHOD.match(method):
        raise SeedError("'method' must be an HTTP method such as GET or POST")
    if not isinstance(data.get("dont_filter", False), bool):
        raise SeedError("'dont_filter' must be true or false")
    for key, value in data.items():
        if key not in ("url", "meta", "priority", "method", "dont_filter"):
            _form_value(key, value)
    return data


def _form_value(key: str, value: Any) -> str | list[str]:
    """A form value as text: numbers become text, a list gives the field once per item."""
    if isinstance(value, list):
        return [_form_text(key, item, " in a list") for item in value]
    return _form_text(key, value, "")


def _form_text(key: str, value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise SeedError(f"{key!r} is {_kind(value)}{where}: a form value must be text or a number")


def to_request(seed: dict[str, Any]) -> Request:
    """The request a parsed seed stands for (callback: the spider's ``parse``)."""
    data = dict(seed)
    url = data.pop("url")
    meta = data.pop("meta", {})
    priority = data.pop("priority", 0)
    method = data.pop("method", "GET").upper()
    dont_filter = data.pop("dont_filter", False)
    if data:
        form = {key: _form_value(key, value) for key, value in data.items()}
        return FormRequest(url, method=method, formdata=form, meta=meta, priority=priority,
                           dont_filter=dont_filter)
    return Request(url, method=method, meta=meta, priority=priority, dont_filter=dont_filter)


def build(raw: bytes, hook: Hook | None) -> list[Request]:
    """The requests a raw seed (as stored in Redis) stands for; raises ``SeedError``."""
    if hook is None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SeedError("not UTF-8 text") from None
        return [to_request(parse(line))]
    try:
        made = hook(raw)
        made = [] if made is None else [made] if isinstance(made, Request) else _listed(made)
    except SeedError:
        raise
    except Exception as exc:
        raise SeedError(f"the spider's make_request_from_data raised "
                        f"{type(exc).__name__}: {exc}") from exc
    for item in made:
        if not isinstance(item, Request):
            raise SeedError(f"the spider's make_request_from_data gave {type(item).__name__} "
                            f"{item!r:.80}, not a Request")
    return made


def _listed(made: Any) -> list[Any]:
    if isinstance(made, str | bytes | dict) or not isinstance(made, Iterable):
        raise SeedError(f"the spider's make_request_from_data returned "
                        f"{type(made).__name__} {made!r:.80}, not a Request or requests")
    return list(made)


def requests_from_raw(raw: bytes, spider: Spider) -> list[Request]:
    """The requests a raw seed from Redis stands for, as ``spider`` builds them."""
    return build(raw, getattr(spider, "make_request_from_data", None))
