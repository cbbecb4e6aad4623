"""The wire formats read alike on both sides: the same bytes through lib.lua's helpers (run
by the test Redis) and through ``crawler.frontier.formats`` give the same fields."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from crawler.frontier.formats import (
    ID_LENGTH,
    Entry,
    Lease,
    from_queued,
    held_by,
    queued_body,
    read_popped,
    request_body,
)
from crawler.frontier.scripts import LUA_DIR
from crawler.ops.status_model import leases_by_domain
from crawler.redis.keys import CrawlKeys

LIB = (LUA_DIR / "lib.lua").read_text()
JSON = b'{"url":"http://a.example/x y","meta":{"shelf":"Home & Garden"}}'
ID = b"0000000000000042"

# (entry body, well formed: what this version or an earlier one writes)
BODIES = [
    (b"qa.example " + JSON, True),
    (b"q{a}.example.com " + JSON, True),  # a host starting with "{" (template placeholder)
    ("qbücher.example ".encode() + JSON, True),
    ("q例え.テスト a b  c ".encode(), True),  # non-ASCII domain, spaces in the payload
    (b"q\xff\xfe.example " + JSON, False),  # not UTF-8 (a domain is a str): U+FFFD
    (b"q " + JSON, True),  # empty domain
    (b"qa.example ", True),  # empty request
    (b"ra.example " + JSON, True),  # an earlier version's, with its domain
    (b"r" + JSON, True),  # an earlier version's JSON alone: no domain
    (b"r{a}.example " + JSON, True),  # read as JSON alone, alike on both sides
    (b"rnot json", True),
    (b"shttp://a.example/ seed with spaces", True),
    (b"s" + JSON, True),
    (b"s", True),
    (b"qa.example", False),  # no space: all of it is the domain
    (b"r", False),
    (b"xa.example b", False),  # an unknown kind: no domain
]


def lua(client: redis.Redis, body: str, *args: Any) -> Any:
    """Run lib.lua followed by ``body`` on the test Redis, ``args`` as ARGV."""
    return client.eval(LIB + body, 0, *args)


@pytest.mark.parametrize(("body", "well_formed"), BODIES)
def test_an_entry_splits_alike(client: redis.Redis, body: bytes, well_formed: bool) -> None:
    raw = ID + body
    got = lua(client, """
local e = ARGV[1]
local id, kind, domain, payload = entry_fields(e)
return {id, kind, domain, payload, entry_id(e), entry_domain(e), entry_body(e),
        domain_at(entry_body(e), 1)}""", raw)
    lua_id, kind, domain, payload, only_id, only_domain, lua_body, body_domain = got
    entry = Entry.parse(raw)
    assert (entry.id.encode(), entry.kind, entry.domain, entry.payload) == (
        lua_id, kind, domain.decode("utf-8", "replace"), payload)
    assert (only_id, only_domain, body_domain, lua_body) == (lua_id, domain, domain, body)
    assert len(lua_id) == ID_LENGTH
    if well_formed:
        assert entry.stored() == body


@pytest.mark.parametrize(("domain", "encoded"), [
    ("a.example", JSON), ("{a}.example.com", b"x y z"), ("bücher.example", b""),
    ("", JSON)])
def test_a_request_is_built_alike(client: redis.Redis, domain: str, encoded: bytes) -> None:
    built = lua(client, "return new_entry_id(tonumber(ARGV[1])) .. request_body(ARGV[2], ARGV[3])",
                12345678901234, domain.encode(), encoded)
    assert built == b"00" + b"12345678901234" + request_body(domain, encoded)
    entry = Entry.parse(built)
    assert (entry.id, entry.kind, entry.domain, entry.payload) == (
        "0012345678901234", b"q", domain, encoded)


@pytest.mark.parametrize("counted", [True, False])
@pytest.mark.parametrize("score", ["0", "-5", "1.5", "-1e+20"])
@pytest.mark.parametrize("body", [b"qa.example " + JSON, b"s" + JSON, b"r" + JSON])
def test_a_lease_reads_alike(client: redis.Redis, counted: bool, score: str,
                             body: bytes) -> None:
    entry = ID + body
    value, node, lua_score, lua_counted, lua_entry, mine, other, longer = lua(client, """
local v = lease_head(ARGV[1], ARGV[2], ARGV[3] == '1') .. ARGV[4]
local node, score, counted, entry = parse_leased(v)
return {v, node, tostring(score), counted and 1 or 0, entry,
        held_by(v, 'node-1') and 1 or 0, held_by(v, 'node') and 1 or 0,
        held_by(v, 'node-10') and 1 or 0}""", "node-1", score, int(counted), entry)
    lease = Lease.parse(value)
    assert lease == Lease("node-1", float(score), counted, entry)
    assert (node.decode(), float(lua_score), bool(lua_counted), lua_entry) == tuple(lease)
    assert value.split(b" ")[1].startswith(b"+") is counted
    assert [held_by(value, n) for n in ("node-1", "node", "node-10")] == [True, False, False]
    assert (mine, other, longer) == (1, 0, 0)


def test_a_counted_lease_frees_its_domains_slot(client: redis.Redis) -> None:
    # lease_ended reads the lease through parse_leased and entry_domain.
    client.hset("inflight", mapping={"bücher.example": 2, "{a}.example": 1})
    for node_score, body in [("+-3", "qbücher.example x y"), ("-3", "q{a}.example x"),
                             ("+0", "q{a}.example x")]:
        lua(client, "lease_ended('inflight', 'domains', ARGV[1], 0)",
            f"node-1 {node_score} 0000000000000001{body}".encode())
    assert client.hgetall("inflight") == {"bücher.example".encode(): b"1"}


def test_a_pop_reply_reads_alike(client: redis.Redis) -> None:
    # Groups as pop.lua writes them: a domain's share (a fresh request, one that came back,
    # an earlier version's), the seeds; each entry held `gap` longer than the one before.
    groups = [("bücher.example", 1500, 250, [(b"0000000000000042", b"q" + JSON),
                                             (b"0000000000000007", b"qx y"),
                                             (b"0000000000000043", b"r" + JSON)]),
              ("", 0, 0, [(b"0000000000000044", b"shttp://a.example/ x")]),
              ("a.example", 2e15, 1e15, [(b"0000000000000045", b"q")])]
    args: list[Any] = []
    for domain, hold, gap, entries in groups:
        args += [domain, len(entries), hold, gap, *[part for pair in entries for part in pair]]
    reply = lua(client, """
local numbers, ids, reply, i = {}, {}, {}, 1
while i <= #ARGV do
  local count = tonumber(ARGV[i + 1])
  numbers[#numbers + 1] = popped_group(count, tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
  reply[#reply + 1] = ARGV[i]
  for j = 1, count do
    ids[#ids + 1] = ARGV[i + 2 + 2 * j]
    reply[#reply + 1] = ARGV[i + 3 + 2 * j]
  end
  i = i + 4 + 2 * count
end
table.insert(reply, 1, table.concat(ids))
table.insert(reply, 1, table.concat(numbers, ' '))
return reply""", *args)
    popped = read_popped(reply[0], reply[1], reply[2:])
    expected = []
    for domain, hold, gap, entries in groups:
        for j, (entry_id, body) in enumerate(entries):
            held = min(hold + j * gap, 1e15) / 1e6
            raw = from_queued(body, domain, 0).replace(b"0" * ID_LENGTH, entry_id, 1)
            expected.append(Entry.parse(raw, held, gap / 1e6))
    assert popped == expected
    assert [(e.id, e.kind, e.domain) for e in popped] == [
        ("0000000000000042", b"q", "bücher.example"), ("0000000000000007", b"q", "bücher.example"),
        ("0000000000000043", b"r", ""), ("0000000000000044", b"s", ""),
        ("0000000000000045", b"q", "a.example")]
    assert [e.hold for e in popped] == [1.5e-3, 1.75e-3, 2e-3, 0, 1e9]
    assert popped[0].payload == JSON and popped[3].payload == b"http://a.example/ x"
    assert read_popped(b"", b"", []) == []


def test_status_counts_leases_through_the_lease_format(client: redis.Redis) -> None:
    keys = CrawlKeys("crawl", "t")
    client.hset(keys.leased, mapping={
        "1": b"n +0 " + ID + b"qa.example " + JSON, "2": b"n 0 " + ID + b"qa.example x",
        "3": b"n 0 " + ID + b"s" + JSON, "4": b"n 0 " + ID + b"r" + JSON,
        "5": b"garbage", "6": b"n x " + ID + b"qb.example y"})
    assert leases_by_domain(client, [(keys, 6)]) == [("a.example", 2), ("", 1)]


@pytest.mark.parametrize(("body", "well_formed"), BODIES)
@pytest.mark.parametrize("came_back", [True, False])
def test_a_queued_entry_reads_alike(client: redis.Redis, body: bytes, well_formed: bool,
                                    came_back: bool) -> None:
    # A domain's list holds the body without its domain, with its id only if it came
    # back; leased, it is the whole entry again, under its own id or the one given.
    domain = Entry.parse(ID + body).domain.encode()
    queued = (ID if came_back else b"") + queued_body(body)
    got = lua(client, """
local q = ARGV[1] .. queued_body(ARGV[2])
local id, queued = queued_split(q, function() return 77 end)
return {q, queued_has_id(q) and 1 or 0, leased_value('', id, queued, request_body(ARGV[3], ''))}""",
              ID if came_back else b"", body, domain)
    lua_queued, has_id, stored = got
    assert (lua_queued, bool(has_id)) == (queued, came_back)
    if well_formed:
        assert stored == from_queued(queued, domain.decode(), 77)
        entry = Entry.parse(stored)
        assert entry.id == (ID.decode() if came_back else "0000000000000077")
        assert entry.stored() == body
        assert not body.startswith(b"q") or len(queued) < len(body) + len(ID)


def test_a_domains_queue_keys_are_named_alike(client: redis.Redis) -> None:
    keys = CrawlKeys("crawl", "t")
    for domain, priority in [("a.example", 0), ("::1", -3), ("bücher.example", 12), ("", 5)]:
        named = lua(client, "return {priorities_key(ARGV[1], ARGV[2]), "
                    "list_key(ARGV[1], ARGV[2], ARGV[3])}", keys.pending, domain, priority)
        assert named == [keys.domain_priorities(domain).encode(),
                         keys.pending_list(domain, priority).encode()]
