"""ARQ worker: settings and the thin task functions that call the services."""
