"""Request <-> bytes without pickle: Scrapy's ``Request.to_dict`` written as JSON.

Callbacks and errbacks travel by name. Bytes (body, headers) are written as Latin-1
strings, which round-trips every byte. Fields equal to their default are left out, so
a plain GET costs little more than its URL. Decoding never imports or calls anything
named by the data: a request class must be one the process has already loaded.

A stored URL is ``Request.url`` as Scrapy made it safe when the request was built, so
decoding skips making it safe again (Scrapy's ``verbatim_url``) when it is made of
URL-safe characters only: most of what rebuilding a request costs.

Most requests a crawl makes are plain GETs a spider yields (a URL, a callback, a meta,
the Referer header Scrapy adds): both ways take a short path for them, checking and
building only those fields. The bytes are the same whichever path wrote them.
"""

from __future__ import annotations

import inspect
import json
import re
import weakref
from typing import Any, NamedTuple

from scrapy import Request, Spider

from crawler.errors import DecodeError

# Defaults of the attributes after url, callback, errback and headers (written apart).
_DEFAULTS: dict[str, Any] = {
    "method": "GET",
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
_parse_json = json.JSONDecoder().decode
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_SAFE_URL = re.compile(r"[a-z][a-z0-9+.-]*://[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*")


class EncodeError(ValueError):
    """The request holds what JSON cannot carry (a callback not on the spider, an object)
    or would bring back changed (an int key, a tuple); ``cause`` names the kind."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def _changed_by_json(value: Any) -> str | None:
    """What JSON would bring back different in ``value`` (a dict key that is not a
    string, a tuple), or None."""
    kind = type(value)
    if kind is tuple:
        return f"a tuple {value!r:.60}"
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f"a {type(key).__name__} key {key!r:.60}"
            if type(item) in _CONTAINERS and (why := _changed_by_json(item)):
                return why
    elif kind is list:
        for item in value:
            if type(item) in _CONTAINERS and (why := _changed_by_json(item)):
                return why
    return None


_CONTAINERS = (dict, list, tuple)


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
    raise EncodeError(f"Function {func} is not an instance method in: {spider}",
                      "a callback or errback that is not a method of the spider")


def _headers(request: Request) -> dict[bytes, Any]:
    """The request's headers; ``{}`` without building the empty ``Headers`` object that
    reading ``request.headers`` of a request without headers creates (Scrapy 2.13+)."""
    if getattr(request, "_headers", True) is None:
        return {}
    return dict(request.headers)


_NO_DEFAULT = object()
_WRITTEN_APART = ("url", "callback", "errback", "headers")


class _Shape(NamedTuple):
    """What the codec needs to know of a request class, found once per class."""

    fields: tuple[tuple[str, Any], ...]  # attributes after those written apart, defaults
    names: frozenset[str]  # its keyword arguments a stored request may give


_shapes: dict[type[Request], _Shape] = {}


def _shape(cls: type[Request]) -> _Shape:
    """``cls``'s attributes (``Request.attributes``), each field with its default
    (``_NO_DEFAULT`` if it has none)."""
    shape = _shapes.get(cls)
    if shape is None:
        shape = _shapes[cls] = _Shape(
            tuple((attr, _DEFAULTS.get(attr, _NO_DEFAULT)) for attr in cls.attributes
                  if attr not in _WRITTEN_APART),
            frozenset(cls.attributes))
    return shape


def _headers_json(headers: dict[bytes, Any]) -> dict[str, list[str]]:
    return {k.decode("latin-1"): [v.decode("latin-1") for v in values]
            for k, values in headers.items()}


def _compact_dict(request: Request, spider: Spider | None) -> dict[str, Any]:
    """``Request.to_dict(spider=spider)`` without the fields equal to their default, with
    the method names looked up in a table and bytes as Latin-1 strings."""
    data: dict[str, Any] = {"url": request.url}
    if request.callback is not None:
        data["callback"] = _method_name(spider, request.callback)
    if request.errback is not None:
        data["errback"] = _method_name(spider, request.errback)
    headers = _headers(request)
    if headers:
        data["headers"] = _headers_json(headers)
    for attr, default in _shape(type(request)).fields:
        value = getattr(request, attr)
        if default is _NO_DEFAULT or value != default:
            data[attr] = value
    if "body" in data:
        data["body"] = data["body"].decode("latin-1")
    if type(request) is not Request:
        data["_class"] = f"{type(request).__module__}.{type(request).__name__}"
    return data


# A plain GET's slots at their defaults: (slot, default). Read from the slots, so that
# nothing is built for a field left empty (``request.cookies`` would make a dict).
_PLAIN_SLOTS = (("_body", b""), ("_cookies", None), ("_cb_kwargs", None), ("_flags", None),
                ("errback", None), ("method", "GET"), ("_encoding", "utf-8"), ("priority", 0),
                ("dont_filter", False))
_PLAIN_FIELDS = frozenset({"url", "callback", "headers", "meta"})
# The short paths rely on what a Request is made of: this Scrapy's, or the long paths.
_SLOTS_KNOWN = ({slot for slot, _ in _PLAIN_SLOTS} | {"_meta", "_headers"}
                <= set(Request.__slots__)
                and set(Request.attributes) == {
                    "url", "headers", "body", "cookies", "meta", "encoding", "flags",
                    "cb_kwargs", "callback", "dont_filter", "errback", "method", "priority"})


def _plain_dict(request: Request, spider: Spider | None) -> dict[str, Any] | None:
    """``_compact_dict(request, spider)`` of a plain GET (a ``Request`` with at most a URL,
    a callback, headers and a meta), or None for any other request."""
    if type(request) is not Request or not _SLOTS_KNOWN:
        return None
    for slot, default in _PLAIN_SLOTS:
        value = getattr(request, slot)
        if value != default and (default is not None or value):  # (an empty {} or [] too)
            return None
    data: dict[str, Any] = {"url": request.url}
    if request.callback is not None:
        data["callback"] = _method_name(spider, request.callback)
    if request._headers:
        data["headers"] = _headers_json(request._headers)
    meta = request._meta
    if meta:
        data["meta"] = meta
    return data


def encode(request: Request, spider: Spider | None) -> bytes:
    """The request as compact JSON bytes; raises ``EncodeError`` if it cannot travel."""
    data = _plain_dict(request, spider) or _compact_dict(request, spider)
    for name in ("meta", "cb_kwargs"):
        if name in data and (why := _changed_by_json(data[name])):
            raise EncodeError(f"{request.url}: its {name} holds {why}, which JSON would "
                              "bring back changed",
                              "a meta or cb_kwargs that JSON would bring back changed")
    try:
        return _encode_json(data).encode()
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"{request.url}: {exc}", "a value JSON cannot carry") from exc


def _request_class(path: str) -> type[Request]:
    pending: list[type[Request]] = [Request]
    while pending:
        cls = pending.pop()
        if f"{cls.__module__}.{cls.__name__}" == path:
            return cls
        pending.extend(cls.__subclasses__())
    raise DecodeError(f"unknown request class {path!r}")


def decode(payload: bytes, spider: Spider | None) -> Request:
    """The request that ``encode`` wrote; raises ``DecodeError`` for anything else.

    What ``request_from_dict`` does, building the request straight from the parsed JSON
    (a node decodes every request it fetches)."""
    try:
        data = _parse_json(payload.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if type(data) is dict and data.keys() <= _PLAIN_FIELDS and spider is not None and (
            request := _plain_request(data, spider)) is not None:
        return request
    return _request(data, spider)


def _plain_request(data: dict[str, Any], spider: Spider) -> Request | None:
    """The plain GET ``data`` describes, built with no more checks than it needs; None if
    it needs more (an unsafe URL, a field of the wrong type, a callback not found)."""
    url, meta, name = data.get("url"), data.get("meta"), data.get("callback")
    if type(url) is not str or _SAFE_URL.fullmatch(url) is None:
        return None
    headers = data.get("headers")
    if headers is not None:
        try:
            headers = {k.encode("latin-1"): [v.encode("latin-1") for v in values]
                       for k, values in headers.items()}
        except (AttributeError, TypeError, UnicodeEncodeError):
            return None  # (the long path says what is wrong)
    callback = None
    if name is not None:
        callback = getattr(spider, name, None) if name and type(name) is str else None
        if not callable(callback):
            return None
    if meta is None:
        meta = {VERBATIM: True}
    elif type(meta) is dict and VERBATIM not in meta:
        meta[VERBATIM] = True  # (the request copies its meta)
    else:
        return None
    request = Request(url, callback, headers=headers, meta=meta)
    del request.meta[VERBATIM]
    return request


def _request(data: Any, spider: Spider | None) -> Request:
    """The request parsed JSON ``data`` describes, whatever it holds."""
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise DecodeError("not a request object (no 'url' string)")
    try:
        cls = _request_class(str(data.pop("_class"))) if "_class" in data else Request
        if not data.keys() <= _shape(cls).names:
            data = {k: v for k, v in data.items() if k in cls.attributes}
        if isinstance(data.get("body"), str):
            data["body"] = data["body"].encode("latin-1")
        if isinstance(data.get("headers"), dict):
            data["headers"] = {
                k.encode("latin-1"): [v.encode("latin-1") for v in values]
                for k, values in data["headers"].items()
            }
        if spider is not None:
            for name in ("callback", "errback"):
                if data.get(name):
                    data[name] = _spider_method(spider, data[name])
        meta = data.get("meta")
        verbatim = _SAFE_URL.fullmatch(data["url"]) is not None and (
            meta is None or (isinstance(meta, dict) and VERBATIM not in meta))
        if verbatim:
            if meta is None:
                data["meta"] = {VERBATIM: True}
            else:
                meta[VERBATIM] = True  # (the request copies its meta)
        request = cls(**data)
        if verbatim:
            del request.meta[VERBATIM]
        return request
    except DecodeError:
        raise
    except Exception as exc:  # any malformed field: the entry is dead-lettered, not fatal
        raise DecodeError(f"{type(exc).__name__}: {exc}") from exc


def _spider_method(spider: Spider, name: Any) -> Any:
    try:
        return getattr(spider, str(name))
    except AttributeError:
        raise DecodeError(f"Method {str(name)!r} not found in: {spider}") from None
