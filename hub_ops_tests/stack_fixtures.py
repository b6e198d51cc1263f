"""pytest plugin: the local stack (filled in by the local-stack issue)."""
