"""A distributed Scrapy engine on one shared Redis frontier."""
