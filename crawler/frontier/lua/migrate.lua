-- migrate: move up to ARGV[2] entries of a sorted set of earlier versions (a domain's
-- queue, the single queue, or the retry set of entries that failed before) to the back of
-- the domain lists, in the sorted set's order (atomic per call, so nodes starting together
-- cannot move one twice). An entry keeps its id only if it has a history in the attempts
-- hash (pop.lua reads it); the others get a new one when leased.
-- KEYS[1] the earlier sorted set of entries (lib.lua; a request's payload its JSON alone,
-- or "<domain> <JSON>")   KEYS[2] domains   KEYS[3] stats hash   KEYS[4] attempts hash
-- ARGV[1] prefix of the domain queues (lib.lua's priorities_key, list_key)
-- ARGV[2] how many entries to move
-- ARGV[3] order: "priority" (an entry's priority is minus its score) | "fifo" | "lifo"
--         (priority 0: the scores only kept the order)
-- ARGV[4] "1" if the stats' "queued" should count the entries moved (the single queue and
--         the retry set), "0" if it counts them already (a domain's queue)
-- It builds the domain queues' key names: while its slot moves it fails first (lib.lua).
-- Returns how many entries moved (0: none left).
fail_if_slot_moving(KEYS[2])
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[2]))
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ids = {}
for i = 1, #popped, 2 do ids[#ids + 1] = entry_id(popped[i]) end
local histories = #ids > 0 and redis.call('HMGET', KEYS[4], unpack(ids)) or {}
for i = 1, #popped, 2 do
  local entry = popped[i]
  local _, kind, d, payload = entry_fields(entry)
  if kind == 'r' and d == '' then  -- JSON alone: no domain
    local ok, request = pcall(cjson.decode, payload)
    if ok and type(request) == 'table' and type(request.url) == 'string' then
      local host = string.match(request.url, '^%a[%w+.-]*://([^/?#]*)') or ''
      host = string.gsub(host, '^.*@', '')
      if string.sub(host, 1, 1) == '[' then
        host = string.match(host, '^%[([^%]]*)%]') or ''
      else
        host = string.gsub(host, ':.*$', '')
      end
      d = string.gsub(string.lower(host), ' ', '%%20')
    end
  end
  if kind == 'r' then entry = entry_id(entry) .. request_body(d, payload) end  -- (the same)
  local queued = queued_body(entry_body(entry))
  if histories[(i + 1) / 2] then queued = entry_id(entry) .. queued end
  local priority = ARGV[3] == 'priority' and -tonumber(popped[i + 1]) or 0
  enqueue(ARGV[1], d, priority, {queued}, 'RPUSH')
  redis.call('ZADD', KEYS[2], 'NX', now, d)
end
if #popped > 0 and ARGV[4] == '1' then redis.call('HINCRBY', KEYS[3], 'queued', #popped / 2) end
return #popped / 2
