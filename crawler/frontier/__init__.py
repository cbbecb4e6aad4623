"""The frontier as Redis sees it: wire formats, fingerprint layouts, politeness
limits, and the Lua scripts (``lua/``) that change it atomically."""
