"""scrapy-redis 0.9.1's example-project/example/settings.py, as shipped (its own
pipeline left out; ``COMMANDS_MODULE`` added, as the README tells an adopter)."""

SPIDER_MODULES = ["redis_example.spiders"]
NEWSPIDER_MODULE = "redis_example.spiders"
COMMANDS_MODULE = "crawler.commands"

USER_AGENT = "scrapy-redis (+https://github.com/rolando/scrapy-redis)"

DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
SCHEDULER = "scrapy_redis.scheduler.Scheduler"
SCHEDULER_PERSIST = True

ITEM_PIPELINES = {
    "scrapy_redis.pipelines.RedisPipeline": 400,
}

LOG_LEVEL = "DEBUG"

DOWNLOAD_DELAY = 1
