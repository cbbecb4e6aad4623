"""Where items go: the crawl's Redis item stream and the PostgreSQL item table."""
