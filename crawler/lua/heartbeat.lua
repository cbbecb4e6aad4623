-- heartbeat: record this node's state with the server's time, and read the cluster's.
-- KEYS[1] nodes hash   KEYS[2] leased hash   KEYS[3] start_urls   KEYS[4] stats (its
-- "queued" counts the entries of the domain queues)   KEYS[5] retry set   KEYS[6] series
-- list   KEYS[7] series lock   KEYS[8] control
-- ARGV[1] node id   ARGV[2] node state as a JSON object (its "beat" field is set here)
-- ARGV[3] sampling interval (s)   ARGV[4] samples kept: the first node to beat in each
-- interval prepends one cluster sample {t, queued, leased, seeds, seen, done, items} to
-- the series list, trimmed to ARGV[4] entries (a bounded time series for dashboards).
-- ARGV[5] seconds after which a silent node is dropped from the nodes hash (it stays
-- listed as dead until then).
-- Returns {server time, queued (queue + retry), leased, seeds waiting, enqueued ever,
--          control ("" running, "paused", "stopped"), nodes...}
-- where nodes is a flat list of node id, JSON state.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = cjson.decode(ARGV[2])
state['beat'] = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
local kind = redis.call('TYPE', KEYS[3]).ok
local seeds = 0
if kind == 'list' then seeds = redis.call('LLEN', KEYS[3])
elseif kind == 'set' then seeds = redis.call('SCARD', KEYS[3])
elseif kind == 'zset' then seeds = redis.call('ZCARD', KEYS[3]) end
local stats = redis.call('HMGET', KEYS[4], 'enqueued', 'seen', 'done', 'items', 'queued')
local queued = tonumber(stats[5] or 0) + redis.call('ZCARD', KEYS[5])
local leased = redis.call('HLEN', KEYS[2])
if redis.call('SET', KEYS[7], '1', 'NX', 'PX', math.floor(tonumber(ARGV[3]) * 1000)) then
  redis.call('LPUSH', KEYS[6], cjson.encode({
    t = now, queued = queued, leased = leased, seeds = seeds, seen = tonumber(stats[2] or 0),
    done = tonumber(stats[3] or 0), items = tonumber(stats[4] or 0)}))
  redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[4]) - 1)
end
local control = redis.call('GET', KEYS[8]) or ''
local nodes = redis.call('HGETALL', KEYS[1])
local kept = {}
for i = 1, #nodes, 2 do
  local beat = tonumber(string.match(nodes[i + 1], '"beat":%s*([%d%.eE+-]+)') or now)
  if now - beat > tonumber(ARGV[5]) then
    redis.call('HDEL', KEYS[1], nodes[i])
  else
    kept[#kept + 1] = nodes[i]
    kept[#kept + 1] = nodes[i + 1]
  end
end
return {tostring(now), queued, leased, seeds, stats[1] or '0', control, kept}
