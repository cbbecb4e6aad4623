"""Which partition a domain belongs to is a contract between every node of a crawl: pin it."""

from __future__ import annotations

import pytest

from crawler.frontier.partitions import checked, default_count, partition_of


def test_a_domain_partition_is_crc32_modulo_the_count() -> None:
    # zlib.crc32(b"example.com") == 0xb6fa4eb9 (Frontera's rule; any crc32 agrees)
    assert partition_of("example.com", 16) == 0xB6FA4EB9 % 16
    assert partition_of("example.com", 1) == 0
    spread = {partition_of(f"host{i}.example", 8) for i in range(200)}
    assert spread == set(range(8))


def test_default_is_one_on_a_single_redis_and_sixteen_a_master_on_a_cluster() -> None:
    assert default_count(0) == 1
    assert default_count(1) == 16
    assert default_count(3) == 64
    assert default_count(4) == 64


@pytest.mark.parametrize("value", [3, -1, 8192, "many", None])
def test_a_count_that_is_not_a_power_of_two_is_refused_naming_the_setting(value: object) -> None:
    refused = r"^SCHEDULER_PARTITIONS=.* must be 0 \(the default\) or a power of two"
    with pytest.raises(ValueError, match=refused):
        checked(value, "SCHEDULER_PARTITIONS")


def test_zero_and_powers_of_two_are_accepted() -> None:
    assert [checked(v, "S") for v in (0, 1, "2", 64, 4096)] == [0, 1, 2, 64, 4096]


def test_bucket_names_of_whole_hex_digits_are_what_they_were() -> None:
    from crawler.frontier.fingerprints import bucket_name
    digest = bytes.fromhex("0a1b2c3d") + bytes(16)
    assert [bucket_name(digest, bits) for bits in (0, 4, 8, 12, 16, 20)] == [
        "all", "0", "0a", "0a1", "0a1b", "0a1b2"]
    # partitions take log2(count) bits: the rest still names distinct buckets
    assert bucket_name(digest, 10) == f"{0x0a1b >> 6:03x}"
    assert len({bucket_name(bytes([b]) + bytes(19), 6) for b in range(256)}) == 64


def test_each_partition_keeps_its_share_of_the_buckets_or_the_bloom_capacity() -> None:
    from crawler.frontier.fingerprints import BloomLayout, ExactLayout, describe, layout_from_json
    from crawler.redis.keys import CrawlKeys
    keys = CrawlKeys("crawl", "books").in_partition(5)
    exact = layout_from_json(keys, describe("exact", 16, 0, 0), 0, 64)
    assert exact == ExactLayout(keys, 10)
    bucket, field = exact.locate(b"\xff\xc0" + bytes(18))
    assert (bucket, field) == ("crawl:{books/5}:seen:3ff", b"\xc0" + bytes(10))
    bloom = layout_from_json(keys, describe("bloom", 16, 6_400_000, 32), 0, 64)
    assert bloom == BloomLayout(keys, 100_000, 32)
