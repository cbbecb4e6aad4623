"""Item pipelines: where scraped items go."""
