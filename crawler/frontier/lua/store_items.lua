-- store_items: append items to the crawl's item stream, once per item key.
-- KEYS[1] items stream   KEYS[2] earlier versions' item_keys hash   KEYS[3] stats hash
-- ARGV[1] prefix of the record buckets (crawler/items/records.py), in the crawl's hash tag
-- ARGV[2] bucket bits   ARGV[3] the items' 12-byte digests, packed
-- ARGV[4] the items' bucket names less the prefix (hex, bits/4 characters each), packed
-- ARGV[4+i] item i as JSON
-- An item's record is a field of its bucket, named here like the domain queues: the
-- prefix and the first bucket-bits of its digest in hex (so, in the crawl's one slot),
-- as records.ItemRecords.bucket names it.
-- An item whose key is recorded already (a page fetched again after a crash), in its
-- bucket or in the earlier versions' hash, is skipped. A new record's value is the stream
-- id, packed as records.pack_id does.
-- Returns {stored, duplicates}
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
local function pack(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms) - EPOCH_MS, tonumber(seq)
  if ms >= 0 and ms < 2 ^ 41 and seq < SEQ_SPAN then
    return string.format('%.0f', ms * SEQ_SPAN + seq)
  end
  return id
end
local stored, dups = 0, 0
for i = 5, #ARGV do
  local digest = string.sub(digests, (i - 5) * KEPT + 1, (i - 4) * KEPT)
  local bucket, field = bucket_of(i - 5), string.sub(digest, offset + 1)
  if redis.call('HEXISTS', bucket, field) == 1
      or (legacy and redis.call('HEXISTS', KEYS[2], hex(digest)) == 1) then
    dups = dups + 1
  else
    local id = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i])
    redis.call('HSET', bucket, field, pack(id))
    stored = stored + 1
  end
end
if stored > 0 then redis.call('HINCRBY', KEYS[3], 'items', stored) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'item_duplicates', dups) end
return {stored, dups}
