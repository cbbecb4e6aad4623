"""The documented path of the scheduler: ``SCHEDULER = "crawler.scheduler.RedisScheduler"``."""

from crawler.node.scheduler import RedisScheduler

__all__ = ["RedisScheduler"]
