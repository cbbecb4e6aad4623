"""Kept for the documented path: the pipeline lives in ``crawler.pipelines.postgres``."""
from crawler.pipelines.postgres import PostgresPipeline as PostgresPipeline
