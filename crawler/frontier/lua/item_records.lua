-- item_records: helpers the item scripts start with (scripts.py puts this text after
-- lib.lua). Their record layout is defined in crawler/items/records.py, mirrored here:
-- an item's record is field <digest less the bytes its bucket stands for> of the hash
-- KEYS[3+i] (its bucket, <prefix><first bucket-bits of the digest in hex>).
-- ARGV[1] hex digits of a bucket's name   ARGV[2] of those, the ones that are whole
-- bytes of the digest (the field starts after them)
-- KEYS[2] is the earlier versions' item_keys hash (the digest in hex -> stream id).
local bucket_digits, bucket_bytes_hex = tonumber(ARGV[1]), tonumber(ARGV[2])
local legacy_records = redis.call('EXISTS', KEYS[2]) == 1

-- The earlier versions' key of the item recorded as `field` in `bucket`: its digest in hex.
local function legacy_key(bucket, field)
  local from = #bucket - bucket_digits + 1
  return string.sub(bucket, from, from + bucket_bytes_hex - 1) .. (string.gsub(field, '.',
    function(c) return string.format('%02x', string.byte(c)) end))
end
