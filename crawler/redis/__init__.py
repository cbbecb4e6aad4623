"""Redis infrastructure: clients from settings, the embedded server, key names."""
