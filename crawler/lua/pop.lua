-- pop: take up to N entries under a lease: at most one from the retry set (entries that
-- failed before: a node holds one such suspect at a time, so a request that crashes
-- nodes cannot drag the same other requests down again), then from the queue, then from
-- the seeds when both run short.
-- KEYS[1] queue  KEYS[2] leased hash  KEYS[3] deadlines  KEYS[4] start_urls  KEYS[5] sequence
-- KEYS[6] retry set
-- ARGV[1] N   ARGV[2] lease seconds   ARGV[3] node id
-- ARGV[4] "1" if the node may take a suspect now (it holds none), else "0"
-- An entry is "<16-digit id><kind><payload>"; kind "r" = request, "s" = raw seed.
-- leased[id] = "<node> <score> <entry>", deadlines[id] = server time + lease.
-- Returns {number of suspects (0 or 1), entries...}: the suspect first, then queue
-- order, then seeds.
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[2])
local out = {}
local function lease(entry, score)
  local id = string.sub(entry, 1, 16)
  redis.call('HSET', KEYS[2], id, ARGV[3] .. ' ' .. score .. ' ' .. entry)
  redis.call('ZADD', KEYS[3], deadline, id)
  out[#out + 1] = entry
end
local suspects = 0
if ARGV[4] == '1' then
  local retried = redis.call('ZPOPMIN', KEYS[6], 1)
  if #retried > 0 then
    lease(retried[1], retried[2])
    suspects = 1
  end
end
if n - #out > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], n - #out)
  for i = 1, #popped, 2 do lease(popped[i], popped[i + 1]) end
end
local short = n - #out
if short > 0 then
  local kind = redis.call('TYPE', KEYS[4]).ok
  local seeds = {}
  if kind == 'list' then seeds = redis.call('LPOP', KEYS[4], short)
  elseif kind == 'set' then seeds = redis.call('SPOP', KEYS[4], short)
  elseif kind == 'zset' then
    local pairs_ = redis.call('ZPOPMIN', KEYS[4], short)
    for i = 1, #pairs_, 2 do seeds[#seeds + 1] = pairs_[i] end
  end
  if seeds and #seeds > 0 then
    local last = redis.call('INCRBY', KEYS[5], #seeds)
    for i, raw in ipairs(seeds) do
      lease(string.format('%016d', last - #seeds + i) .. 's' .. raw, 0)
    end
  end
end
table.insert(out, 1, suspects)
return out
