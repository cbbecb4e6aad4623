"""Request <-> bytes without pickle: Scrapy's ``Request.to_dict`` written as JSON.

Callbacks and errbacks travel by name. Bytes (body, headers) are written as Latin-1
strings, which round-trips every byte. Fields equal to their default are left out, so
a plain GET costs little more than its URL. Decoding never imports or calls anything
named by the data: a request class must be one the process has already loaded.

A stored URL is ``Request.url`` as Scrapy made it safe when the request was built, so
decoding skips making it safe again (Scrapy's ``verbatim_url``) when it is made of
URL-safe characters only: most of what rebuilding a request costs.
"""

from __future__ import annotations

import inspect
import json
import re
import weakref
from typing import Any

from scrapy import Request, Spider
from scrapy.utils.request import request_from_dict

from crawler.errors import DecodeError

_DEFAULTS: dict[str, Any] = {
    "callback": None,
    "errback": None,
    "method": "GET",
    "headers": {},
    "body": b"",
    "cookies": {},
    "meta": {},
    "encoding": "utf-8",
    "priority": 0,
    "dont_filter": False,
    "flags": [],
    "cb_kwargs": {},
    "protocol": None,
}


VERBATIM = "verbatim_url"  # the meta key that makes Scrapy take a URL as given
_SAFE_URL = re.compile(r"[a-z][a-z0-9+.-]*://[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*")


class EncodeError(ValueError):
    """The request holds what JSON cannot carry (a callback not on the spider, an object)."""


_method_names: weakref.WeakKeyDictionary[Spider, dict[Any, str]] = weakref.WeakKeyDictionary()


def _method_name(spider: Spider | None, func: Any) -> Any:
    """The name of the spider method ``func`` (as ``Request.to_dict`` finds it, but from a
    table built once per spider instead of ``inspect.getmembers`` for every request)."""
    if not callable(func):
        return func
    if spider is not None and hasattr(func, "__func__"):
        names = _method_names.get(spider)
        if names is None:
            names = {m.__func__: name for name, m in inspect.getmembers(spider, inspect.ismethod)}
            _method_names[spider] = names
        name = names.get(func.__func__)
        if name is not None:
            return name
    raise EncodeError(f"Function {func} is not an instance method in: {spider}")


def _headers(request: Request) -> dict[bytes, Any]:
    """The request's headers; ``{}`` without building the empty ``Headers`` object that
    reading ``request.headers`` of a request without headers creates (Scrapy 2.13+)."""
    if getattr(request, "_headers", True) is None:
        return {}
    return dict(request.headers)


def _to_dict(request: Request, spider: Spider | None) -> dict[str, Any]:
    """``Request.to_dict(spider=spider)``, with the method names looked up in a table."""
    data: dict[str, Any] = {
        "url": request.url,
        "callback": _method_name(spider, request.callback),
        "errback": _method_name(spider, request.errback),
        "headers": _headers(request),
    }
    for attr in request.attributes:
        data.setdefault(attr, getattr(request, attr))
    if type(request) is not Request:
        data["_class"] = f"{type(request).__module__}.{type(request).__name__}"
    return data


def encode(request: Request, spider: Spider | None) -> bytes:
    """The request as compact JSON bytes; raises ``EncodeError`` if it cannot travel."""
    data = _to_dict(request, spider)
    compact = {k: v for k, v in data.items() if k not in _DEFAULTS or v != _DEFAULTS[k]}
    if "body" in compact:
        compact["body"] = compact["body"].decode("latin-1")
    if "headers" in compact:
        compact["headers"] = {
            k.decode("latin-1"): [v.decode("latin-1") for v in values]
            for k, values in compact["headers"].items()
        }
    try:
        return json.dumps(compact, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"{request.url}: {exc}") from exc


def _request_class(path: str) -> type[Request]:
    pending: list[type[Request]] = [Request]
    while pending:
        cls = pending.pop()
        if f"{cls.__module__}.{cls.__name__}" == path:
            return cls
        pending.extend(cls.__subclasses__())
    raise DecodeError(f"unknown request class {path!r}")


def decode(payload: bytes, spider: Spider | None) -> Request:
    """The request that ``encode`` wrote; raises ``DecodeError`` for anything else."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise DecodeError("not a request object (no 'url' string)")
    try:
        if isinstance(data.get("body"), str):
            data["body"] = data["body"].encode("latin-1")
        if isinstance(data.get("headers"), dict):
            data["headers"] = {
                k.encode("latin-1"): [v.encode("latin-1") for v in values]
                for k, values in data["headers"].items()
            }
        if "_class" in data:
            cls = _request_class(str(data["_class"]))
            data["_class"] = f"{cls.__module__}.{cls.__name__}"
        meta = data.get("meta")
        verbatim = _SAFE_URL.fullmatch(data["url"]) is not None and (
            meta is None or (isinstance(meta, dict) and VERBATIM not in meta))
        if verbatim:
            data["meta"] = {**meta, VERBATIM: True} if meta else {VERBATIM: True}
        request = request_from_dict(data, spider=spider)
        if verbatim:
            del request.meta[VERBATIM]
        return request
    except DecodeError:
        raise
    except Exception as exc:  # any malformed field: the entry is dead-lettered, not fatal
        raise DecodeError(f"{type(exc).__name__}: {exc}") from exc
