-- trim_items: delete from the item stream the items a durable store has committed.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash
-- KEYS[2+i] the record bucket of item i (crawler/items/records.py)
-- ARGV[1] bytes of a digest its bucket stands for (the field is the rest)
-- ARGV[1+i] item i's 12-byte digest
-- Each item's record names its stream entry (packed as records.pack_id does): the entry is
-- deleted (XDEL) and the record keeps only the key (empty value), so the item is still
-- stored once. An item recorded by an earlier version loses its entry, keeps its record.
-- Returns the number of stream entries deleted.
local EPOCH_MS, SEQ_SPAN = 1735689600000, 4096
local offset = tonumber(ARGV[1])
local legacy = redis.call('EXISTS', KEYS[2]) == 1
local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function unpack_id(value)
  if string.find(value, '-', 1, true) then return value end
  local packed = tonumber(value)
  local seq = packed % SEQ_SPAN
  return string.format('%.0f-%d', (packed - seq) / SEQ_SPAN + EPOCH_MS, seq)
end
local ids = {}
for i = 2, #ARGV do
  local bucket, digest = KEYS[1 + i], ARGV[i]
  local field = string.sub(digest, offset + 1)
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
