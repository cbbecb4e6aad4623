"""Kept for the documented path: the pipeline lives in ``crawler.pipelines.redis_store``."""
from crawler.pipelines.redis_store import RedisItemStorePipeline as RedisItemStorePipeline
