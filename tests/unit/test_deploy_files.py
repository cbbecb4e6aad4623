"""The deploy files name the real entry points and settings.

No Docker engine (nor Kubernetes, nor systemd as PID 1) runs where these tests run, so the
image, the Compose file, the manifests and the unit are validated by parsing them, not by
building the image or starting anything: each test reads a file and checks it against the
code (the spider, the settings the project reads, the commands its Lua scripts call), so
that renaming one of those breaks a test here instead of a deployment.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from scrapy.settings import Settings, default_settings
from scrapy.spiderloader import get_spider_loader

from crawler.config import DEFAULTS
from crawler.environment import ENVIRONMENT as _FROM_ENV
from crawler.node.closing import CLOSE_RETRY_SECONDS
from crawler.redis.address import parse_topology
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
# Variables the image and the unit set for Python and pip, not for the crawler.
NOT_SETTINGS = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_NO_CACHE_DIR",
                "PIP_DISABLE_PIP_VERSION_CHECK"}
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.cluster.yml",
                 "docker-compose.sentinel.yml")
# A node retries reaching Redis this long when it closes: a grace period must cover it.
MIN_GRACE_SECONDS = max(30.0, CLOSE_RETRY_SECONDS)


# -- parsers ---------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, ``(INSTRUCTION, arguments)``, continuations joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not (stripped or current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        name, _, arguments = (current + stripped).partition(" ")
        instructions.append((name.upper(), arguments.strip()))
        current = ""
    return instructions


def instruction(name: str) -> list[str]:
    return [arguments for found, arguments in dockerfile() if found == name]


def image_command() -> list[str]:
    """The image's CMD, which must be in exec form (a JSON list): in shell form the
    container's first process is ``/bin/sh``, and STOPSIGNAL would not reach Scrapy."""
    (cmd,) = instruction("CMD")
    try:
        parsed = json.loads(cmd)
    except ValueError:
        parsed = None
    assert isinstance(parsed, list), f"CMD {cmd} is not in exec form"
    return [str(arg) for arg in parsed]


def image_uid() -> int:
    (user,) = instruction("USER")
    return int(user.split(":")[0])


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether a .dockerignore with ``patterns`` keeps ``path`` out of the build context
    (the last matching pattern wins; a pattern also matches everything under a folder)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            result = not negated
    return result


def compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return loaded


def manifests(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if doc]


def deployment() -> dict[str, Any]:
    (found,) = [doc for doc in manifests("worker.yaml") if doc["kind"] == "Deployment"]
    return found


def worker_container() -> dict[str, Any]:
    (container,) = deployment()["spec"]["template"]["spec"]["containers"]
    return dict(container)


def unit() -> dict[str, list[str]]:
    """The systemd unit's ``Key=value`` lines (of every section), values in order."""
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / "crawler@.service").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, _, value in pairs}


def seconds(duration: str | int) -> float:
    """A Compose or systemd duration (``60``, ``60s``, ``1m30s``, ``2min``) in seconds."""
    text = str(duration).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"h": 3600, "min": 60, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|min|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text.replace(" ", ""), text
    return sum(float(n) * units[u] for n, u in parts)


def interpolated(value: Any) -> str:
    """A Compose value with ``${NAME:-default}`` replaced by its default."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m[1] or "", str(value))


# -- the image -------------------------------------------------------------------------
def test_the_image_runs_a_node_of_the_site_crawl() -> None:
    assert image_command() == ["scrapy", "crawl", "site"]
    assert "site" in get_spider_loader(Settings({"SPIDER_MODULES": ["spiders"]})).list()
    assert instruction("ENTRYPOINT") == [], "an ENTRYPOINT would swallow `run worker scrapy …`"


def test_the_image_stops_gracefully_as_a_non_root_user() -> None:
    assert instruction("STOPSIGNAL") == ["SIGINT"]
    assert image_uid() != 0, "numeric and not root, so that runAsNonRoot can check it"


def test_the_image_installs_the_repository_with_pip() -> None:
    names = [name for name, _ in dockerfile()]
    (base,) = instruction("FROM")
    found = re.match(r"python:(\d+)\.(\d+)", base)
    assert found is not None, base
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = re.fullmatch(r">=\s*(\d+)\.(\d+)", project["requires-python"])
    assert wanted is not None
    assert (int(found[1]), int(found[2])) >= (int(wanted[1]), int(wanted[2]))
    assert "COPY . ." in [f"COPY {args}" for args in instruction("COPY")]
    installs = [i for i, (name, args) in enumerate(dockerfile())
                if name == "RUN" and re.search(r"\bpip install (\S+ )*\.(\s|$)", args)]
    assert installs, "no `pip install .`"
    assert names.index("WORKDIR") < names.index("COPY") < installs[0]


@pytest.mark.parametrize("path", [
    "scrapy.cfg", "pyproject.toml", "crawler/node/scheduler.py", "crawler/frontier/lua/push.lua",
    "spiders/site.py", "settings/__init__.py", "pipelines/redis_store.py",
])
def test_the_build_context_keeps_what_the_image_needs(path: str) -> None:
    assert (ROOT / path).exists()
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not ignored(path, patterns)
    assert ignored(".git/config", patterns) and ignored(".crawler-data/redis/x", patterns)


# -- Docker Compose ----------------------------------------------------------------------
def test_compose_workers_build_the_image_and_wait_for_a_healthy_redis() -> None:
    worker = compose()["services"]["worker"]
    assert (DEPLOY / worker["build"]["context"]).resolve() == ROOT
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert worker.get("command", image_command()) == image_command()
    url = worker["environment"]["REDIS_URL"]
    assert re.fullmatch(r"redis://redis:6379/\d+", url), url
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in compose()["services"]["redis"]


def test_compose_workers_scale_and_stop_gracefully() -> None:
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale would clash"
    assert seconds(worker["stop_grace_period"]) >= MIN_GRACE_SECONDS
    assert worker.get("stop_signal", "SIGINT") == "SIGINT"


def test_compose_redis_is_append_only_on_a_volume() -> None:
    spec = compose()
    redis = spec["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    volume, _, mount = redis["volumes"][0].partition(":")
    assert mount == "/data" and volume in spec["volumes"]


@pytest.mark.parametrize(("name", "kind"), [("docker-compose.cluster.yml", "cluster"),
                                           ("docker-compose.sentinel.yml", "sentinel")])
def test_compose_cluster_and_sentinel_workers_name_their_redis(name: str, kind: str) -> None:
    spec = compose(name)
    worker = spec["services"]["worker"]
    assert worker["build"] == compose()["services"]["worker"]["build"]
    assert seconds(worker["stop_grace_period"]) >= MIN_GRACE_SECONDS
    topology = parse_topology(worker["environment"]["REDIS_URL"])
    assert topology is not None and topology.kind == kind
    for host, _ in topology.nodes:
        assert host in spec["services"], f"{name}: REDIS_URL names {host}, no service"
    for service, found in spec["services"].items():
        if service.startswith("redis-"):
            command = found["command"]
            assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
            assert command[command.index("--appendonly") + 1] == "yes"


def test_the_cluster_is_created_before_the_workers_start() -> None:
    spec = compose("docker-compose.cluster.yml")
    (script,) = spec["services"]["cluster-create"]["command"]
    assert "--cluster create" in script and "--cluster-replicas 1" in script
    nodes = [s for s in spec["services"] if s.startswith("redis-")]
    assert len(nodes) == 6 and all(f"redis-{n}" in nodes for n in range(1, 7))
    assert spec["services"]["worker"]["depends_on"]["cluster-create"]["condition"] == \
        "service_completed_successfully"


def test_the_sentinels_watch_the_master_the_compose_file_starts() -> None:
    spec = compose("docker-compose.sentinel.yml")
    (script,) = spec["services"]["sentinel-1"]["command"]
    monitor = re.search(r"sentinel monitor (\S+) (\S+) (\d+) (\d+)", script)
    assert monitor is not None
    topology = parse_topology(spec["services"]["worker"]["environment"]["REDIS_URL"])
    assert topology is not None and topology.service == monitor[1]
    assert monitor[2] in spec["services"]
    sentinels = [s for s in spec["services"] if s.startswith("sentinel-")]
    assert int(monitor[4]) <= len(sentinels) // 2 + 1, "a quorum the Sentinels can reach"


# -- Kubernetes ----------------------------------------------------------------------------
def test_k8s_workers_run_the_image_command_with_time_to_stop() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= MIN_GRACE_SECONDS
    container = worker_container()
    # No ENTRYPOINT in the image: `command` replaces it, `args` the CMD.
    argv = container.get("command", []) + container.get("args", [])
    assert (argv or image_command()) == image_command()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid()
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert deployment()["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_k8s_workers_take_redis_url_from_the_secret() -> None:
    (url,) = [e for e in worker_container()["env"] if e["name"] == "REDIS_URL"]
    ref = url["valueFrom"]["secretKeyRef"]
    (secret,) = manifests("secret.example.yaml")
    assert secret["kind"] == "Secret" and ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]


def test_yaml_in_the_deploy_docs_parses() -> None:
    blocks = [block for doc in DEPLOY.rglob("*.md")
              for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)]
    assert blocks
    for block in blocks:
        assert [doc for doc in yaml.safe_load_all(block) if doc]


# -- systemd --------------------------------------------------------------------------------
def test_the_systemd_unit_runs_a_node_and_stops_it_gracefully() -> None:
    service = unit()
    (start,) = service["ExecStart"]
    program, *args = shlex.split(start)
    assert args == ["crawl", "%i"]
    (folder,) = service["WorkingDirectory"]
    assert program == f"{folder}/.venv/bin/scrapy"
    assert service["KillSignal"] == ["SIGINT"]
    (stop,) = service["TimeoutStopSec"]
    assert seconds(stop) >= MIN_GRACE_SECONDS
    assert service["Restart"] == ["on-failure"]
    assert service["EnvironmentFile"] == ["/etc/crawler/env"]


# -- settings given in the environment ----------------------------------------------------------
def environments() -> dict[str, dict[str, str]]:
    """What each deploy file puts in a node's environment, by file."""
    k8s = {e["name"]: str(e.get("value", "")) for e in worker_container()["env"]}
    image = {}
    for env in instruction("ENV"):
        image.update(pair.partition("=")[::2] for pair in shlex.split(env))
    service = dict(pair.partition("=")[::2] for value in unit().get("Environment", [])
                   for pair in shlex.split(value))
    return {
        "Dockerfile": image,
        **{name: {k: interpolated(v) for k, v in
                  compose(name)["services"]["worker"]["environment"].items()}
           for name in COMPOSE_FILES},
        "k8s/worker.yaml": k8s,
        "systemd/crawler@.service": service,
        "systemd/env.example": env_file(DEPLOY / "systemd" / "env.example"),
    }


def test_every_setting_in_the_environment_is_one_the_project_reads() -> None:
    for where, env in environments().items():
        for name, value in env.items():
            if name in NOT_SETTINGS:
                continue
            assert name in _FROM_ENV, (
                f"deploy/{where} sets {name}, which crawler/environment.py does not read "
                "from the environment")
            assert name in DEFAULTS or hasattr(default_settings, name), (
                f"deploy/{where} sets {name}, which is no setting of the engine or Scrapy")
            if value:  # a value from a Secret is not in the file
                _FROM_ENV[name](value)


def test_the_settings_read_from_the_environment_exist() -> None:
    unknown = [n for n in _FROM_ENV if n not in DEFAULTS and not hasattr(default_settings, n)]
    assert unknown == []


# -- the Redis ACL ------------------------------------------------------------------------------
def acl_rules() -> list[str]:
    (line,) = [line for line in (DEPLOY / "redis-acl.conf").read_text().splitlines()
               if line.startswith("user crawler ")]
    return line.split()[2:]


def test_the_acl_command_list_parses() -> None:
    rules = acl_rules()
    commands = [rule for rule in rules if rule[0] in "+-"]
    assert commands[0] == "-@all", "start from nothing, then allow"
    for rule in commands[1:]:
        assert re.fullmatch(r"\+[a-z]+(\|[a-z]+)?", rule), f"not +cmd or +cmd|sub: {rule}"
    others = [rule for rule in rules if rule[0] not in "+-"]
    for rule in others:
        assert re.fullmatch(r"on|off|>\S+|(%R|%W|%RW)?~\S+|&\S+|resetchannels", rule), rule
    assert "on" in others and ">CHANGE-ME" in others, "a placeholder password, not nopass"
    assert f"~{DEFAULTS['REDIS_KEY_PREFIX']}:*" in others, "the crawl keys' pattern"


def test_the_acl_allows_every_command_the_lua_scripts_call() -> None:
    allowed = {rule[1:] for rule in acl_rules() if rule.startswith("+")}
    lua = ROOT / "crawler" / "frontier" / "lua"
    called = {name.lower(): script.name for script in lua.glob("*.lua")
              for name in re.findall(r"redis\.p?call\(\s*'(\w+)'", script.read_text())}
    assert called, "no redis.call found in crawler/frontier/lua"
    missing = {name: script for name, script in called.items() if name not in allowed}
    assert missing == {}, f"deploy/redis-acl.conf lacks these commands: {missing}"


def test_the_acl_allows_what_a_cluster_or_sentinel_client_sends() -> None:
    allowed = {rule[1:] for rule in acl_rules() if rule.startswith("+")}
    # detection (INFO), WAIT, the slot map, key specs, the seed mover
    needed = {"info", "wait", "cluster|slots", "command", "lrem", "srem", "srandmember", "del"}
    assert needed <= allowed, f"deploy/redis-acl.conf lacks {sorted(needed - allowed)}"


def test_the_acl_file_switches_the_default_user_off() -> None:
    lines = (DEPLOY / "redis-acl.conf").read_text().splitlines()
    assert "user default off" in lines, "an ACL file alone leaves the default user open"
