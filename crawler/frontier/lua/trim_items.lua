-- trim_items: delete from the item stream the items a durable store has committed.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash
-- ARGV[1..4] the items' records (item_records.lua)
-- Each item's record names its stream entry: the entry is deleted (XDEL) and the record
-- keeps only the key (an empty value), so the item still counts as stored. An item
-- recorded by an earlier version loses its entry and keeps its record.
-- Returns the number of stream entries deleted.
local ids = {}
for n = 0, #ARGV[3] / KEPT - 1 do
  local digest, bucket, field = item_record(n)
  local value = redis.call('HGET', bucket, field)
  if value and value ~= '' then
    ids[#ids + 1] = unpack_id(value)
    redis.call('HSET', bucket, field, '')
  elseif not value and legacy_records then
    local old = redis.call('HGET', KEYS[2], legacy_key(digest))
    if old then ids[#ids + 1] = old end
  end
end
local deleted = 0
for start = 1, #ids, 1000 do
  deleted = deleted + redis.call('XDEL', KEYS[1], unpack(ids, start, math.min(#ids, start + 999)))
end
return deleted
