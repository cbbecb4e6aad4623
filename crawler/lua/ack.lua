-- ack: forget entries whose processing is done, if this node still holds their lease.
-- KEYS[1] leased hash   KEYS[2] deadlines   KEYS[3] stats hash   KEYS[4] attempts hash
-- ARGV[1] node id   ARGV[2] stats field to count ("done" or "dead")   ARGV[3..] entry ids
-- The count is written first: it is the script's first write and may be refused when
-- Redis is out of memory, and then nothing is acknowledged, just as the pushes sent
-- before it in the same pipeline (refused too) saved nothing. A parent is never
-- acknowledged without the requests it yielded.
-- Returns the number of entries acknowledged (a lease already reclaimed is left alone).
local prefix = ARGV[1] .. ' '
local mine = {}
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.sub(v, 1, #prefix) == prefix then mine[#mine + 1] = ARGV[i] end
end
redis.call('HINCRBY', KEYS[3], ARGV[2], #mine)
for _, id in ipairs(mine) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[4], id)
end
return #mine
