"""The line a node logs when Redis fails a round: a slot moving between cluster masters
is named as such, not as a refused batch."""

from __future__ import annotations

import logging

import pytest
import redis
from scrapy import Spider
from scrapy.utils.test import get_crawler

from crawler.node.outage import Outage

URL = "redis://:s3cret@10.0.0.5:7000/0"


@pytest.mark.parametrize("error", [
    redis.exceptions.ClusterError("TTL exhausted."),
    redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"),
    redis.exceptions.AskError("9421 127.0.0.1:7001"),
    redis.exceptions.ResponseError("Script attempted to access a non local key in a "
                                   "cluster node script: 1f0e, on @user_script:1."),
], ids=["ttl", "tryagain", "ask", "script"])
def test_a_moving_slot_is_named_and_the_round_goes_again(
        error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Outage(URL, get_crawler(Spider).stats).failed(error)
    assert "Redis at redis://:***@10.0.0.5:7000/0: a slot of the crawl is moving between " \
           "cluster masters" in caplog.text
    assert "the round will be sent again, nothing is dropped" in caplog.text
    assert "refused a batch" not in caplog.text and "s3cret" not in caplog.text


def test_a_refused_batch_is_still_called_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Outage(URL, get_crawler(Spider).stats).failed(
            redis.exceptions.OutOfMemoryError("command not allowed when used memory > "
                                              "'maxmemory'."))
    assert "refused a batch: command not allowed" in caplog.text
    assert "moving" not in caplog.text
