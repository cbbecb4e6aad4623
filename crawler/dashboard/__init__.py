"""``scrapy dashboard``: a read-only web page, JSON and Prometheus metrics of the crawls in
one Redis, served by Twisted (``server``), the metrics text built by ``metrics``."""
