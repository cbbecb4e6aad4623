"""``redis+cluster://`` and ``redis+sentinel://`` URLs: what they name, and one-line errors
that hide the password."""

from __future__ import annotations

import pytest

from crawler.errors import ConfigError
from crawler.redis.address import parse_topology, redact


def test_a_cluster_url_names_its_start_up_nodes() -> None:
    found = parse_topology("rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001/")
    assert found is not None
    assert (found.kind, found.nodes, found.tls) == (
        "cluster", (("10.0.0.1", 7000), ("::1", 7001)), True)
    assert (found.username, found.password) == ("app", "p@ss")


def test_a_sentinel_url_names_sentinels_service_and_database() -> None:
    found = parse_topology("redis+sentinel://:pw@s1:26379,s2:26380/mymaster/2"
                           "?sentinel_password=spw")
    assert found is not None
    assert (found.kind, found.nodes, found.service, found.db) == (
        "sentinel", (("s1", 26379), ("s2", 26380)), "mymaster", 2)
    assert (found.password, found.sentinel_password) == ("pw", "spw")


def test_other_urls_are_no_topology() -> None:
    assert parse_topology("redis://h:6379/0") is None
    assert parse_topology("unix:///tmp/redis.sock") is None


@pytest.mark.parametrize(("url", "says"), [
    ("redis+sentinel://:s3cret@s1:26379/", "must name the Sentinel service"),
    ("redis+sentinel://:s3cret@s1:x/mymaster", "'s1:x' is not HOST:PORT"),
    ("redis+cluster://:s3cret@h:7000/3", "database 0 only"),
    ("redis+cluster://:s3cret@/", "names no host:port"),
])
def test_a_bad_url_is_one_line_with_the_password_hidden(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_topology(url)
    assert says in str(error.value)
    assert "s3cret" not in str(error.value) and ":***@" in str(error.value)


def test_redact_hides_sentinel_passwords() -> None:
    assert redact("redis+sentinel://u:pw@s1:1,s2:2/m?sentinel_password=x") == \
        "redis+sentinel://u:***@s1:1,s2:2/m?sentinel_password=***"
