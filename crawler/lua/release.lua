-- release: put leased entries back in the queue with their original score.
-- KEYS[1] queue   KEYS[2] leased hash   KEYS[3] deadlines   KEYS[4] stats hash
-- ARGV[1] "ids": hand back ARGV[3..], leased by node ARGV[2] (graceful stop)
--         "expired": reclaim up to ARGV[2] entries whose lease deadline has passed
-- Returns the number of entries put back.
local ids
local owner = nil
local stat = 'released'
if ARGV[1] == 'expired' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
  ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
  stat = 'reclaimed'
else
  owner = ARGV[2] .. ' '
  ids = {}
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local back = 0
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[2], id)
  if v and (owner == nil or string.sub(v, 1, #owner) == owner) then
    local s1 = string.find(v, ' ', 1, true)
    local s2 = string.find(v, ' ', s1 + 1, true)
    redis.call('ZADD', KEYS[1], tonumber(string.sub(v, s1 + 1, s2 - 1)), string.sub(v, s2 + 1))
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    back = back + 1
  elseif not v then
    redis.call('ZREM', KEYS[3], id)
  end
end
if back > 0 then redis.call('HINCRBY', KEYS[4], stat, back) end
return back
