"""The frontier's wire formats: the one definition of the bytes Redis holds and returns.

``lua/lib.lua`` mirrors each format for the scripts; ``tests/contract/test_formats.py`` feeds the
same bytes through both. No other Python code parses these bytes.

Stored entry (the tail of a leased value, an entry of a pop reply, a member of an earlier
version's sorted-set queue; a seed of ``start_urls`` becomes one when pop.lua leases it)::

    <id: 16 ASCII digits, zero-padded sequence number><kind: 1 byte><payload>

The entry without its id, ``<kind><payload>``, is its *body* (what push.lua is sent and
what a dead letter keeps). Kinds:

- ``q`` a request; payload ``<domain> <encoded request>``: the domain runs to the first
  space (a domain never holds one; it may start with ``{`` or be non-ASCII UTF-8), the
  encoded request is the rest, spaces included. With no space at all, the whole payload is
  the domain and the request is empty (never written; read alike on both sides).
- ``r`` a request an earlier version stored: the same as ``q``, or ``<request JSON>``
  alone (domain ``""``), told apart by the ``{`` that only the JSON starts with.
- ``s`` a raw seed as it was in ``start_urls``: no domain, the payload is the seed.

Queued entry (an item of a domain's list, ``keys.CrawlKeys.pending_list``; the key names
the domain)::

    q<encoded request>             a request's body without its "<domain> "
    <kind><payload>                other kinds: the body as it is
    <id><queued entry>             one that came back (handed back, failed, expired, put
                                   back by a pop): it keeps its id, and so its history

A fresh entry has no id: pop.lua numbers it (the sequence) when it leases it. A kind is
a letter, an id starts with a digit.

Leased value (``leased`` hash, field = the entry's id)::

    <node id> <score> <entry>        the lease does not count against its domain's cap
    <node id> +<score> <entry>       it counts (pop.lua took a slot of the domain's
                                     in-flight cap; ending the lease frees it)

``score`` is minus the entry's priority (its score in an earlier version's sorted set):
the entry goes back to the front of its domain's list of that priority. A node id has no
space.

Pop reply (pop.lua's, from its fourth element on)::

    numbers  "<count> <hold us> <gap us> <count> <hold us> <gap us> ..." (integers), for
             each group of leased entries: a domain's share, or the seeds
    ids      the ``count`` ids of each group, one after the other (16 bytes each)
    then, for each group, its domain (``""`` for seeds) and its ``count`` entries' bodies
    in queued form (the items as its list held them, without an id; a seed's body is
    ``s<seed>``)

``hold``: how long the node keeps the group's first entry before fetching it, each next one
``gap`` longer; ``gap``: how far apart its domain's requests must be. Times are capped at
``MAX_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

ID_LENGTH = 16
KIND_REQUEST = b"q"  # "<domain> <encoded request>"
KIND_REQUEST_V1 = b"r"  # an earlier version's: the same, or "<request JSON>" alone
KIND_SEED = b"s"  # the raw seed as it was in the start URLs
COUNTED = b"+"  # before a leased value's score: the lease counts against its domain's cap
MAX_SECONDS = 1e9  # pop.lua's: a longer hold or Crawl-delay is as good as never


def request_body(domain: str, request: bytes) -> bytes:
    """The body (``<kind><payload>``) of a request of ``domain`` (lib.lua's
    ``request_body``)."""
    return KIND_REQUEST + domain.encode() + b" " + request


def _has_domain(kind: bytes, payload: bytes) -> bool:
    return kind == KIND_REQUEST or (kind == KIND_REQUEST_V1 and not payload.startswith(b"{"))


def queued_body(body: bytes) -> bytes:
    """The queued form of an entry's body (lib.lua's ``queued_body``)."""
    if body[:1] != KIND_REQUEST:
        return body
    _, space, request = body.partition(b" ")
    return KIND_REQUEST + request if space else KIND_REQUEST


def from_queued(queued: bytes, domain: str, seq: int) -> bytes:
    """The stored entry of ``queued``, an item of ``domain``'s list, numbered ``seq`` if it
    has no id (lib.lua's ``queued_split``, then ``leased_value`` without its lease head)."""
    entry_id = b"%016d" % seq
    if queued[:1].isdigit():
        entry_id, queued = queued[:ID_LENGTH], queued[ID_LENGTH:]
    if queued[:1] == KIND_REQUEST:
        return entry_id + request_body(domain, queued[1:])
    return entry_id + queued


class Entry(NamedTuple):
    """A leased queue entry: its id, its kind (request or raw seed), the domain it counts
    for (a request's), its payload (the encoded request, or the seed); how long the node
    must hold it before fetching, and the time its domain's requests must keep apart
    (seconds). (A tuple: a node makes one per request it fetches.)"""

    id: str
    kind: bytes
    domain: str
    payload: bytes
    hold: float = 0.0
    gap: float = 0.0

    @classmethod
    def parse(cls, raw: bytes, hold: float = 0.0, gap: float = 0.0) -> Entry:
        """Split a stored entry (lib.lua's ``entry_fields``)."""
        kind, payload, domain = raw[ID_LENGTH:ID_LENGTH + 1], raw[ID_LENGTH + 1:], b""
        if _has_domain(kind, payload):
            domain, _, payload = payload.partition(b" ")
        return cls(raw[:ID_LENGTH].decode("ascii", "replace"), kind,
                   domain.decode("utf-8", "replace"), payload, hold, gap)

    def stored(self) -> bytes:
        """The entry's body as stored (without its id)."""
        if self.kind == KIND_REQUEST or (self.kind == KIND_REQUEST_V1 and (
                self.domain or not self.payload.startswith(b"{"))):
            return self.kind + self.domain.encode() + b" " + self.payload
        return self.kind + self.payload

    @property
    def is_request(self) -> bool:
        """Whether the entry is a request (of this version's or an earlier one's)."""
        return self.kind in (KIND_REQUEST, KIND_REQUEST_V1)


class Lease(NamedTuple):
    """A leased value: the node holding the entry, its queue score, whether the lease
    counts against its domain's in-flight cap, and the entry (lib.lua's ``parse_leased``;
    pop.lua writes it with ``lease_head``)."""

    node: str
    score: float
    counted: bool
    entry: bytes

    @classmethod
    def parse(cls, value: bytes) -> Lease:
        """Split a leased value."""
        node, score, entry = value.split(b" ", 2)
        counted = score.startswith(COUNTED)
        return cls(node.decode("utf-8", "replace"), float(score[1:] if counted else score),
                   counted, entry)


def held_by(value: bytes, node: str) -> bool:
    """Whether leased value ``value`` is held by ``node`` (lib.lua's ``held_by``)."""
    return value.startswith(node.encode() + b" ")


def read_popped(numbers: bytes, ids: bytes, groups: Sequence[bytes]) -> list[Entry]:
    """The entries of a pop's reply, with their hold and gap in seconds (lib.lua's
    ``popped_group`` writes ``numbers``)."""
    values = [int(n) for n in numbers.split()]
    names = ids.decode("ascii", "replace")  # (16 ASCII digits each)
    make = tuple.__new__  # Entry(...) without its keyword handling: one a request
    popped: list[Entry] = []
    at = n = 0  # in groups; in names
    for g in range(0, len(values), 3):
        count, hold, gap = values[g:g + 3]
        domain = groups[at].decode("utf-8", "replace")
        seconds = gap / 1e6
        for j, body in enumerate(groups[at + 1:at + 1 + count]):
            entry_id, n = names[n:n + ID_LENGTH], n + ID_LENGTH
            held = min(hold + j * gap, MAX_SECONDS * 1e6) / 1e6
            if body[:1] == KIND_REQUEST:
                popped.append(make(Entry, (entry_id, KIND_REQUEST, domain, body[1:], held,
                                           seconds)))
            else:
                popped.append(Entry.parse(ids[n - ID_LENGTH:n] + body, held, seconds))
        at += 1 + count
    return popped
