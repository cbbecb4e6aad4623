"""Item pipelines adopters put in ``ITEM_PIPELINES``: the Redis item store and PostgreSQL."""
