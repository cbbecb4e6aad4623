-- trim_items: delete from the item stream the items a durable store has committed.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash
-- ARGV[1] prefix of the record buckets (crawler/items/records.py), in the crawl's hash tag
-- ARGV[2] bucket bits   ARGV[3] the items' 12-byte digests, packed
-- ARGV[4] the items' bucket names less the prefix (hex, bits/4 characters each), packed
-- Buckets are named as in store_items.lua. Each item's record names its stream entry
-- (packed as records.pack_id does): the entry is deleted (XDEL) and the record keeps only
-- the key (an empty value), so the item still counts as stored. An item recorded by an
-- earlier version loses its entry and keeps its record.
-- Returns the number of stream entries deleted.
local EPOCH_MS, SEQ_SPAN, KEPT = 1735689600000, 4096, 12
local prefix, bits, digests = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local digits, offset = bits / 4, math.floor(bits / 8)
local names = ARGV[4]
local legacy = redis.call('EXISTS', KEYS[2]) == 1
local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function bucket_of(n)  -- item n's bucket (from 0)
  if digits == 0 then return prefix .. 'all' end
  return prefix .. string.sub(names, n * digits + 1, (n + 1) * digits)
end
local function unpack_id(value)
  if string.find(value, '-', 1, true) then return value end
  local packed = tonumber(value)
  local seq = packed % SEQ_SPAN
  return string.format('%.0f-%d', (packed - seq) / SEQ_SPAN + EPOCH_MS, seq)
end
local ids = {}
for n = 0, #digests / KEPT - 1 do
  local digest = string.sub(digests, n * KEPT + 1, (n + 1) * KEPT)
  local bucket, field = bucket_of(n), string.sub(digest, offset + 1)
  local value = redis.call('HGET', bucket, field)
  if value and value ~= '' then
    ids[#ids + 1] = unpack_id(value)
    redis.call('HSET', bucket, field, '')
  elseif not value and legacy then
    local old = redis.call('HGET', KEYS[2], hex(digest))
    if old then ids[#ids + 1] = old end
  end
end
local deleted = 0
for start = 1, #ids, 1000 do
  deleted = deleted + redis.call('XDEL', KEYS[1], unpack(ids, start, math.min(#ids, start + 999)))
end
return deleted
