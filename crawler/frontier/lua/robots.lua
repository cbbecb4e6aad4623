-- robots: record the robots.txt delays nodes read (a delay never lowers one another node
-- read), and pace each domain that waited for its robots.txt from now: its first request
-- was handed out before and goes out only now.
-- KEYS[1] robots hash (domain -> Crawl-delay seconds)   KEYS[2] pace hash (see pop.lua)
-- ARGV: domain, delay, domain, delay, ...
-- Returns the number of domains recorded.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
for i = 1, #ARGV, 2 do
  local d, delay = ARGV[i], tonumber(ARGV[i + 1])
  if delay > tonumber(redis.call('HGET', KEYS[1], d) or -1) then
    redis.call('HSET', KEYS[1], d, delay)
  end
  local latest = redis.call('HGET', KEYS[2], d)
  if latest and tonumber(latest) < now then redis.call('HSET', KEYS[2], d, now) end
end
return #ARGV / 2
