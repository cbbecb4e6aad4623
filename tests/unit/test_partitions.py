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
