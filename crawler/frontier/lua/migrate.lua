-- migrate: move up to ARGV[2] entries of a sorted set of earlier versions (the single
-- queue, or the retry set of entries that failed before) into the domain queues (atomic
-- per call, so nodes starting together cannot move one twice).
-- KEYS[1] the earlier sorted set of entries (lib.lua; a request's payload its JSON alone,
-- or "<domain> <JSON>")   KEYS[2] domains   KEYS[3] stats hash
-- ARGV[1] prefix of the domain queues   ARGV[2] how many entries to move
-- Returns how many entries moved (0: none left).
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[2]))
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
for i = 1, #popped, 2 do
  local entry = popped[i]
  local _, kind, d, payload = entry_fields(entry)
  if kind == 'r' and string.sub(payload, 1, 1) == '{' then  -- JSON alone: no domain
    local ok, request = pcall(cjson.decode, payload)
    if ok and type(request) == 'table' and type(request.url) == 'string' then
      local host = string.match(request.url, '^%a[%w+.-]*://([^/?#]*)') or ''
      host = string.gsub(host, '^.*@', '')
      if string.sub(host, 1, 1) == '[' then
        host = string.match(host, '^%[([^%]]*)%]') or ''
      else
        host = string.gsub(host, ':.*$', '')
      end
      d = string.gsub(string.lower(host), ' ', '%%20')
    end
    entry = entry_id(entry) .. request_body(d, payload)
  end
  redis.call('ZADD', ARGV[1] .. ':' .. d, popped[i + 1], entry)
  redis.call('ZADD', KEYS[2], 'NX', now, d)
end
if #popped > 0 then redis.call('HINCRBY', KEYS[3], 'queued', #popped / 2) end
return #popped / 2
