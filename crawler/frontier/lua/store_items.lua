-- store_items: append items to the crawl's item stream, once per item key.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash   KEYS[3] stats hash
-- KEYS[3+i] item i's record bucket   ARGV[1], ARGV[2] the buckets' layout (item_records.lua)
-- ARGV[1+2i] item i's record field   ARGV[2+2i] item i as JSON
-- An item whose key is recorded already (a page fetched again after a crash), in its
-- bucket or in the earlier versions' hash, is skipped. A new record's value is the
-- item's stream id.
-- Returns {stored, duplicates}
local stored, dups = 0, 0
for i = 3, #ARGV, 2 do
  local bucket, field = KEYS[3 + (i - 1) / 2], ARGV[i]
  if redis.call('HEXISTS', bucket, field) == 1 or (legacy_records
      and redis.call('HEXISTS', KEYS[2], legacy_key(bucket, field)) == 1) then
    dups = dups + 1
  else
    local id = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i + 1])
    redis.call('HSET', bucket, field, id)
    stored = stored + 1
  end
end
if stored > 0 then redis.call('HINCRBY', KEYS[3], 'items', stored) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'item_duplicates', dups) end
return {stored, dups}
