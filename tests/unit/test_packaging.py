"""``pip install .`` installs only the engine's namespace: the repository's ``settings``,
``spiders`` and ``pipelines`` are the bundled Scrapy project, not site-packages material."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

# setuptools' own reading of pyproject.toml: the package list a wheel is built from.
PACKAGES = """
import json, warnings
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution
warnings.simplefilter("ignore")
dist = apply_configuration(Distribution(), "pyproject.toml")
print(json.dumps({"packages": dist.packages, "data": dist.package_data}))
"""


def test_only_the_crawler_namespace_is_installed() -> None:
    shown = subprocess.run([sys.executable, "-c", PACKAGES], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, check=True)
    found = json.loads(shown.stdout)
    assert found["packages"], shown.stderr
    assert [p for p in found["packages"] if p.split(".")[0] != "crawler"] == []
    assert {"crawler", "crawler.redis", "crawler.frontier", "crawler.node", "crawler.items",
            "crawler.ops", "crawler.pipelines", "crawler.commands", "crawler.commands.demo",
            "crawler.dashboard"} <= set(found["packages"])
    assert found["data"]["crawler.frontier"] == ["lua/*.lua"]


def test_the_documented_pipeline_paths_still_import() -> None:
    from crawler.pipelines.postgres import PostgresPipeline
    from crawler.pipelines.redis_store import RedisItemStorePipeline
    from pipelines.postgres import PostgresPipeline as KeptPostgres
    from pipelines.redis_store import RedisItemStorePipeline as KeptStore

    assert (KeptStore, KeptPostgres) == (RedisItemStorePipeline, PostgresPipeline)
