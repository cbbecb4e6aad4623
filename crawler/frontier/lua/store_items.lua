-- store_items: append items to the crawl's item stream, once per item key.
-- KEYS[1] items stream   KEYS[2] item_keys hash   KEYS[3] stats hash
-- ARGV[2i-1], ARGV[2i]: item key, item as JSON
-- An item whose key is stored already (a page fetched again after a crash) is skipped.
-- Returns {stored, duplicates}
local stored, dups = 0, 0
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    dups = dups + 1
  else
    local id = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i + 1])
    redis.call('HSET', KEYS[2], ARGV[i], id)
    stored = stored + 1
  end
end
if stored > 0 then redis.call('HINCRBY', KEYS[3], 'items', stored) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'item_duplicates', dups) end
return {stored, dups}
