-- renew: extend the leases this node still holds, so slow work is not taken from it.
-- KEYS[1] leased hash   KEYS[2] deadlines
-- ARGV[1] node id   ARGV[2] lease seconds   ARGV[3..] entry ids
-- Returns the number of leases renewed.
local prefix = ARGV[1] .. ' '
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[2])
local renewed = 0
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.sub(v, 1, #prefix) == prefix then
    redis.call('ZADD', KEYS[2], 'XX', deadline, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
