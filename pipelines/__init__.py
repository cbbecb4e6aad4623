"""The bundled project's item pipelines: kept paths to ``crawler.pipelines``."""
