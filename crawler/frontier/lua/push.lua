-- push: de-duplicate a batch of requests by fingerprint, enqueue the new ones, then
-- acknowledge the requests that yielded them, in one atomic step: a parent is never
-- acknowledged without its children saved (a node whose children span several push
-- scripts sends the acknowledgements only once every one of them is saved). Its first
-- write, INCRBY, is refused when Redis is out of memory, and then nothing happens at all.
-- It builds the domain queues' key names: while its slot moves it fails first (lib.lua).
-- A request is queued in its domain's list of its priority, in its queued form (lib.lua:
-- no id, which pop.lua gives it, no domain, which the key names): "priority" order
-- queues it at the back of the list of its priority, "fifo" at the back and "lifo" at the
-- front of the domain's list of priority 0.
-- Fingerprints are exact (a field in a bucket hash) or, with a Bloom spec, bits in a bitmap.
-- KEYS[1] domains (sorted set of domains with queued entries, and lib.lua's
--         SKIPLIST_KEEPER; see pop.lua)
-- KEYS[2] sequence counter (only INCRBY 0 here: the out-of-memory guard)
-- KEYS[3] stats hash   KEYS[4] leased hash   KEYS[5] deadlines
-- KEYS[6] attempts hash   KEYS[7] in-flight hash (domain -> leased count)
-- KEYS[8] dead letters list
-- KEYS[9..] fingerprint bucket hashes (or bitmaps), referred to by index below
-- ARGV[1] order: "priority" | "fifo" | "lifo"
-- ARGV[2] fingerprint store: "exact:<re-crawl after N days, 0 never>", or
--         "bloom:<k>:<bits per bitmap>". Exact fields hold the day they were seen
--         (days since 2025-01-01: a 2-byte listpack integer).
-- ARGV[3] node id
-- ARGV[4] ids done, ARGV[5] ids dead, each space-separated in one string (acknowledged
--         if this node holds their lease; a lease already reclaimed is left alone)
-- ARGV[6] prefix of the domain queues (lib.lua's priorities_key, list_key)
-- ARGV[7] N: requests   ARGV[8] the N requests one after the other (one argument: a
--         node's client packs one argument in about the time Lua splits one request),
--         each "<index> <priority> <F> <P> <fingerprint><payload>": index into KEYS of its
--         bucket or bitmap (negative for a dont_filter request: its fingerprint is
--         recorded, the request enqueued anyway; 0: no fingerprint at all), priority, F
--         bytes of fingerprint field (exact) or h1 h2 as two big-endian uint32 (bloom), P
--         bytes of payload (the entry's body: lib.lua's request_body)
-- ARGV[9..] the dead letters of the ids dead, in their order: each is pushed on the dead
--         letters list only if its lease ended here (a batch sent again adds none twice)
-- Counts in stats: enqueued, queued (now in the domain queues), seen (new fingerprints),
-- duplicates, done, dead.
-- An acknowledged request frees its domain's in-flight slot: a domain waiting for one
-- becomes ready now (pop.lua still keeps its pace).
-- Returns {added, duplicates, acknowledged}
local order = ARGV[1]
local k, m = string.match(ARGV[2], '^bloom:(%d+):(%d+)$')
k, m = tonumber(k), tonumber(m)
local recrawl = tonumber(string.match(ARGV[2], '^exact:(%d+)$') or 0)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local today = math.floor((tonumber(t[1]) - 1735689600) / 86400)
local prefix = ARGV[6]
local n = tonumber(ARGV[7])
fail_if_slot_moving(KEYS[1])
redis.call('INCRBY', KEYS[2], 0)  -- the first write: refused when out of memory

local function first_time(key, field, force)
  if not k then
    if force then return redis.call('HSET', key, field, today) == 1 end
    if recrawl == 0 then return redis.call('HSETNX', key, field, today) == 1 end
    local day = tonumber(redis.call('HGET', key, field))
    if day and today - day < recrawl then return false end
    redis.call('HSET', key, field, today)
    return true
  end
  local h1, h2 = struct.unpack('>I4>I4', field)
  if h2 % 2 == 0 then h2 = h2 + 1 end
  local fresh = false
  for i = 0, k - 1 do
    if redis.call('SETBIT', key, (h1 + i * h2) % m, 1) == 0 then fresh = true end
  end
  return fresh
end

local added, dups, seen = 0, 0, 0
-- domain -> {priority -> queued entries in order}; domains and (domain, priority) in order
local queues, touched, lists = {}, {}, {}
local requests, at = ARGV[8], 1
for _ = 1, n do
  local bucket, priority, f, p, start = string.match(requests, '^(%S+) (%S+) (%d+) (%d+) ()', at)
  bucket, start = tonumber(bucket), tonumber(start)
  local payload_at = start + tonumber(f)
  at = payload_at + tonumber(p)
  local payload = string.sub(requests, payload_at, at - 1)
  local fresh = bucket ~= 0 and first_time(KEYS[math.abs(bucket)],
                                           string.sub(requests, start, payload_at - 1), bucket < 0)
  if bucket <= 0 or fresh then
    if order ~= 'priority' then priority = '0' end
    local domain = domain_at(payload, 1)  -- (payload: the entry's body)
    local queue = queues[domain]
    if not queue then
      queue = {}
      queues[domain] = queue
      touched[#touched + 1] = domain
    end
    local list = queue[priority]
    if not list then
      list = {}
      queue[priority] = list
      lists[#lists + 1] = {domain, priority}
    end
    list[#list + 1] = queued_body(payload)
    added = added + 1
    if fresh then seen = seen + 1 end
  else
    dups = dups + 1
  end
end
if #touched > 0 then redis.call('ZADD', KEYS[1], 'NX', 'inf', SKIPLIST_KEEPER) end
local command = order == 'lifo' and 'LPUSH' or 'RPUSH'
for _, pair in ipairs(lists) do
  enqueue(prefix, pair[1], pair[2], queues[pair[1]][pair[2]], command)
end
for _, domain in ipairs(touched) do redis.call('ZADD', KEYS[1], 'NX', now, domain) end
if added > 0 then
  redis.call('HINCRBY', KEYS[3], 'enqueued', added)
  redis.call('HINCRBY', KEYS[3], 'queued', added)
end
if seen > 0 then redis.call('HINCRBY', KEYS[3], 'seen', seen) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'duplicates', dups) end

local acked = 0
local ended = {}
local ack_keys = {KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[1], KEYS[3]}
local function ack(s, stat)  -- (lib.lua's acknowledge)
  local acknowledged, count = acknowledge(ack_keys, ARGV[3], s, stat, now, ended)
  acked = acked + count
  return acknowledged
end
ack(ARGV[4], 'done')
local dead = ack(ARGV[5], 'dead')
local letters, number = {}, 0
for id in string.gmatch(ARGV[5], '%S+') do
  number = number + 1
  if dead[id] then
    letters[#letters + 1] = ARGV[8 + number]
    dead[id] = nil
  end
end
call_chunked('LPUSH', KEYS[8], letters)
return {added, dups, acked}
