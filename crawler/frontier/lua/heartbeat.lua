-- heartbeat: record this node's state with the server's time, and read the cluster's.
-- A beat costs O(log n) in the number of nodes n, never a read of every node's state:
-- two sorted sets index the nodes hash, and the end-of-crawl rule needs one score.
-- KEYS[1] nodes hash (node id -> JSON state)   KEYS[2] beats (sorted set: node id -> its
-- latest beat)   KEYS[3] busy-until (sorted set: node id -> server time until which it
-- keeps the crawl from ending)   KEYS[4] leased hash   KEYS[5] start_urls   KEYS[6] stats
-- (its "queued" counts the entries of the domain queues)   KEYS[7] series list
-- KEYS[8] series lock   KEYS[9] control
-- ARGV[1] node id   ARGV[2] node state as a JSON object (its "beat" field is set here;
-- "idle_for": seconds idle, -1 busy)
-- ARGV[3] sampling interval (s)   ARGV[4] samples kept: the first node to beat in each
-- interval prepends one cluster sample {t, queued, leased, seeds, seen, done, items} to
-- the series list, trimmed to ARGV[4] entries (a bounded time series for dashboards).
-- ARGV[5] seconds after which a silent node is dropped from the nodes hash (it stays
-- listed as dead until then), at most FORGET_MAX nodes a beat.
-- ARGV[6] node timeout (s): a node silent this long is dead
-- ARGV[7] idle timeout (s): the crawl may end once every live node was idle this long
-- ARGV[8..11] (a crawl of several partitions; these keys are partition 0's) the other
-- partitions' queued, leased, seen and done, as the node last read them: the sample adds
-- them, so that the series shows the whole crawl. The reply stays partition 0's.
-- A node keeps the crawl from ending until min(idle since + idle timeout, beat + node
-- timeout) (busy: beat + node timeout); the crawl may end when the latest of these is past.
-- Every key it uses is in KEYS and none is emptied then used again: Redis checks them
-- before it runs, so it needs no lib.lua fail_if_slot_moving.
-- Returns {server time, queued, leased, seeds waiting, enqueued ever, control ("" running,
--          "paused", "stopped"), latest busy-until ("-inf": no node)}.
local FORGET_MAX = 16
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local node_timeout, idle_timeout = tonumber(ARGV[6]), tonumber(ARGV[7])

local function busy_until(beat, idle_for)
  if idle_for < 0 then return beat + node_timeout end
  return math.min(beat - idle_for + idle_timeout, beat + node_timeout)
end

local function number(v, default)
  return type(v) == 'number' and v or default
end

-- Index the states an earlier version wrote (no beats set yet): once, O(n).
if redis.call('EXISTS', KEYS[2]) == 0 then
  local nodes = redis.call('HGETALL', KEYS[1])
  for i = 1, #nodes, 2 do
    local ok, old = pcall(cjson.decode, nodes[i + 1])
    if not ok or type(old) ~= 'table' then old = {} end
    local beat = number(old['beat'], 0)
    redis.call('ZADD', KEYS[2], beat, nodes[i])
    redis.call('ZADD', KEYS[3], busy_until(beat, number(old['idle_for'], -1)), nodes[i])
  end
end

local state = cjson.decode(ARGV[2])
state['beat'] = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZADD', KEYS[3], busy_until(now, number(state['idle_for'], -1)), ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]),
                        'LIMIT', 0, FORGET_MAX)
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end

local kind = redis.call('TYPE', KEYS[5]).ok
local seeds = 0
if kind == 'list' then seeds = redis.call('LLEN', KEYS[5])
elseif kind == 'set' then seeds = redis.call('SCARD', KEYS[5])
elseif kind == 'zset' then seeds = redis.call('ZCARD', KEYS[5]) end
local stats = redis.call('HMGET', KEYS[6], 'enqueued', 'seen', 'done', 'items', 'queued')
local queued = tonumber(stats[5] or 0)
local leased = redis.call('HLEN', KEYS[4])
if redis.call('SET', KEYS[8], '1', 'NX', 'PX', math.floor(tonumber(ARGV[3]) * 1000)) then
  local more = {}
  for i = 1, 4 do more[i] = tonumber(ARGV[7 + i] or 0) end
  redis.call('LPUSH', KEYS[7], cjson.encode({
    t = now, queued = queued + more[1], leased = leased + more[2], seeds = seeds,
    seen = tonumber(stats[2] or 0) + more[3], done = tonumber(stats[3] or 0) + more[4],
    items = tonumber(stats[4] or 0)}))
  redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[4]) - 1)
end
local control = redis.call('GET', KEYS[9]) or ''
local latest = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
return {string.format('%.6f', now), queued, leased, seeds, stats[1] or '0', control,
        latest[2] or '-inf'}
