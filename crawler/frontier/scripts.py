"""The frontier's Lua scripts (``crawler/frontier/lua/*.lua``), queued by SHA on a pipeline.

Scripts are sent with ``EVALSHA`` inside the caller's pipeline, so that one round trip
carries several of them. ``load`` puts them in the server's cache; after a restart or a
``SCRIPT FLUSH`` a call fails with ``NoScriptError`` and the caller loads and retries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

LUA_DIR = Path(__file__).with_name("lua")


@dataclass(frozen=True)
class Script:
    """One Lua script: its text and SHA1."""

    name: str
    text: str

    @property
    def sha(self) -> str:
        """The SHA1 that ``EVALSHA`` names the script by."""
        return hashlib.sha1(self.text.encode()).hexdigest()

    def queue(self, pipe: Any, keys: list[str], args: list[Any]) -> None:
        """Queue a call of this script on ``pipe`` (a pipeline)."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    async def run(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        """Run the script alone on an asyncio client, loading it if the server lost it."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            await client.script_load(self.text)
            return await client.evalsha(self.sha, len(keys), *keys, *args)


def _read(name: str, *helpers: str) -> Script:
    """The script ``lua/<name>.lua``, after the helpers of ``lua/lib.lua`` and ``helpers``."""
    parts = ["lib", *helpers, name]
    return Script(name, "".join((LUA_DIR / f"{part}.lua").read_text() for part in parts))


PUSH = _read("push")
POP = _read("pop")
RELEASE = _read("release")
RENEW = _read("renew")
HEARTBEAT = _read("heartbeat")
STORE_ITEMS = _read("store_items", "item_records")
TRIM_ITEMS = _read("trim_items", "item_records")
MIGRATE = _read("migrate")
ROBOTS = _read("robots")
ALL = (PUSH, POP, RELEASE, RENEW, HEARTBEAT, STORE_ITEMS, TRIM_ITEMS, MIGRATE, ROBOTS)


async def load(client: Any) -> None:
    """Put every script in the server's script cache (one round trip)."""
    pipe = client.pipeline(transaction=False)
    for script in ALL:
        pipe.script_load(script.text)
    await pipe.execute()
