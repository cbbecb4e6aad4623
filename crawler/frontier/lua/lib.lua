-- lib: helpers every frontier script starts with (scripts.py puts this text first).

-- The domain of the entry whose kind byte is at position `k` of string s ("" for a raw
-- seed). An entry is "<16-digit id><kind><payload>" (Entry in crawler/frontier.py mirrors it):
-- kind "q" a request, its payload "<domain> <request>"; kind "s" a raw seed; kind "r" a
-- request stored by an earlier version: "<domain> <request>", or "<request JSON>" alone
-- (domain ""), told apart by the "{" that only the JSON starts with.
local function domain_at(s, k)
  local kind = string.sub(s, k, k)
  if kind ~= 'q' and (kind ~= 'r' or string.sub(s, k + 1, k + 1) == '{') then return '' end
  local space = string.find(s, ' ', k + 1, true)
  return space and string.sub(s, k + 1, space - 1) or ''
end

-- A leased value is "<node> <score> <entry>"; the score is written "+<score>" when the
-- lease counts against its domain's in-flight cap. Returns node, score, counted, entry.
local function parse_leased(v)
  local s1 = string.find(v, ' ', 1, true)
  local s2 = string.find(v, ' ', s1 + 1, true)
  local score = string.sub(v, s1 + 1, s2 - 1)
  local counted = string.sub(score, 1, 1) == '+'
  if counted then score = string.sub(score, 2) end
  return string.sub(v, 1, s1 - 1), tonumber(score), counted, string.sub(v, s2 + 1)
end

-- The lease held as leased value `value` ended (acknowledged, handed back, failed,
-- expired): if it counted, free its domain's in-flight slot, and make the domain ready
-- now in case it waited for one (pop.lua keeps its pace).
local function lease_ended(inflight, domains, value, now)
  local s1 = string.find(value, ' ', 1, true)
  if string.sub(value, s1 + 1, s1 + 1) ~= '+' then return end
  local s2 = string.find(value, ' ', s1 + 1, true)
  local d = domain_at(value, s2 + 17)
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
