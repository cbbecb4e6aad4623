-- ack: forget entries whose processing is done, if this node still holds their lease.
-- KEYS[1] leased hash   KEYS[2] deadlines   KEYS[3] stats hash   KEYS[4] attempts hash
-- ARGV[1] node id   ARGV[2] stats field to count ("done" or "dead")   ARGV[3..] entry ids
-- Returns the number of entries acknowledged (a lease already reclaimed is left alone).
local prefix = ARGV[1] .. ' '
local acked = 0
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.sub(v, 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[4], ARGV[i])
    acked = acked + 1
  end
end
if acked > 0 then redis.call('HINCRBY', KEYS[3], ARGV[2], acked) end
return acked
