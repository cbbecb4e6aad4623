-- release: end leases early: hand entries back to the front of their domain's list of
-- their priority (minus the lease's score), keeping their ids, in the order given
-- (graceful stop), or count a failed attempt (callback raised, lease expired) and put the
-- entry back the same way, with its history in the attempts hash (keyed by its id):
-- pop.lua reads that history to keep an entry that failed twice apart from other suspects.
-- KEYS[1] domains (see pop.lua)   KEYS[2] leased hash   KEYS[3] deadlines   KEYS[4] stats
-- KEYS[5] attempts hash (id -> JSON list of failed attempts)   KEYS[6] dead letters list
-- KEYS[7] in-flight hash (domain -> leased count)
-- ARGV[1] prefix of the domain queues (lib.lua's priorities_key, list_key)
-- ARGV[2] mode:
--   "ids"     hand back ARGV[4..], leased by node ARGV[3] (graceful stop; not an attempt)
--   "failed"  node ARGV[3] failed ARGV[5], ARGV[6] ... (id, reason pairs); ARGV[4] = max attempts
--   "expired" reclaim up to ARGV[3] entries whose lease deadline passed; ARGV[4] = max attempts
-- A failed or expired entry is an attempt; at max attempts it goes to the dead letters
-- with its history instead of back to the queue (a poison request).
-- It builds the domain queues' key names: while its slot moves it fails first (lib.lua).
-- Returns {entries put back, entries dead-lettered}
fail_if_slot_moving(KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local prefix = ARGV[1]
local mode = ARGV[2]
local todo = {}   -- {id, reason or false}
local owner = nil
local max_attempts = 0
if mode == 'expired' then
  max_attempts = tonumber(ARGV[4])
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
    todo[#todo + 1] = {id, 'lease expired'}
  end
elseif mode == 'failed' then
  owner = ARGV[3]
  max_attempts = tonumber(ARGV[4])
  for i = 5, #ARGV, 2 do todo[#todo + 1] = {ARGV[i], ARGV[i + 1]} end
else
  owner = ARGV[3]
  for i = 4, #ARGV do todo[#todo + 1] = {ARGV[i], false} end
end
local back, dead = 0, 0
local lists, order = {}, {}  -- "<domain> <priority>" -> {domain, priority, entries...}
for _, job in ipairs(todo) do
  local id, reason = job[1], job[2]
  local v = redis.call('HGET', KEYS[2], id)
  if v and (owner == nil or held_by(v, owner)) then
    local node, score, _, entry = parse_leased(v)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    lease_ended(KEYS[7], KEYS[1], v, now)
    local poisoned = false
    if reason then
      local history = cjson.decode(redis.call('HGET', KEYS[5], id) or '[]')
      history[#history + 1] = {node = node, reason = reason, time = now}
      if #history >= max_attempts then
        poisoned = true
        redis.call('HDEL', KEYS[5], id)
        redis.call('LPUSH', KEYS[6], cjson.encode({
          id = id, reason = 'poison: failed ' .. #history .. ' times, last: ' .. reason,
          history = history, entry = entry_body(entry), time = now}))
        dead = dead + 1
      else
        redis.call('HSET', KEYS[5], id, cjson.encode(history))
      end
    end
    if not poisoned then
      local d = entry_domain(entry)
      local p = string.format('%d', -score)
      local list = lists[d .. ' ' .. p]  -- (a domain has no space)
      if not list then
        list = {d, p}
        lists[d .. ' ' .. p] = list
        order[#order + 1] = list
      end
      list[#list + 1] = entry_id(entry) .. queued_body(entry_body(entry))
      redis.call('ZADD', KEYS[1], 'NX', now, d)
      redis.call('HINCRBY', KEYS[4], 'queued', 1)
      back = back + 1
    end
  elseif not v then
    redis.call('ZREM', KEYS[3], id)
  end
end
-- To the front of their lists, in the order they came (the first one first).
for _, list in ipairs(order) do
  local entries = {}
  for i = #list, 3, -1 do entries[#entries + 1] = list[i] end
  enqueue(prefix, list[1], list[2], entries, 'LPUSH')
end
local stat = ({ids = 'released', failed = 'failed', expired = 'reclaimed'})[mode]
if back > 0 then redis.call('HINCRBY', KEYS[4], stat, back) end
if dead > 0 then redis.call('HINCRBY', KEYS[4], 'poisoned', dead) end
return {back, dead}
