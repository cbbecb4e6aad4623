"""Reading politeness settings, and which domain a request counts for."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.settings import Settings
from scrapy.utils.httpobj import urlparse_cached

from crawler.errors import ConfigError
from crawler.frontier.limits import DomainLimits, domain_of
from crawler.node.config import FrontierConfig


def politeness(**settings: object) -> object:
    return FrontierConfig.from_settings(Settings(settings)).politeness


def test_rates_concurrency_and_overrides_are_read_from_settings() -> None:
    rules = politeness(DOMAIN_RATE="10/60", DOMAIN_CONCURRENCY="4", ROBOTSTXT_OBEY=True,
                       DOMAIN_LIMITS='{"Slow.Example": {"rate": "1 / 5s"}}')
    assert rules.default == DomainLimits(4, 6.0)
    assert rules.overrides == (("slow.example", DomainLimits(4, 5.0)),)
    assert rules.robots is True
    assert politeness().default == DomainLimits(0, 0.0)  # off unless asked for
    assert politeness().robots_max_delay == 60.0
    assert politeness(ROBOTSTXT_MAX_DELAY="2.5").robots_max_delay == 2.5


@pytest.mark.parametrize(("settings", "message"), [
    ({"DOMAIN_RATE": "fast"}, "setting DOMAIN_RATE='fast' is not a rate like '10/60'"),
    ({"DOMAIN_RATE": "0/10"}, "setting DOMAIN_RATE='0/10' is not a rate"),
    ({"DOMAIN_CONCURRENCY": "-1"}, "setting DOMAIN_CONCURRENCY=-1 must be 0 (no cap) or more"),
    ({"DOMAIN_LIMITS": "{bad"}, "setting DOMAIN_LIMITS='{bad' is not JSON"),
    ({"DOMAIN_LIMITS": {"a.example": {"burst": 3}}},
     "setting DOMAIN_LIMITS['a.example']={'burst': 3} must be"),
    ({"DOMAIN_LIMITS": {"a.example": {"concurrency": "x"}}},
     "setting DOMAIN_LIMITS['a.example']['concurrency']='x' is not a whole number"),
    ({"ROBOTSTXT_MAX_DELAY": "never"}, "setting ROBOTSTXT_MAX_DELAY='never' is not a number"),
])
def test_a_bad_value_names_the_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        politeness(**settings)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("url", [
    "http://Example.COM/a", "https://x.org:8443?q=1", "http://u:p@h.com:1/x",
    "http://[::1]:80/", "https://a.b#f", "file:///etc/hosts", "http://127.0.0.2:555/p?id=1",
    "data:text/plain,hi", "about:blank",
])
def test_the_domain_is_the_host_name_as_urlparse_reads_it(url: str) -> None:
    request = Request(url)
    assert domain_of(request) == (urlparse_cached(request).hostname or "").lower()
