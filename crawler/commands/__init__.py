"""The engine's ``scrapy`` commands: seed, status, export, reset (``COMMANDS_MODULE``)."""
