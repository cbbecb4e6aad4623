"""A password in a Redis URL, as ``user:pass@`` or ``?password=``, is hidden by ``redact`` and
in the settings' ``repr``."""

from __future__ import annotations

import pprint

import pytest

from crawler.redis.connection import SecretURL, redact


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://h:6380/0?password=pw&db=2", "redis://h:6380/0?password=***&db=2"),
    ("redis://u:pw@[::1]:6380/0", "redis://u:***@[::1]:6380/0"),
    ("rediss://:pw@h/0?Password=pw", "rediss://:***@h/0?Password=***"),
    ("unix:///run/r.sock?password=pw", "unix:///run/r.sock?password=***"),
    ("unix:///run/r.sock", "unix:///run/r.sock"),
    ("redis://h/0", "redis://h/0"),
])
def test_redact_hides_both_kinds_of_password_and_keeps_the_host(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert repr(SecretURL(url)) == repr(shown)


def test_settings_with_a_url_without_password_print() -> None:
    assert pprint.pformat({"REDIS_URL": SecretURL("redis://h/0")}) == "{'REDIS_URL': 'redis://h/0'}"
