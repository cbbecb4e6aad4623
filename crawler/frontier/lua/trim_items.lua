-- trim_items: delete from the item stream the items a durable store has committed.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash   KEYS[3] stats hash (not written)
-- KEYS[3+i] item i's record bucket   ARGV[1], ARGV[2] the buckets' layout (item_records.lua)
-- ARGV[2+i] item i's record field
-- Each item's record names its stream entry: the entry is deleted (XDEL) and the record
-- keeps only the key (an empty value), so the item still counts as stored. An item
-- recorded by an earlier version loses its entry and keeps its record.
-- Returns the number of stream entries deleted.
local ids = {}
for i = 3, #ARGV do
  local bucket, field = KEYS[1 + i], ARGV[i]
  local value = redis.call('HGET', bucket, field)
  if value and value ~= '' then
    ids[#ids + 1] = value
    redis.call('HSET', bucket, field, '')
  elseif not value and legacy_records then
    local old = redis.call('HGET', KEYS[2], legacy_key(bucket, field))
    if old then ids[#ids + 1] = old end
  end
end
local deleted = 0
for start = 1, #ids, 1000 do
  deleted = deleted + redis.call('XDEL', KEYS[1], unpack(ids, start, math.min(#ids, start + 999)))
end
return deleted
