"""Crawl-speed benchmarks: plain Scrapy, scrapy-redis and this project, side by side."""
