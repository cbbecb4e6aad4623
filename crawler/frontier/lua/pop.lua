-- pop: lease up to N entries, spread over the domains that may be served now, within
-- each domain's cluster-wide limits (requests in flight, one request per interval).
-- The ready domains share the batch; seeds top it up. An entry that failed before (a
-- suspect: its history is in the attempts hash) is back in its domain's queue: one that
-- failed once travels with any other (a killed node's leases come back at the cluster's
-- speed), one that failed twice or more travels with no other such entry, and a node
-- holds one of those at a time, so that a request that crashes nodes cannot drag the
-- same other requests down with it again; the rest stay queued.
-- KEYS[1] domains (sorted set: domain -> time it may next be served; only domains with
--         queued entries, and lib.lua's SKIPLIST_KEEPER at +inf)   KEYS[2] leased hash
-- KEYS[3] deadlines (id -> when its lease expires; and SKIPLIST_KEEPER)   KEYS[4] start_urls
-- KEYS[5] sequence (numbers the entries leased that have no id yet)
-- KEYS[6] attempts hash (id -> JSON list of its failed attempts)
-- KEYS[7] in-flight hash (domain -> leased count)
-- KEYS[8] pace hash (domain -> time its latest request was handed out for; kept for
--         paced domains, and for domains whose robots.txt is unread)
-- KEYS[9] robots hash (domain -> robots.txt Crawl-delay seconds, 0 when none)
-- KEYS[10] stats hash ("queued" counts the entries in the domain queues)
-- ARGV[1] N   ARGV[2] lease seconds   ARGV[3] node id
-- ARGV[4] "1" if the node may take an entry that failed twice or more now (it holds
--         none), else "0"
-- ARGV[5] prefix of the domain queues: domain d's priorities and lists are lib.lua's
--         priorities_key(prefix, d) and list_key(prefix, d, priority); within a domain
--         the highest priority goes first, each list from its front
-- ARGV[6] default limits "<max in flight, 0: none> <seconds between requests>"
-- ARGV[7] per-domain limits, JSON {domain: [max in flight, seconds between]} or ""
-- ARGV[8] "1" when robots.txt is obeyed: a domain whose robots.txt no node has read yet
--         gets one request at a time, and its Crawl-delay widens the interval
-- ARGV[9] seconds ahead: an entry may be handed out this long before its time, to be
--         held by the node (not by its downloader) until then
-- ARGV[10] ids done, space-separated, acknowledged first (lib.lua's acknowledge) if the
--          node holds their lease: a round with no requests to save acknowledges here,
--          not in a push.lua of its own
-- Entries, leased values and this reply are in the formats of lib.lua (kind "s", a raw
-- seed, has no domain and no limits): leased[id] = leased_value(lease_head(node, minus
-- the entry's priority, ...), ...): the stored entry after the lease head (an entry
-- queued without an id gets one now), deadlines[id] = server time + lease.
-- A batch is shared by the ready domains, MIN_SHARE entries a domain at the least (within
-- its limits): with more ready domains than that allows, the next pops serve the others
-- (a served domain's turn comes after theirs).
-- Returns {id of the entry taken that failed twice or more ("": none), ms until a domain
--          may next be served (-1: none queued), ids acknowledged, numbers, ids, then
--          for each group of entries (a domain's share, the seeds) its domain ("" for
--          seeds) and the entries' bodies in queued form}: `numbers` holds
--          popped_group(...) for each group, space-separated, and `ids` the entries' ids
--          one after the other. A body is what the domain's list held (no copy for the
--          reply); the node puts the entry together. Times are capped at MAX_SECONDS.
-- Entries taken from a queue are leased before the script takes any other: one HSET and
-- one ZADD for each domain's share (and for the seeds).
-- It builds the domain queues' key names: while its slot moves it fails first (lib.lua).
fail_if_slot_moving(KEYS[1])
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local deadline = now + tonumber(ARGV[2])
-- As redis.call writes a number (Redis 7.0: %.17g), once rather than at every call
local now_arg, deadline_arg = string.format('%.17g', now), string.format('%.17g', deadline)
local prefix = ARGV[5]
local default_cap, default_gap = string.match(ARGV[6], '^(%S+) (%S+)$')
default_cap, default_gap = tonumber(default_cap), tonumber(default_gap)
local overrides = {}
if ARGV[7] ~= '' then overrides = cjson.decode(ARGV[7]) end
local robots = ARGV[8] == '1'
local ahead = tonumber(ARGV[9])
-- Whether some entries have failed before (then each popped share is screened, and an
-- acknowledged one's history goes).
local tracked = redis.call('HLEN', KEYS[6]) > 0
local _, acked = acknowledge({KEYS[2], KEYS[3], tracked and KEYS[6], KEYS[7], KEYS[1], KEYS[10]},
                             ARGV[3], ARGV[10], 'done', now, {})
-- The reply from its 6th element on (groups), its numbers and ids; the leases and their
-- deadlines not written yet.
local reply, numbers, ids, leases, deadlines = {'', 0, acked, '', ''}, {}, {}, {}, {}
local leased_count = 0
-- A domain's share costs about 6 calls on top of its entries' work, as much as 2 entries:
-- 8 (Scrapy's CONCURRENT_REQUESTS_PER_DOMAIN) is 13 % less Redis CPU an entry than 4
-- when many domains are ready.
local MIN_SHARE = 8
local MAX_SECONDS = 1e9  -- about 31 years: a longer hold or Crawl-delay is as good as never

-- What domain d may get now: {room, cap, gap, time of its first request, in flight,
-- whether to record its pace, time its latest request was handed out for (or false)}.
local function budget(d)
  if d == '' then return {n, 0, 0, now, 0, false} end
  local cap, gap = default_cap, default_gap
  local own = overrides[d]
  if own then cap, gap = tonumber(own[1]), tonumber(own[2]) end
  local paced = gap > 0
  if robots then
    local delay = redis.call('HGET', KEYS[9], d)
    if not delay then
      cap, paced = 1, true  -- until a node has read its robots.txt
    elseif tonumber(delay) > gap then
      gap, paced = tonumber(delay), true
    end
  end
  local flying, room = 0, n
  if cap > 0 then
    flying = tonumber(redis.call('HGET', KEYS[7], d) or 0)
    room = cap - flying
  end
  local first, latest = now, false
  if gap > 0 then
    latest = redis.call('HGET', KEYS[8], d)
    latest = latest and tonumber(latest)
    if latest then first = math.max(now, latest + gap) end
    room = math.min(room, math.floor((now + ahead - first) / gap) + 1)
  end
  return {math.max(room, 0), cap, gap, first, flying, paced, latest}
end

-- Whole units (1000: ms, 1e6: us) of `seconds`, within 0 .. MAX_SECONDS.
local function whole(seconds, units)
  return math.floor(math.min(math.max(0, seconds), MAX_SECONDS) * units + 0.5)
end

-- Ids for entries queued without one: reserved at the first need, enough for the rest of
-- the batch (each entry leased takes at most one), so one INCRBY a pop at most.
local next_seq, last_seq = 1, 0
local function new_id()
  if next_seq > last_seq then
    local room = n - leased_count
    last_seq = redis.call('INCRBY', KEYS[5], room)
    next_seq = last_seq - room + 1
  end
  next_seq = next_seq + 1
  return next_seq - 1
end

-- Start a group of `count` entries of domain d in the reply (held `hold` seconds, the
-- next ones `gap` seconds apart).
local function group(d, count, hold, gap)
  numbers[#numbers + 1] = popped_group(count, whole(hold, 1e6), whole(gap, 1e6))
  reply[#reply + 1] = d
end

-- Lease the entry `id` whose queued body is `body` (lib.lua's leased_value), and add it
-- to the reply's current group. Written by write_leases.
local function lease(id, body, lhead, qhead)
  leases[#leases + 1] = id
  leases[#leases + 1] = leased_value(lhead, id, body, qhead)
  deadlines[#deadlines + 1] = deadline_arg
  deadlines[#deadlines + 1] = id
  ids[#ids + 1] = id
  reply[#reply + 1] = body
  leased_count = leased_count + 1
end

local keeper_added = false
local function write_leases()
  if #leases == 0 then return end
  if not keeper_added then
    redis.call('ZADD', KEYS[3], 'NX', 'inf', SKIPLIST_KEEPER)
    keeper_added = true
  end
  call_chunked('HSET', KEYS[2], leases)
  call_chunked('ZADD', KEYS[3], deadlines)
  leases, deadlines = {}, {}
end

-- Lease popped pairs {queued entry, priority, ...} of domain d under budget b; record
-- its pace.
local function serve(d, b, popped)
  local taken = #popped / 2
  if taken == 0 then return end
  group(d, taken, b[4] - now, b[3])
  local qhead = request_body(d, '')
  local heads = {}  -- priority -> lease head (the score is minus the priority)
  for i = 1, #popped, 2 do
    local q, priority = popped[i], popped[i + 1]
    local lhead = heads[priority]
    if not lhead then
      lhead = lease_head(ARGV[3], string.format('%d', -priority), b[2] > 0)
      heads[priority] = lhead
    end
    local id, body = queued_split(q, new_id)
    lease(id, body, lhead, qhead)
  end
  write_leases()
  if d ~= '' then
    if b[2] > 0 then
      redis.call('HINCRBY', KEYS[7], d, taken)
      b[5] = b[5] + taken
    end
    if b[6] then
      b[7] = b[4] + (taken - 1) * b[3]
      redis.call('HSET', KEYS[8], d, b[7])
    elseif robots then
      redis.call('HDEL', KEYS[8], d)  -- paced only while its robots.txt was unread
    end
  end
end

-- When domain d may be served again: never (its queue is empty: `drained` when known,
-- nil: asked), when an ack frees a slot (the lease deadline stands in), or at its pace.
local function reschedule(d, b, drained)
  if drained or (drained == nil and redis.call('EXISTS', priorities_key(prefix, d)) == 0) then
    redis.call('ZREM', KEYS[1], d)
  elseif b[2] > 0 and b[5] >= b[2] then
    redis.call('ZADD', KEYS[1], deadline_arg, d)
  elseif b[3] > 0 then
    redis.call('ZADD', KEYS[1], math.max(now, (b[7] or now) + b[3] - ahead), d)
  else
    redis.call('ZADD', KEYS[1], now_arg, d)
  end
end

local may_isolate = ARGV[4] == '1'
local SCREEN_POPS = 4  -- pops of one domain's queue past entries this node may not take
local isolated = ''  -- the id of the entry taken that failed twice or more

-- Append to `kept` the popped pairs {queued entry, priority, ...} this node may take now
-- (an entry that failed twice or more: only alone, see the header), the others to `back`.
-- Only an entry that came back carries an id, and so a history.
local function screen(popped, kept, back)
  local ids, at = {}, {}
  if tracked then
    for i = 1, #popped, 2 do
      if queued_has_id(popped[i]) then
        ids[#ids + 1] = string.sub(popped[i], 1, ID_LENGTH)
        at[#ids] = i
      end
    end
  end
  local alone = {}
  if #ids > 0 then
    for j, history in ipairs(redis.call('HMGET', KEYS[6], unpack(ids))) do
      if history and #cjson.decode(history) >= 2 then alone[at[j]] = ids[j] end
    end
  end
  for i = 1, #popped, 2 do
    local to = kept
    if alone[i] then
      if not may_isolate or isolated ~= '' then to = back else isolated = alone[i] end
    end
    to[#to + 1] = popped[i]
    to[#to + 1] = popped[i + 1]
  end
end

-- Pop up to k queued entries of domain d, highest priority first: {queued entry, priority,
-- ...}, and whether its queue is now empty.
local function take(d, k)
  local got = {}
  local priorities = priorities_key(prefix, d)
  while k > 0 do
    local top = redis.call('ZRANGE', priorities, 0, 0)
    if #top == 0 then return got, true end
    local list = list_key(prefix, d, top[1])
    local items = redis.call('LPOP', list, k) or {}
    for _, q in ipairs(items) do
      got[#got + 1] = q
      got[#got + 1] = top[1]
    end
    k = k - #items
    if k == 0 and redis.call('LLEN', list) > 0 then return got, false end
    redis.call('ZREM', priorities, top[1])  -- (its list is empty)
  end
  return got, redis.call('EXISTS', priorities) == 0
end

-- Pop up to `share` entries of domain d's queue this node may take now: past the entries
-- it may not take (they go back to the front of their lists after), a few pops deep, so
-- they block no others.
local function pop_share(d, share)
  if not tracked then return take(d, share) end  -- (none to screen)
  local kept, back = {}, {}
  local drained = false
  for _ = 1, SCREEN_POPS do
    local missing = share - #kept / 2
    if missing <= 0 or drained then break end
    local popped
    popped, drained = take(d, missing)
    screen(popped, kept, back)
  end
  for i = #back - 1, 1, -2 do enqueue(prefix, d, back[i + 1], {back[i]}, 'LPUSH') end
  if #back > 0 then drained = false end
  return kept, drained
end

local want = n
local queued = 0
if want > 0 then
  local ready = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_arg, 'LIMIT', 0, want)
  for i, d in ipairs(ready) do
    if want <= 0 then break end
    local b = budget(d)
    local share = math.min(b[1], want, math.max(MIN_SHARE, math.ceil(want / (#ready - i + 1))))
    local drained = nil
    if share > 0 then
      local popped
      popped, drained = pop_share(d, share)
      serve(d, b, popped)
      want = want - #popped / 2
      queued = queued + #popped / 2
    end
    reschedule(d, b, drained)
  end
end
if queued > 0 then redis.call('HINCRBY', KEYS[10], 'queued', -queued) end

if want > 0 then
  local kind = redis.call('TYPE', KEYS[4]).ok
  local seeds = {}
  if kind == 'list' then seeds = redis.call('LPOP', KEYS[4], want)
  elseif kind == 'set' then seeds = redis.call('SPOP', KEYS[4], want)
  elseif kind == 'zset' then
    local pairs_ = redis.call('ZPOPMIN', KEYS[4], want)
    for i = 1, #pairs_, 2 do seeds[#seeds + 1] = pairs_[i] end
  end
  if seeds and #seeds > 0 then
    group('', #seeds, 0, 0)
    local lhead = lease_head(ARGV[3], 0, false)
    for _, raw in ipairs(seeds) do
      lease(new_entry_id(new_id()), 's' .. raw, lhead, '')
    end
    write_leases()
  end
end

local next_ready = -1
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first > 0 and first[1] ~= SKIPLIST_KEEPER then
  next_ready = whole(tonumber(first[2]) - now, 1000)
end
reply[1], reply[2], reply[4], reply[5] = isolated, next_ready, table.concat(numbers, ' '),
  table.concat(ids)
return reply
