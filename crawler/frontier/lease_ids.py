"""Lease ids as a node knows them: an entry leased in partition ``p`` > 0 is ``"<p>/<id>"``,
one of partition 0 its bare id (so a one-partition crawl's ids are unchanged). The scripts
of a partition only ever see bare ids; ``crawler.frontier.exchange`` adds and strips the
prefix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def tagged(partition: int, entry_id: str) -> str:
    """The node's name of the lease ``entry_id`` of ``partition``."""
    return entry_id if partition == 0 else f"{partition}/{entry_id}"


def split(name: str) -> tuple[int, str]:
    """The partition and the bare id of the lease the node calls ``name``."""
    head, slash, tail = name.partition("/")
    if slash and head.isdigit():
        return int(head), tail
    return 0, name


def by_partition(names: Iterable[str]) -> dict[int, list[str]]:
    """The bare ids of ``names``, by partition, in their order."""
    grouped: dict[int, list[str]] = {}
    for name in names:
        partition, bare = split(name)
        grouped.setdefault(partition, []).append(bare)
    return grouped


def pairs_by_partition(pairs: Iterable[tuple[str, T]]) -> dict[int, list[tuple[str, T]]]:
    """``(name, value)`` pairs as ``(bare id, value)``, by partition, in their order."""
    grouped: dict[int, list[tuple[str, T]]] = {}
    for name, value in pairs:
        partition, bare = split(name)
        grouped.setdefault(partition, []).append((bare, value))
    return grouped
