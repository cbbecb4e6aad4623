-- store_items: append items to the crawl's item stream, once per item key.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash   KEYS[3] stats hash
-- KEYS[3+i] the record bucket of item i (crawler/items/records.py)
-- ARGV[1] bytes of a digest its bucket stands for (the field is the rest)
-- ARGV[2i], ARGV[2i+1]: item i's 12-byte digest, the item as JSON
-- An item whose key is recorded already (a page fetched again after a crash), in its
-- bucket or in the earlier versions' hash, is skipped. A new record's value is the stream
-- id, packed as records.pack_id does.
-- Returns {stored, duplicates}
local EPOCH_MS, SEQ_SPAN = 1735689600000, 4096
local offset = tonumber(ARGV[1])
local legacy = redis.call('EXISTS', KEYS[2]) == 1
local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function pack(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms) - EPOCH_MS, tonumber(seq)
  if ms >= 0 and ms < 2 ^ 41 and seq < SEQ_SPAN then
    return string.format('%.0f', ms * SEQ_SPAN + seq)
  end
  return id
end
local stored, dups = 0, 0
for i = 2, #ARGV, 2 do
  local bucket, digest = KEYS[3 + i / 2], ARGV[i]
  local field = string.sub(digest, offset + 1)
  if redis.call('HEXISTS', bucket, field) == 1
      or (legacy and redis.call('HEXISTS', KEYS[2], hex(digest)) == 1) then
    dups = dups + 1
  else
    local id = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i + 1])
    redis.call('HSET', bucket, field, pack(id))
    stored = stored + 1
  end
end
if stored > 0 then redis.call('HINCRBY', KEYS[3], 'items', stored) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'item_duplicates', dups) end
return {stored, dups}
