"""scrapy-redis's example spiders, unchanged in what matters (their classes, keys and
callbacks), pointed at the tests' local site."""
