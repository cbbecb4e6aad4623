"""Settings of the "ours" variant: the project's settings, ``StatsDump`` and ``ours_spider``.

``crawl_speed.py`` runs ``scrapy crawl site`` with
``SCRAPY_SETTINGS_MODULE=benchmarks.ours_settings``. A ``-s EXTENSIONS=...`` on the
command line would replace the project's whole ``EXTENSIONS`` dict; this module
copies every upper-case setting of the project's settings module (``BENCH_BASE_SETTINGS``,
default ``settings`` as named by scrapy.cfg), adds one extension and one spider module.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

_base = importlib.import_module(os.environ.get("BENCH_BASE_SETTINGS", "settings"))
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

SPIDER_MODULES: list[str] = [*globals().get("SPIDER_MODULES", []), "benchmarks.ours_spider"]
EXTENSIONS: dict[str, Any] = {
    **dict(globals().get("EXTENSIONS") or {}),
    "benchmarks.statsdump.StatsDump": 500,
}
