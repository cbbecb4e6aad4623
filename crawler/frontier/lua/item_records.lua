-- item_records: helpers the item scripts start with (scripts.py puts this text after
-- lib.lua). Their record layout is defined in crawler/items/records.py, mirrored here:
-- ARGV[1] prefix of the record buckets, in the crawl's hash tag   ARGV[2] bucket bits
-- ARGV[3] the items' 12-byte digests, packed
-- ARGV[4] their buckets' names less the prefix (hex, bits/4 characters each), packed
-- KEYS[2] is the earlier versions' item_keys hash (hex key -> stream id).
-- Buckets are named here like the domain queues (prefix + name: the crawl's one slot).
local EPOCH_MS, SEQ_SPAN, KEPT = 1735689600000, 4096, 12
local record_prefix, record_digits = ARGV[1], tonumber(ARGV[2]) / 4
local record_offset = math.floor(tonumber(ARGV[2]) / 8)
local legacy_records = redis.call('EXISTS', KEYS[2]) == 1

-- Item n's (from 0) digest, bucket key and field.
local function item_record(n)
  local digest = string.sub(ARGV[3], n * KEPT + 1, (n + 1) * KEPT)
  local bucket = record_prefix .. (record_digits == 0 and 'all'
    or string.sub(ARGV[4], n * record_digits + 1, (n + 1) * record_digits))
  return digest, bucket, string.sub(digest, record_offset + 1)
end

-- The earlier versions' key of a digest: its hex.
local function legacy_key(digest)
  return (string.gsub(digest, '.', function(c) return string.format('%02x', string.byte(c)) end))
end

-- records.pack_id: a stream id as one integer (53 bits), else the id itself.
local function pack_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms) - EPOCH_MS, tonumber(seq)
  if ms >= 0 and ms < 2 ^ 41 and seq < SEQ_SPAN then
    return string.format('%.0f', ms * SEQ_SPAN + seq)
  end
  return id
end

-- records.unpack_id: the stream id a non-empty record value names.
local function unpack_id(value)
  if string.find(value, '-', 1, true) then return value end
  local packed = tonumber(value)
  local seq = packed % SEQ_SPAN
  return string.format('%.0f-%d', (packed - seq) / SEQ_SPAN + EPOCH_MS, seq)
end
