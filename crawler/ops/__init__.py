"""The read-only operations side: the status model and seed files for commands."""
