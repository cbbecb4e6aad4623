"""A crawl node: the Scrapy scheduler, the loop that trades with the frontier, pacing,
robots.txt, the request codec, seeds, and the end-of-crawl rule."""
