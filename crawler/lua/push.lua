-- push: de-duplicate a batch of requests by fingerprint and enqueue the new ones.
-- KEYS[1]  queue (sorted set)         KEYS[2] sequence counter   KEYS[3] stats hash
-- KEYS[4..] fingerprint bucket hashes, referred to by index below
-- ARGV[1]  order: "priority" | "fifo" | "lifo"
-- ARGV[2+4i..5+4i] per request: bucket index into KEYS (0 = dont_filter, no check),
--          fingerprint field, priority, payload (kind byte + encoded request)
-- Counts in stats: enqueued, seen (new fingerprints), duplicates.
-- Returns  {added, duplicates}
local order = ARGV[1]
local n = (#ARGV - 1) / 4
local last = redis.call('INCRBY', KEYS[2], n)
local added, dups, seen = 0, 0, 0
for i = 0, n - 1 do
  local base = 2 + 4 * i
  local bucket = tonumber(ARGV[base])
  if bucket == 0 or redis.call('HSETNX', KEYS[bucket], ARGV[base + 1], '') == 1 then
    local seq = last - n + 1 + i
    local score = 0
    if order == 'priority' then score = -tonumber(ARGV[base + 2])
    elseif order == 'lifo' then score = -seq end
    redis.call('ZADD', KEYS[1], score, string.format('%016d', seq) .. ARGV[base + 3])
    added = added + 1
    if bucket ~= 0 then seen = seen + 1 end
  else
    dups = dups + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[3], 'enqueued', added) end
if seen > 0 then redis.call('HINCRBY', KEYS[3], 'seen', seen) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'duplicates', dups) end
return {added, dups}
