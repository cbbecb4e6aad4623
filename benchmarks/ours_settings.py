"""Settings module for the "ours" variant: the project's settings plus ``StatsDump``.

``crawl_speed.py`` runs ``scrapy crawl site`` with
``SCRAPY_SETTINGS_MODULE=benchmarks.ours_settings``. A ``-s EXTENSIONS=...`` on the
command line would replace the project's whole ``EXTENSIONS`` dict; this module
copies every upper-case setting of the project's settings module (``BENCH_BASE_SETTINGS``,
default ``settings`` as named by scrapy.cfg) and only adds one extension.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

_base = importlib.import_module(os.environ.get("BENCH_BASE_SETTINGS", "settings"))
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

EXTENSIONS: dict[str, Any] = {
    **dict(globals().get("EXTENSIONS") or {}),
    "benchmarks.statsdump.StatsDump": 500,
}
