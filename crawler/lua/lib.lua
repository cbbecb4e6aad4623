-- lib: helpers every frontier script starts with (scripts.py puts this text first).

-- The domain of the entry starting at position `at` of string s ("" for a raw seed):
-- an entry is "<16-digit id><kind><payload>", a request's payload "<domain> <request>".
local function domain_at(s, at)
  if string.sub(s, at + 16, at + 16) ~= 'r' then return '' end
  local space = string.find(s, ' ', at + 17, true)
  return space and string.sub(s, at + 17, space - 1) or ''
end

-- The lease held as leased value "<node> <score> <entry>" ended (acknowledged, handed
-- back, failed, expired): free its domain's in-flight slot, and make a domain that
-- waited for a slot ready now (pop.lua keeps its pace).
local function lease_ended(inflight, domains, value, now)
  local s1 = string.find(value, ' ', 1, true)
  local s2 = string.find(value, ' ', s1 + 1, true)
  local d = domain_at(value, s2 + 1)
  if d == '' then return end
  if redis.call('HINCRBY', inflight, d, -1) <= 0 then redis.call('HDEL', inflight, d) end
  redis.call('ZADD', domains, 'XX', 'LT', now, d)
end

