-- heartbeat: record this node's state with the server's time, and read the cluster's.
-- KEYS[1] nodes hash   KEYS[2] queue   KEYS[3] leased hash   KEYS[4] start_urls   KEYS[5] stats
-- KEYS[6] retry set
-- ARGV[1] node id   ARGV[2] node state as a JSON object (its "beat" field is set here)
-- Returns {server time, queued (queue + retry), leased, seeds waiting, enqueued ever, nodes...}
-- where nodes is a flat list of node id, JSON state.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = cjson.decode(ARGV[2])
state['beat'] = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
local kind = redis.call('TYPE', KEYS[4]).ok
local seeds = 0
if kind == 'list' then seeds = redis.call('LLEN', KEYS[4])
elseif kind == 'set' then seeds = redis.call('SCARD', KEYS[4])
elseif kind == 'zset' then seeds = redis.call('ZCARD', KEYS[4]) end
local enqueued = redis.call('HGET', KEYS[5], 'enqueued') or '0'
return {tostring(now), redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[6]),
        redis.call('HLEN', KEYS[3]), seeds,
        enqueued, redis.call('HGETALL', KEYS[1])}
