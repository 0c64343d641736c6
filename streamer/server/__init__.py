"""The one local port: auth, ingest, fan-out hub, HTTP, and the wire records."""
