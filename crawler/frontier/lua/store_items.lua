-- store_items: append items to the crawl's item stream, once per item key.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash   KEYS[3] stats hash
-- ARGV[1..4] the items' records (item_records.lua)   ARGV[4+i] item i as JSON
-- An item whose key is recorded already (a page fetched again after a crash), in its
-- bucket or in the earlier versions' hash, is skipped. A new record's value is the
-- item's stream id, packed.
-- Returns {stored, duplicates}
local stored, dups = 0, 0
for i = 5, #ARGV do
  local digest, bucket, field = item_record(i - 5)
  if redis.call('HEXISTS', bucket, field) == 1
      or (legacy_records and redis.call('HEXISTS', KEYS[2], legacy_key(digest)) == 1) then
    dups = dups + 1
  else
    local id = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i])
    redis.call('HSET', bucket, field, pack_id(id))
    stored = stored + 1
  end
end
if stored > 0 then redis.call('HINCRBY', KEYS[3], 'items', stored) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'item_duplicates', dups) end
return {stored, dups}
