-- lib: helpers every frontier script starts with (scripts.py puts this text first).
-- The wire formats are defined in crawler/frontier/formats.py; these helpers are their one
-- Lua mirror (tests/contract/test_formats.py pins both): entry "<16-digit id><kind>
-- <payload>", its body "<kind><payload>"; queued entry (an item of a domain's list)
-- "[<16-digit id>]<kind><payload>", a request's payload without its "<domain> "; leased
-- value "<node> <score> <entry>" ("+<score>": counted); a pop's reply (popped_group). A
-- domain's keys: priorities_key, list_key.
local ID_LENGTH = 16

-- The domain of the entry whose kind byte is at position `k` of s (1: a body) or "".
local function domain_at(s, k)
  local kind = string.sub(s, k, k)
  if kind ~= 'q' and (kind ~= 'r' or string.sub(s, k + 1, k + 1) == '{') then return '' end
  local space = string.find(s, ' ', k + 1, true)
  return space and string.sub(s, k + 1, space - 1) or string.sub(s, k + 1)
end

-- The id numbered seq.
local function new_entry_id(seq) return string.format('%016d', seq) end
local function request_body(domain, request) return 'q' .. domain .. ' ' .. request end

local function entry_id(entry) return string.sub(entry, 1, ID_LENGTH) end

-- The queued form of body (formats.queued_body): a request's payload loses its domain
-- (the key names it); other kinds stay whole.
local function queued_body(body)
  if string.sub(body, 1, 1) ~= 'q' then return body end
  local space = string.find(body, ' ', 2, true)
  return space and 'q' .. string.sub(body, space + 1) or 'q'
end
-- Whether queued entry q carries its id (an entry that came back; a fresh one has none).
local function queued_has_id(q)
  local first = string.byte(q, 1)
  return first ~= nil and first >= 48 and first <= 57  -- a digit
end
-- Queued entry q's id (one without an id is numbered next_seq()) and its body in queued
-- form (the rest of q: a request's payload without its domain, which the key names).
local function queued_split(q, next_seq)
  if queued_has_id(q) then return string.sub(q, 1, ID_LENGTH), string.sub(q, ID_LENGTH + 1) end
  return new_entry_id(next_seq()), q
end
-- The leased value "<lhead><stored entry>" of the entry `id` whose queued body is `body`,
-- queued in the domain whose request head is `qhead` (request_body(domain, '')):
-- formats.from_queued after lease_head. One concatenation: the payload is copied once.
local function leased_value(lhead, id, body, qhead)
  if string.byte(body, 1) == 113 then return lhead .. id .. qhead .. string.sub(body, 2) end  -- 'q'
  return lhead .. id .. body
end

-- The keys of domain d's queue under `prefix` (formats.pending_keys, keys.py): its sorted
-- set of priorities (member: the priority, score: minus it), and the list of one priority.
local function priorities_key(prefix, d) return prefix .. ':' .. d end
local function list_key(prefix, d, p) return prefix .. ':' .. d .. ' ' .. p end
local function entry_body(entry) return string.sub(entry, ID_LENGTH + 1) end
local function entry_domain(entry) return domain_at(entry, ID_LENGTH + 1) end

-- Entry.parse: id, kind, domain, payload.
local function entry_fields(entry)
  local kind, payload = string.sub(entry, ID_LENGTH + 1, ID_LENGTH + 1), entry_body(entry)
  local domain = domain_at(payload, 1)
  payload = string.sub(payload, 2)
  if kind == 'q' or (kind == 'r' and string.sub(payload, 1, 1) ~= '{') then
    payload = string.sub(payload, #domain + 2)
  end
  return entry_id(entry), kind, domain, payload
end

-- Lease.parse: node, score, counted, entry.
local function parse_leased(v)
  local s1 = string.find(v, ' ', 1, true)
  local s2 = string.find(v, ' ', s1 + 1, true)
  local score = string.sub(v, s1 + 1, s2 - 1)
  local counted = string.sub(score, 1, 1) == '+'
  if counted then score = string.sub(score, 2) end
  return string.sub(v, 1, s1 - 1), tonumber(score), counted, string.sub(v, s2 + 1)
end

-- What a leased value holds before its entry: "<node> <score> " ("+<score>": counted);
-- the leased value is this followed by the entry.
local function lease_head(node, score, counted)
  return node .. (counted and ' +' or ' ') .. score .. ' '
end
local function held_by(v, node) return string.sub(v, 1, #node + 1) == node .. ' ' end
-- A pop reply's numbers for one group of entries (formats.read_popped reads them): how
-- many, the microseconds to hold the first, and the microseconds the group's requests keep
-- apart (the entry after it is held that much longer).
local function popped_group(count, hold_us, gap_us)
  return string.format('%d %d %d', count, hold_us, gap_us)
end

-- The lease held as leased value `value` ended (acknowledged, handed back, failed,
-- expired): if it counted, free its domain's in-flight slot, and make the domain ready
-- now in case it waited for one (pop.lua keeps its pace).
local function lease_ended(inflight, domains, value, now)
  if string.byte(value, string.find(value, ' ', 1, true) + 1) ~= 43 then return end  -- '+'
  local _, _, _, entry = parse_leased(value)
  local d = entry_domain(entry)
  if redis.call('HINCRBY', inflight, d, -1) <= 0 then redis.call('HDEL', inflight, d) end
  redis.call('ZADD', domains, 'XX', 'LT', now, d)
end

-- A small sorted set is a listpack, whose every insert and removal scans it. The sets
-- rewritten on every pop (the lease deadlines, the ready domains) hold this member, longer
-- than zset-max-listpack-value (64 bytes) and scored +inf (never due, never ready), so that
-- they stay skiplists (Redis does not turn one back): as listpacks of ~100 members they
-- cost twice the CPU of a pop. Counts of domains leave it out.
local SKIPLIST_KEEPER = '~ not a domain or a lease: keeps this sorted set a skiplist (lib.lua)'

-- Lua's unpack is bounded (LUAI_MAXCSTACK, 8000): a command given a list of values takes
-- them UNPACK_MAX at a time (an even number, so that pairs stay whole).
local UNPACK_MAX = 2000

-- redis.call(command, key, values...), UNPACK_MAX values a call.
local function call_chunked(command, key, values)
  for i = 1, #values, UNPACK_MAX do
    redis.call(command, key, unpack(values, i, math.min(i + UNPACK_MAX - 1, #values)))
  end
end

-- Acknowledge the leases node holds among the space-separated ids of string s, UNPACK_MAX
-- ids a call: each ends once (`ended`: the ids ended earlier in this script, a set this
-- adds to; lease_ended frees a counted one's slot), and leaves the leased hash, the
-- deadlines and the attempts; `stat` in stats counts them. `k`: {leased, deadlines,
-- attempts (false: known empty), in-flight, domains, stats} keys. Returns the ids
-- acknowledged (a set) and how many.
local function acknowledge(k, node, s, stat, now, ended)
  local count = 0
  local acknowledged = {}
  local all = {}
  for id in string.gmatch(s, '%S+') do all[#all + 1] = id end
  for from = 1, #all, UNPACK_MAX do
    local to = math.min(from + UNPACK_MAX - 1, #all)
    local values = redis.call('HMGET', k[1], unpack(all, from, to))
    local ids = {}
    for i = from, to do
      local id, v = all[i], values[i - from + 1]
      if v and held_by(v, node) and not ended[id] then
        ended[id] = true  -- (an id named twice ends its lease once)
        acknowledged[id] = true
        ids[#ids + 1] = id
        lease_ended(k[4], k[5], v, now)
      end
    end
    if #ids > 0 then
      redis.call('HDEL', k[1], unpack(ids))
      redis.call('ZREM', k[2], unpack(ids))
      if k[3] then redis.call('HDEL', k[3], unpack(ids)) end
      count = count + #ids
    end
  end
  if count > 0 then redis.call('HINCRBY', k[6], stat, count) end
  return acknowledged, count
end

-- On a Redis Cluster, a script may only use keys its node holds while its slot moves
-- (SETSLOT MIGRATING/IMPORTING): Redis checks every command a script runs, fails the script
-- at the first key that is missing (a domain's list already moved, a new domain, or one
-- this script just emptied) and keeps the writes made before. A script that builds key
-- names calls this before its first write: it reads a key that never exists, with one of
-- its KEYS (`key`: the importing node refuses a missing key only among several), so that
-- while the slot moves the script fails having changed nothing, and runs again once the
-- slot has moved. Elsewhere it reads one missing key: nothing.
local function fail_if_slot_moving(key)
  redis.call('EXISTS', key, key .. ' ~ never exists: fails the script while its slot moves')
end

-- Queue entries (queued forms, in their order) in domain d's list of priority p (an
-- integer): at its back, or at its front ("LPUSH": the last one first).
local function enqueue(prefix, d, p, entries, command)
  if #entries == 0 then return end
  p = string.format('%d', p)  -- canonical: "-0" is "0"
  redis.call('ZADD', priorities_key(prefix, d), -p, p)
  call_chunked(command, list_key(prefix, d, p), entries)
end
